/**
 * Crash recovery, run before the daemon accepts a request: every session a previous process left
 * open is ended (its files removed), every lease not yet revoked is revoked, each audited as
 * `recover`; then the journal is compacted to the leases still waiting for revocation.
 */
import { isBrokerError } from "../errors.js";
import type { JournalRecord, Rejected } from "./journal.js";
import { LiveRecords, type LeaseRecord } from "./live-records.js";
import type { SessionManagerDeps } from "./session-manager.js";

export type RecoverDeps = Pick<SessionManagerDeps, "journal" | "cipher" | "revocation" | "sandbox" | "audit" | "logger">;

export interface RecoverResult {
  sessions: number;
  leases: number;
  retrying: number;
}

export async function recoverFromJournal(records: JournalRecord[], deps: RecoverDeps, rejected: Rejected = { lines: 0, first: null }): Promise<RecoverResult> {
  if (rejected.lines > 0) {
    // Whole lines the journal key does not vouch for (forged, or from before journal lines were
    // authenticated): never acted on; the rewrite below drops them. What they say is not repeated.
    deps.audit.write({ event: "recover", task: null, session: null, outcome: "rejected", reason: "unauthenticated", lines: rejected.lines, firstLine: rejected.first });
    deps.logger.log("warn", "the journal held lines that fail their MAC; skipped them", { lines: rejected.lines, firstLine: rejected.first });
  }
  const { sessions: open, leases } = new LiveRecords(records);
  const taskOf = (session: string) => open.get(session)?.task ?? null;

  // Revocations go out first (they wait on the network), files are removed meanwhile.
  const retrying: LeaseRecord[] = [];
  const revoked = Promise.all(
    [...leases.values()].map(async (l) => {
      let handle = null;
      if (l.handle) {
        try {
          handle = await deps.cipher.open(l.handle);
        } catch {
          deps.audit.write({ event: "recover", task: taskOf(l.session), session: l.session, outcome: "undecryptable", provider: l.provider, credential: l.fingerprint });
          return;
        }
      }
      const item = { lease: l.lease, session: l.session, task: taskOf(l.session), provider: l.provider, fingerprint: l.fingerprint, expiresAt: l.expiresAt, handle };
      if ((await deps.revocation.revoke(item, "recover")) === "retrying") retrying.push(l);
    }),
  );

  const closed = Promise.all(
    [...open.values()].map(async (s) => {
      if (s.sandbox) {
        await deps.sandbox.removeLeftovers(s.sandbox, s.session).catch((error: unknown) =>
          deps.logger.log("error", "removing a dead session's files failed", { session: s.session, code: isBrokerError(error) ? error.code : "ERR_INTERNAL" }),
        );
      }
      deps.audit.write({ event: "recover", task: s.task, session: s.session, outcome: "closed", ...(s.sandbox ? { sandbox: s.sandbox.dir } : {}) });
    }),
  );

  await Promise.all([revoked, closed]);

  await deps.journal.rewrite(retrying);
  if (open.size > 0 || leases.size > 0) {
    deps.logger.log("info", "recovered from the journal", { sessions: open.size, leases: leases.size, retrying: retrying.length });
  }
  return { sessions: open.size, leases: leases.size, retrying: retrying.length };
}
