/** How `broker approvals` and `broker approve` show a waiting request: the daemon's summary and who asks. */
import type { PendingApproval } from "../client/broker-client.js";
import { formatDuration } from "../util/duration.js";

// eslint-disable-next-line no-control-regex -- the daemon sanitises already; a terminal is not trusted to it alone
const plain = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");

export function formatPending(p: PendingApproval): string {
  const s = p.summary;
  const repositories = s.repositories === null ? "all of the installation's" : s.repositories.length > 0 ? s.repositories.join(", ") : "-";
  const permissions = Object.entries(s.permissions).map(([k, v]) => `${k}=${v}`).join(", ") || "-";
  const who = p.requester;
  return [
    `${plain(p.id)}  task ${plain(p.task)}  (waits until ${plain(p.expiresAt)})`,
    `  why:          ${s.reasons.map(plain).join(", ")}`,
    `  providers:    ${s.providers.map(plain).join(", ") || "-"}`,
    `  repositories: ${plain(repositories)}`,
    `  permissions:  ${plain(permissions)}`,
    `  ttl:          ${formatDuration(s.ttlSeconds)}`,
    `  requester:    pid ${who.pid ?? "?"}  ${plain(who.executable ?? "?")}  in ${plain(who.cwd ?? "?")}`,
    ...(p.parentSession ? [`  inside:       session ${plain(p.parentSession)}`] : []),
    "",
  ].join("\n");
}
