/**
 * What every intercepted request passes before anything of it goes upstream, an HTTP request or a
 * WebSocket handshake alike: its Host must be its tunnel's (else a leak), then the session's
 * injection decides; a refusal is answered, audited and, for a leak, reported to the session.
 */
import type { EgressAuditEntry } from "./forward-proxy.js";
import type { InterceptedRequest, InterceptOutcome } from "./inject-types.js";
import type { InterceptTunnel } from "./intercept-request.js";
import { authorityMatches, HOST_MISMATCH, hostMismatchMessage } from "./intercept-upstream.js";

export type Refuse = (status: number, text: string, fields: Partial<EgressAuditEntry>) => void;
export type Accepted = Extract<InterceptOutcome, { ok: true }>;

const RULE_FAILED = "broker: the injection rule for this host failed\n";

/** The injection's accepted request, or undefined once `refuse` has answered. `line` loses its path when the path held a placeholder. */
export async function decideIntercepted(tunnel: InterceptTunnel, box: InterceptedRequest & { hostHeader: string | undefined }, line: EgressAuditEntry, refuse: Refuse): Promise<Accepted | undefined> {
  const { target, injection } = tunnel;
  if (!authorityMatches(box.hostHeader, target)) {
    injection.onLeak(HOST_MISMATCH(target.host));
    return void refuse(403, hostMismatchMessage(target), { reason: "leak (host-mismatch)" });
  }
  let outcome: InterceptOutcome;
  try {
    outcome = await injection.handle(box);
  } catch {
    return void refuse(502, RULE_FAILED, { outcome: "error", reason: "rule-failed" });
  }
  if (!outcome.ok) {
    const leak = outcome.leak;
    if (leak) injection.onLeak({ credential: leak.credential, where: leak.where, host: target.host });
    // A placeholder in the path is a value there: the line then names no path at all.
    if (leak?.where === "path") delete line.path;
    return void refuse(outcome.status, `${outcome.message}\n`, { reason: leak ? `leak (${leak.where})` : "refused by rule", ...(leak ? { rule: leak.credential } : {}) });
  }
  if (!outcome.path.startsWith("/")) return void refuse(502, RULE_FAILED, { outcome: "error", reason: "rule-failed" });
  return outcome;
}
