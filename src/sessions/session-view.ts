/** What the socket API shows of a session (docs/interface.md "Socket API"), from its live leases. */
import type { ProviderName } from "../providers/provider.js";
import { isoTime } from "../util/iso-time.js";
import { boxCredentials } from "./session-injection.js";
import type { Session } from "./session-manager.js";
import type { SessionCredentials, SessionView } from "./types.js";

/** The session's credentials as every answer and the box see them: placeholders for injected ones. */
export function sessionCredentials(session: Session): SessionCredentials {
  const real = realCredentials(session);
  return session.injection ? boxCredentials(real, session.injection, isoTime(session.expiresAt)) : real;
}

/** The real values, for the daemon's own use only (the egress proxy's injection). */
export function realCredentials(session: Pick<Session, "leases">): SessionCredentials {
  const get = <T>(name: ProviderName) => session.leases.get(name)?.lease.credentials as T | undefined;
  const aws = get<SessionCredentials["aws"]>("aws");
  const github = get<SessionCredentials["github"]>("github");
  return { ...(aws ? { aws } : {}), ...(github ? { github } : {}), env: get<Record<string, string>>("env") ?? {} };
}

export function sessionView(session: Session, withCredentials: boolean): SessionView {
  const { exits, policy } = session;
  return {
    id: session.id,
    task: session.task,
    createdAt: isoTime(session.createdAt),
    expiresAt: isoTime(session.expiresAt),
    ...(session.sandbox ? { sandbox: { dir: session.sandbox.dir, path: session.sandbox.path, files: session.sandbox.files } } : {}),
    ...(exits
      ? {
          confinement: {
            dir: exits.dir,
            socket: exits.socket,
            proxy: exits.proxy,
            hide: [...session.hide, ...policy.sandbox.hide],
            write: policy.sandbox.write,
            passEnv: policy.sandbox.passEnv,
            denied: exits.denied(),
            ...(exits.caBundle !== undefined ? { caBundle: exits.caBundle } : {}),
            ...(session.injection && session.injection.leaks.length > 0 ? { leaks: [...session.injection.leaks] } : {}),
          },
        }
      : {}),
    ...(withCredentials ? { credentials: sessionCredentials(session) } : {}),
  };
}
