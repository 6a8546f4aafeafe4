/**
 * Ends sessions by id, a bounded number at a time, for `broker revoke` (one DELETE each, against
 * a daemon without the bulk route) and for the daemon's bulk route itself. A session already
 * gone, when `gone` says so, counts as neither ended nor failed: ending it was what was asked.
 */

/** Runs `end` over `ids`, `inFlight` at a time; returns the ids it ended in their order; after a failure it starts no more and throws it. */
export async function endEach(ids: readonly string[], inFlight: number, end: (id: string) => Promise<void>, gone: (error: unknown) => boolean): Promise<string[]> {
  const ended = new Array<boolean>(ids.length).fill(false);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (failures.length === 0 && next < ids.length) {
      const i = next++;
      try {
        await end(ids[i]!);
        ended[i] = true;
      } catch (error) {
        if (!gone(error)) failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, ids.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return ids.filter((_, i) => ended[i]);
}
