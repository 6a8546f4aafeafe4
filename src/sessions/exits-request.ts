/**
 * What the daemon hands the opener of a confined session's exits (its socket and egress proxy):
 * the views to answer with and, for an injected session, the placeholders, the real values
 * behind them and what to do when the proxy catches a placeholder where it does not belong.
 */
import type { AuditLog } from "../audit/audit-log.js";
import type { ExitsRequest, LeakReport } from "../daemon/session-exits.js";
import type { Session } from "./session.js";
import { realCredentials, sessionCredentials, sessionView } from "./session-view.js";

/** Enough for a summary line; a command that keeps trying is refused all the same. */
const MAX_LEAKS_KEPT = 100;

export function exitsRequest(session: Session, audit: AuditLog, endForLeak: (id: string) => Promise<void>): ExitsRequest {
  const { injection, policy } = session;
  const onLeak = (leak: LeakReport): void => {
    const ends = policy.onLeak !== "deny";
    // Which credential, where and to which host; never a value, the placeholder included.
    const credential = leak.credential === "" ? {} : { credential: leak.credential };
    audit.write({ event: "leak", task: session.task, session: session.id, outcome: ends ? "session-ended" : "denied", ...credential, where: leak.where, host: leak.host });
    const said = leak.credential === "" ? `a ${leak.where === "sni" ? "TLS handshake (SNI)" : "request"} naming another host than ${leak.host}, its tunnel's` : `${leak.credential} in the ${leak.where} to ${leak.host}`;
    if (injection && injection.leaks.length < MAX_LEAKS_KEPT) injection.leaks.push(said);
    if (ends && !session.ending) void endForLeak(session.id).catch(() => undefined);
  };
  return {
    id: session.id,
    task: session.task,
    policy,
    plan: session.plan,
    view: () => sessionView(session, false),
    credentials: () => sessionCredentials(session),
    ...(injection ? { injection: { parts: injection.parts, placeholders: injection.placeholders, real: () => realCredentials(session), onLeak } } : {}),
  };
}
