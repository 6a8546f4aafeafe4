/**
 * Revokes leases and records each outcome. A revocation that fails is retried in the background
 * with backoff until it succeeds or the credential has expired anyway; the journal keeps the lease
 * open until then, so a restarted daemon retries too.
 */
import type { AuditLog } from "../audit/audit-log.js";
import type { Logger } from "../daemon/logger.js";
import { isBrokerError } from "../errors.js";
import type { ProviderName, RevokeHandle, Revoker } from "../providers/provider.js";
import { isoTime } from "../util/iso-time.js";
import type { Journal } from "./journal.js";

export interface RevocationItem {
  lease: string;
  session: string;
  task: string | null;
  provider: ProviderName;
  fingerprint: string;
  expiresAt: number | null;
  handle: RevokeHandle | null;
}

export type RevocationOutcome = "revoked" | "not-revocable" | "expired" | "retrying";

export interface RevocationDeps {
  revokers: Partial<Record<ProviderName, Revoker>>;
  journal: Journal;
  audit: AuditLog;
  logger: Logger;
  now: () => number;
  /** First retry delay; doubles each time up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface RevocationQueue {
  /** Makes one attempt now and returns its outcome; on failure keeps retrying in the background. */
  revoke(item: RevocationItem, event?: "revoke" | "recover"): Promise<RevocationOutcome>;
  /** Leases still waiting for a successful revocation. */
  pending(): number;
  /** Stops background retries (the journal keeps the leases for the next start). */
  stop(): void;
}

export function createRevocationQueue(deps: RevocationDeps): RevocationQueue {
  const base = deps.baseDelayMs ?? 1000;
  const max = deps.maxDelayMs ?? 30_000;
  const retries = new Map<string, NodeJS.Timeout>();

  function finish(item: RevocationItem, outcome: RevocationOutcome, event: "revoke" | "recover", extra = {}): void {
    // Lost in an OS crash, it would only have recovery revoke again what is already dead (GitHub answers 401; fine).
    deps.journal.appendUnsynced({ t: "lease-end", lease: item.lease, outcome });
    const validUntil = item.expiresAt === null ? null : isoTime(item.expiresAt);
    deps.audit.write({ event, task: item.task, session: item.session, outcome, provider: item.provider, credential: item.fingerprint, ...(outcome === "not-revocable" ? { validUntil, note: "cannot be revoked upstream; valid until its expiry" } : {}), ...extra });
  }

  async function attempt(item: RevocationItem, event: "revoke" | "recover", tries: number): Promise<RevocationOutcome> {
    const revoker = deps.revokers[item.provider];
    if (!item.handle || !revoker) {
      finish(item, "not-revocable", event);
      return "not-revocable";
    }
    if (item.expiresAt !== null && item.expiresAt <= deps.now()) {
      finish(item, "expired", event);
      return "expired";
    }
    try {
      await revoker(item.handle);
      retries.delete(item.lease);
      finish(item, "revoked", event, tries > 0 ? { attempts: tries + 1 } : {});
      return "revoked";
    } catch (error) {
      const code = isBrokerError(error) ? error.code : "ERR_INTERNAL";
      const delay = Math.min(max, base * 2 ** tries);
      deps.logger.log("warn", "revocation failed; will retry", { lease: item.lease, provider: item.provider, credential: item.fingerprint, code, retryInMs: delay });
      deps.audit.write({ event, task: item.task, session: item.session, outcome: "failed", provider: item.provider, credential: item.fingerprint, code, retryInMs: delay });
      const timer = setTimeout(() => void attempt(item, event, tries + 1), delay);
      timer.unref();
      retries.set(item.lease, timer);
      return "retrying";
    }
  }

  return {
    revoke: (item, event = "revoke") => attempt(item, event, 0),
    pending: () => retries.size,
    stop() {
      for (const timer of retries.values()) clearTimeout(timer);
      retries.clear();
    },
  };
}
