/**
 * Minting a session's leases from every provider its plan uses, journaling each one before it is
 * handed out, working out when a lease must be refreshed, and handing leases to revocation.
 */
import { randomUUID } from "node:crypto";
import type { Lease, MintRequest, Provider, ProviderName } from "../providers/provider.js";
import type { HandleCipher } from "./handle-cipher.js";
import type { Journal, JournalRecord } from "./journal.js";
import type { RevocationQueue } from "./revocation.js";

export interface LiveLease {
  id: string;
  provider: ProviderName;
  lease: Lease<unknown>;
  mintedAt: number;
  /** Handed out at open to a client that puts it in a process's environment, where no refresh reaches it. */
  inEnv?: boolean;
}

/**
 * Upstreams report expiry in whole seconds (STS truncates) from clocks a few seconds off ours: a
 * credential that ends this little before its session covers the session.
 */
export const EXPIRY_SLACK_MS = 5_000;

/** How long before expiry a lease is refreshed: five minutes, or a third of a short lifetime. */
export function refreshMargin(lease: LiveLease): number | null {
  if (lease.lease.expiresAt === null) return null;
  return Math.min(5 * 60_000, (lease.lease.expiresAt - lease.mintedAt) / 3);
}

export function refreshAt(lease: LiveLease): number | null {
  const margin = refreshMargin(lease);
  return margin === null ? null : lease.lease.expiresAt! - margin;
}

/**
 * A lease is refreshed only when, at its refresh moment, the session has more than the refresh
 * margin (and the rounding slack) left to run, that is, when the session lasts beyond the old
 * credential. Otherwise the new credential's only use would be after the session's end.
 */
export function needsRefresh(lease: LiveLease, sessionExpiresAt: number): boolean {
  const margin = refreshMargin(lease);
  if (margin === null) return false;
  return sessionExpiresAt - (lease.lease.expiresAt! - margin) > margin + EXPIRY_SLACK_MS;
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

/** Hands every lease to the revocation queue (which records each outcome) and waits for all. */
export async function revokeLeases(revocation: RevocationQueue, session: { id: string; task: string }, leases: Iterable<LiveLease>): Promise<void> {
  await Promise.all(
    [...leases].map((l) => revocation.revoke({ lease: l.id, session: session.id, task: session.task, provider: l.provider, fingerprint: l.lease.fingerprint, expiresAt: l.lease.expiresAt, handle: l.lease.revoke })),
  );
}
