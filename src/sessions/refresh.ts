/**
 * Refresh: a lease that would expire before its session ends is replaced ahead of time. The new
 * one is journaled, files are rewritten, and then the old one is revoked, unless it is still in
 * a process's environment: then it is revoked at its own expiry or the session's end. A failed
 * refresh is retried until the old lease expires.
 */
import type { AuditLog } from "../audit/audit-log.js";
import type { Logger } from "../daemon/logger.js";
import { isBrokerError } from "../errors.js";
import type { Provider } from "../providers/provider.js";
import type { Budget } from "./budget.js";
import type { HandleCipher } from "./handle-cipher.js";
import type { Journal } from "./journal.js";
import { isoTime } from "../util/iso-time.js";
import { keepAfterRefresh } from "./env-delivery.js";
import { journalLeases, mintOne, needsRefresh, refreshAt, type LiveLease } from "./leases.js";
import type { Session } from "./session-manager.js";

export interface RefreshDeps {
  providers: Provider[];
  journal: Journal;
  cipher: HandleCipher;
  audit: AuditLog;
  logger: Logger;
  now: () => number;
  /** Counts each credential a refresh mints (never refuses one: budget.ts says why). */
  budget?: Budget;
  isLive(session: Session): boolean;
  rewriteFiles(session: Session): Promise<void>;
  release(session: Session, lease: LiveLease): Promise<void>;
  /** Tells the session's holder of the fresh lease and waits for it (its masker) to take it in. */
  announce(session: Session, fresh: LiveLease): Promise<void>;
}

const RETRY_MS = 5_000;

export function scheduleRefresh(session: Session, lease: LiveLease, deps: RefreshDeps): void {
  const at = refreshAt(lease);
  if (at === null || !needsRefresh(lease, session.expiresAt)) return;
  arm(session, Math.max(0, at - deps.now()), () => refresh(session, lease, deps));
}

function arm(session: Session, ms: number, run: () => Promise<void>): void {
  const timer = setTimeout(() => {
    session.timers.delete(timer);
    void run();
  }, ms);
  session.timers.add(timer);
}

async function refresh(session: Session, old: LiveLease, deps: RefreshDeps): Promise<void> {
  const provider = deps.providers.find((p) => p.name === old.provider);
  if (!provider || !deps.isLive(session)) return;
  let fresh: LiveLease;
  try {
    fresh = await mintOne(provider, { sessionId: session.id, plan: session.plan, sessionExpiresAt: session.expiresAt }, deps.now);
    deps.budget?.countRefresh(session.policy);
    await journalLeases(deps.journal, deps.cipher, session.id, [fresh]);
  } catch (error) {
    const code = isBrokerError(error) ? error.code : "ERR_INTERNAL";
    deps.audit.write({ event: "refresh", task: session.task, session: session.id, outcome: "failed", provider: old.provider, code });
    deps.logger.log("warn", "refresh failed; will retry", { session: session.id, provider: old.provider, code });
    if (deps.isLive(session) && old.lease.expiresAt !== null && old.lease.expiresAt > deps.now() + RETRY_MS) {
      arm(session, RETRY_MS, () => refresh(session, old, deps));
    }
    return;
  }
  // Before the lease is visible (session socket, files, credentials route): `broker run` masks it
  // from the first byte the command could print.
  await deps.announce(session, fresh);
  if (!deps.isLive(session)) {
    await deps.release(session, fresh);
    return;
  }
  session.leases.set(fresh.provider, fresh);
  try {
    await deps.rewriteFiles(session);
  } catch (error) {
    deps.logger.log("error", "rewriting sandbox files on refresh failed", { session: session.id, code: isBrokerError(error) ? error.code : "ERR_INTERNAL" });
  }
  const keep = keepAfterRefresh(old);
  deps.audit.write({
    event: "refresh",
    task: session.task,
    session: session.id,
    outcome: "ok",
    provider: fresh.provider,
    credential: fresh.lease.fingerprint,
    replaces: old.lease.fingerprint,
    validUntil: fresh.lease.expiresAt === null ? null : isoTime(fresh.lease.expiresAt),
    ...fresh.lease.audit,
    ...(keep ? { replacedKeptUntil: isoTime(old.lease.expiresAt!), note: "the replaced credential is in a command's environment: revoked at its own expiry or the session's end" } : {}),
  });
  if (keep) keepUntilExpiry(session, old, deps);
  else await deps.release(session, old);
  scheduleRefresh(session, fresh, deps);
}

/** Holds a replaced lease until it expires (then releases it, which audits `expired`); the session's end releases it sooner. */
function keepUntilExpiry(session: Session, lease: LiveLease, deps: RefreshDeps): void {
  session.replaced.add(lease);
  arm(session, Math.max(0, lease.lease.expiresAt! - deps.now()), async () => {
    if (!session.replaced.delete(lease)) return;
    await deps.release(session, lease);
  });
}
