/**
 * A confined session's two ways out of its box, both Unix sockets in a directory of its own
 * (`<socket dir>/s/<session id>/`, 0700), which `broker run` binds into the box:
 *   session.sock — the broker, for this session only (session-socket.ts);
 *   proxy.sock   — the egress proxy: allowlisted hosts only, every connection audited.
 * Both close, and the directory goes, when the session ends.
 */
import type { Server } from "node:http";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExitsInjection } from "./exits-injection.js";
import type { AuditLog } from "../audit/audit-log.js";
import { egressDecider, egressHint } from "../egress/egress-allow.js";
import { startEgressProxy, type EgressProxy } from "../egress/forward-proxy.js";
import type { InjectionPlan } from "../egress/injection-handler.js";
import type { Policy } from "../policy/types.js";
import type { InjectedParts, PlaceholderValues } from "../sessions/session-injection.js";
import type { SessionCredentials, SessionView } from "../sessions/types.js";
import { listenSessionSocket, type SessionSocketLimits } from "./session-socket.js";

export interface SessionExits {
  dir: string;
  socket: string;
  proxy: string;
  /** Hosts the proxy refused so far, as `host:port`. */
  denied(): string[];
  /** With injection: the CA bundle file the box trusts (`ca.pem` in `dir`). */
  caBundle?: string;
  close(): Promise<void>;
}

export interface SessionExitsDeps {
  /** Where session directories go: beside the main socket, so they share its 0700 parent. */
  root: string;
  version: string;
  audit: AuditLog;
  /** The operator's own proxy, which the daemon's outbound connections go through (chaining). */
  upstreamProxy?: URL;
  /** The daemon's connection gate: a session socket's connections count against its total. */
  limits?: { gate: SessionSocketLimits["gate"]; perSession: number };
  /** The operator's extra CAs (PEM blocks): trusted for the proxy's upstream TLS, and by the boxes of injected sessions. */
  extraCas?: string[];
}

/** A placeholder the proxy caught where it does not belong (never a value). */
export interface LeakReport {
  credential: string;
  where: string;
  host: string;
}

export interface ExitsRequest {
  id: string;
  task: string;
  policy: Policy;
  /** The narrowed plan (the repositories an injected GitHub token may be used for). */
  plan: InjectionPlan;
  view(): SessionView;
  credentials(): SessionCredentials;
  /** A session whose credentials the proxy injects. */
  injection?: {
    parts: InjectedParts;
    placeholders: PlaceholderValues;
    /** The real values now (they change on refresh; the placeholders do not). */
    real(): SessionCredentials;
    onLeak(leak: LeakReport): void;
  };
}

export type OpenExits = (session: ExitsRequest) => Promise<SessionExits>;

const closeServer = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

export function sessionExitsOpener(deps: SessionExitsDeps): OpenExits {
  return async (session) => {
    mkdirSync(deps.root, { recursive: true, mode: 0o700 });
    const dir = join(deps.root, session.id);
    mkdirSync(dir, { mode: 0o700 });
    let server: Server | undefined;
    let proxy: EgressProxy | undefined;
    let injected: ExitsInjection | undefined;
    const close = async () => {
      await Promise.all([server ? closeServer(server) : undefined, proxy?.close()]);
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      const limits = deps.limits ? { gate: deps.limits.gate, scope: `session:${session.id}`, perPeer: deps.limits.perSession } : undefined;
      server = await listenSessionSocket(join(dir, "session.sock"), { version: deps.version, view: session.view, credentials: session.credentials }, limits);
      const { policy } = session;
      const extraCas = deps.extraCas ?? [];
      if (session.injection) {
        const { exitsInjection } = await import("./exits-injection.js");
        injected = await exitsInjection({ id: session.id, plan: session.plan, ...session.injection, extraCas });
        // Not a secret, but kept like the session's other files: 0600, and "wx" never follows a planted name.
        writeFileSync(join(dir, "ca.pem"), injected.caBundle, { mode: 0o600, flag: "wx" });
      }
      const decide = egressDecider({
        ...(policy.egress ? { egress: policy.egress } : {}),
        ...(policy.github ? { github: policy.github } : {}),
        ...(policy.aws ? { aws: policy.aws } : {}),
        ...(injected ? { injected: injected.hosts } : {}),
      });
      proxy = await startEgressProxy({
        socketPath: join(dir, "proxy.sock"),
        decide,
        denyHint: (host, port) => egressHint(session.task, host, port),
        audit: (entry) => deps.audit.write({ event: "egress", task: session.task, session: session.id, ...entry }),
        ...(deps.upstreamProxy ? { upstreamProxy: deps.upstreamProxy } : {}),
        ...(deps.limits ? { gate: deps.limits.gate } : {}),
        ...(injected ? { injection: injected.injection, ca: injected.ca } : {}),
        ...(extraCas.length > 0 ? { upstreamCa: extraCas } : {}),
      });
    } catch (error) {
      await close().catch(() => undefined);
      throw error;
    }
    const opened = proxy;
    return {
      dir,
      socket: join(dir, "session.sock"),
      proxy: join(dir, "proxy.sock"),
      denied: () => opened.denied().map((d) => `${d.host}:${d.port}`),
      ...(injected ? { caBundle: join(dir, "ca.pem") } : {}),
      close,
    };
  };
}

/** The proxy the operator's environment names for the daemon's own HTTPS, if any. */
export function upstreamProxyFrom(env: NodeJS.ProcessEnv): URL | undefined {
  const value = env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy;
  if (!value) return undefined;
  try {
    return new URL(value.includes("://") ? value : `http://${value}`);
  } catch {
    return undefined;
  }
}
