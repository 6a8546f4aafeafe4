/**
 * `DELETE /v1/sessions?task=T` or `?all=1` (what `broker revoke --task T | --all` sends): the
 * chosen live sessions are ended inside the daemon, a bounded number at a time, instead of one
 * request and connection per session. Each ends as `DELETE /v1/sessions/{id}` would end it.
 */
import { isBrokerError } from "../errors.js";
import type { SessionManager } from "../sessions/session-manager.js";
import type { Session } from "../sessions/session.js";

/** Sessions ended at once: their revocations' upstream calls come in bursts no larger than this. */
const IN_FLIGHT = 64;

/** Ends `chosen`, answering with the ids it ended in their order; after a failure it starts no more and throws it. */
export async function endSessions(sessions: SessionManager, chosen: readonly Session[]): Promise<string[]> {
  const ids = chosen.map((s) => s.id);
  const ended = new Array<boolean>(ids.length).fill(false);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (failures.length === 0 && next < ids.length) {
      const i = next++;
      try {
        await sessions.end(ids[i]!, "close");
        ended[i] = true;
      } catch (error) {
        // A session that ended on its own since it was chosen is already what was asked.
        if (!(isBrokerError(error) && error.code === "ERR_SESSION_NOT_FOUND")) failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, ids.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return ids.filter((_, i) => ended[i]);
}
