/**
 * `DELETE /v1/sessions?task=T` or `?all=1` (what `broker revoke --task T | --all` sends): the
 * chosen live sessions are ended inside the daemon, a bounded number at a time, instead of one
 * request and connection per session. Each ends as `DELETE /v1/sessions/{id}` would end it.
 */
import { isBrokerError } from "../errors.js";
import type { SessionManager } from "../sessions/session-manager.js";
import type { Session } from "../sessions/session.js";
import { endEach } from "../util/end-each.js";

/** Sessions ended at once: their revocations' upstream calls come in bursts no larger than this. */
const IN_FLIGHT = 64;

/** Ends `chosen`, answering with the ids it ended in their order; a session that ended on its own meanwhile is skipped. */
export function endSessions(sessions: SessionManager, chosen: readonly Session[]): Promise<string[]> {
  const gone = (error: unknown) => isBrokerError(error) && error.code === "ERR_SESSION_NOT_FOUND";
  return endEach(chosen.map((s) => s.id), IN_FLIGHT, (id) => sessions.end(id, "close"), gone);
}
