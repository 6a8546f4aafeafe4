/**
 * Minting a session's leases from every provider its plan uses, journaling each one before it is
 * handed out, and working out when a lease must be refreshed.
 */
import { randomUUID } from "node:crypto";
import type { Lease, MintRequest, Provider, ProviderName } from "../providers/provider.js";
import type { HandleCipher } from "./handle-cipher.js";
import type { Journal, JournalRecord } from "./journal.js";

export interface LiveLease {
  id: string;
  provider: ProviderName;
  lease: Lease<unknown>;
  mintedAt: number;
}

/** Refresh five minutes before expiry, or at two thirds of a short lifetime. */
export function refreshAt(lease: LiveLease): number | null {
  if (lease.lease.expiresAt === null) return null;
  const lifetime = lease.lease.expiresAt - lease.mintedAt;
  return lease.lease.expiresAt - Math.min(5 * 60_000, lifetime / 3);
}

export async function mintOne(provider: Provider, request: MintRequest, now: () => number): Promise<LiveLease> {
  const lease = (await provider.mint(request)) as Lease<unknown>;
  return { id: randomUUID(), provider: provider.name, lease, mintedAt: now() };
}

/**
 * Mints from every provider at once. If any fails, the ones that succeeded are returned in
 * `minted` so the caller can revoke them; nothing is journaled for a failed open.
 */
export async function mintAll(providers: Provider[], request: MintRequest, now: () => number): Promise<{ minted: LiveLease[]; error?: unknown }> {
  if (providers.length === 1) {
    // Most tasks use one provider: no allSettled bookkeeping for every session.
    try {
      return { minted: [await mintOne(providers[0]!, request, now)] };
    } catch (error) {
      return { minted: [], error };
    }
  }
  const results = await Promise.allSettled(providers.map((p) => mintOne(p, request, now)));
  const minted = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  return failed ? { minted, error: failed.reason } : { minted };
}

/** A lease's journal record; `handle` is its revoke handle, sealed. */
function leaseRecord(session: string, lease: LiveLease, handle?: string): JournalRecord {
  const { fingerprint, expiresAt } = lease.lease;
  return { t: "lease", session, lease: lease.id, provider: lease.provider, fingerprint, expiresAt, ...(handle !== undefined ? { handle } : {}) };
}

/**
 * Journals leases before they are handed out. A revocable lease must be found again after any
 * crash: its handle is sealed and the records fsynced, and the promise returned says when. The
 * rest (env, STS) recovery can only audit: their records are queued at once and nothing is
 * returned, so the common session waits on no promise here.
 */
export function journalLeases(journal: Journal, cipher: HandleCipher, session: string, leases: LiveLease[]): Promise<void> | undefined {
  if (leases.some((l) => l.lease.revoke !== null)) return journalRevocable(journal, cipher, session, leases);
  if (leases.length > 0) journal.appendUnsynced(...leases.map((l) => leaseRecord(session, l)));
  return undefined;
}

async function journalRevocable(journal: Journal, cipher: HandleCipher, session: string, leases: LiveLease[]): Promise<void> {
  const records = await Promise.all(leases.map(async (l) => leaseRecord(session, l, l.lease.revoke ? await cipher.seal(l.lease.revoke) : undefined)));
  await journal.append(...records);
}
