/**
 * A confined session's egress proxy: HTTP/1.1 forward proxy on a Unix socket (which the box
 * reaches through its bridge). `CONNECT host:port` opens a tunnel whose TLS ClientHello must name
 * the same host; absolute-form `http://` requests are forwarded whose Host matches their target.
 * Anything the session's rules do not allow is a 403 naming the host and the line to add. Every
 * connection is audited once it ends: host, port, outcome, bytes, never payloads.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Agent } from "node:https";
import type { Socket } from "node:net";
import type { EgressDecision } from "./egress-allow.js";
import { checkedTarget, defaultLookup, parseAuthority, resolveTarget, type Lookup, type Target } from "./egress-target.js";
import { forwardRequest } from "./forward-request.js";
import type { Injection } from "./inject-types.js";
import { createUpstreamAgent } from "./intercept-upstream.js";
import { openTunnel } from "./open-tunnel.js";
import type { SessionCa } from "./session-ca.js";

export interface EgressAuditEntry {
  host: string;
  port: number;
  method: string;
  outcome: "ok" | "denied" | "error";
  reason?: string;
  bytesIn: number;
  bytesOut: number;
  /** Set on the lines of intercepted tunnels (one per request): never a value, nor a placeholder. */
  intercepted?: true;
  /** The request's path, query values dropped (`/x?service=`). */
  path?: string;
  /** The injection rule applied ("github", "env:OPENAI_API_KEY"), or the credential whose placeholder leaked. */
  rule?: string;
  /** The real credential's fingerprint. */
  fingerprint?: string;
  /** The status the box was answered. */
  status?: number;
}

export interface EgressProxyOptions {
  socketPath: string;
  decide(host: string, port: number): EgressDecision;
  denyHint(host: string, port: number): string;
  audit(entry: EgressAuditEntry): void;
  lookup?: Lookup;
  /** The operator's own proxy: the daemon's outbound connections go through it. */
  upstreamProxy?: URL;
  connectTimeoutMs?: number;
  /** The daemon's connection gate: each proxy connection takes 2 places of its total (client and upstream). */
  gate?: { acquire(weight: number): (() => void) | null };
  /** The session's injection: its hosts' TLS is terminated with `ca` and each request handed to it. */
  injection?: Injection;
  ca?: SessionCa;
  /** PEM certificates trusted for intercepted upstream TLS besides the system roots (--upstream-ca). */
  upstreamCa?: string[];
}

export interface EgressProxy {
  close(): Promise<void>;
  denied(): Array<{ host: string; port: number }>;
}

export interface ProxyContext {
  options: EgressProxyOptions;
  lookup: Lookup;
  /** Records a refusal (audit, the denied list) and returns the body to answer with. */
  deny(target: Target, method: string, reason: string): string;
  /** Checks a target; on refusal records it and returns the answer to give. */
  admit(target: Target, method: string): Promise<{ ok: true; address: string } | { ok: false; status: number; body: string; reason: string }>;
  /** The pool of intercepted tunnels' upstream connections, made on first use. */
  interceptAgent(): Agent;
}

const MAX_DENIED = 1000;
const MAX_CONNECTIONS = 256;

export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const denied = new Map<string, { host: string; port: number }>();
  const open = new Set<Socket>();
  let agent: Agent | undefined;
  const context: ProxyContext = {
    interceptAgent: () => (agent ??= createUpstreamAgent({ ...(options.upstreamCa ? { upstreamCa: options.upstreamCa } : {}), ...(options.gate ? { gate: options.gate } : {}) })),
    options,
    lookup: options.lookup ?? defaultLookup,
    deny(target, method, reason) {
      const key = `${target.host}:${target.port}`;
      if (!denied.has(key) && denied.size < MAX_DENIED) denied.set(key, target);
      options.audit({ host: target.host, port: target.port, method, outcome: "denied", reason, bytesIn: 0, bytesOut: 0 });
      return `broker: egress to ${key} refused (${reason}); ${options.denyHint(target.host, target.port)}\n`;
    },
    async admit(target, method) {
      const refuse = (status: number, reason: string) => ({ ok: false as const, status, reason, body: context.deny(target, method, reason) });
      const decision = options.decide(target.host, target.port);
      if (!decision.allowed) return refuse(403, "not in egress");
      // Behind the operator's proxy, names are its to resolve; an IP literal is still checked.
      const resolved = options.upstreamProxy && !/^[\d.]+$|:/.test(target.host) ? { ok: true as const, address: target.host } : await resolveTarget(target, decision, context.lookup);
      if (!resolved.ok) {
        if (resolved.status === 403) return refuse(403, resolved.reason);
        options.audit({ host: target.host, port: target.port, method, outcome: "error", reason: resolved.reason, bytesIn: 0, bytesOut: 0 });
        return { ok: false, status: 502, reason: resolved.reason, body: `broker: ${target.host}:${target.port} ${resolved.reason}\n` };
      }
      return resolved;
    },
  };

  /** Connections over the gate's cap: answered 503 and closing; what they send is not acted on. */
  const refused = new WeakSet<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (refused.has(req.socket)) return void res.destroy();
    const url = parseAbsolute(req.url ?? "");
    if (!url) return answer(res, 400, "broker: send absolute-form http:// requests, or CONNECT host:port for TLS\n");
    void forwardRequest(context, req, res, url);
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // long downloads and uploads through the proxy
  server.keepAliveTimeout = 5_000;
  // One box's share of the daemon's descriptors: a runaway command cannot starve the others.
  server.maxConnections = MAX_CONNECTIONS;
  server.on("connection", (socket: Socket) => {
    // Counted with every other connection the daemon holds, so boxes cannot take the descriptors revocation needs.
    const release = options.gate?.acquire(2);
    if (release === null) {
      refused.add(socket);
      socket.on("error", () => undefined);
      return rawAnswer(socket, 503, "broker: the daemon is at its limit of connections; retry shortly\n");
    }
    open.add(socket);
    socket.once("close", () => {
      open.delete(socket);
      release?.();
    });
  });
  server.on("connect", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on("error", () => undefined);
    if (refused.has(socket)) return void socket.destroy();
    const target = parseAuthority(req.url ?? "");
    if (!target) return rawAnswer(socket, 400, "broker: CONNECT needs host:port\n");
    void openTunnel(context, target, socket, head).catch(() => socket.destroy());
  });
  server.on("clientError", (_error, socket: Socket) => rawAnswer(socket, 400, "broker: not a valid HTTP/1.1 proxy request\n"));

  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  let closing: Promise<void> | null = null;
  return {
    denied: () => [...denied.values()],
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
        agent?.destroy();
      });
      return closing;
    },
  };
}

function parseAbsolute(raw: string): (Target & { path: string; hostHeader: string }) | null {
  if (!/^http:\/\//i.test(raw)) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  const target = checkedTarget(url.hostname, url.port ? Number(url.port) : 80);
  return target ? { ...target, path: `${url.pathname}${url.search}`, hostHeader: url.host } : null;
}

export function answer(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body), connection: "close" }).end(body);
}

export function rawAnswer(socket: Socket, status: number, body: string): void {
  const reason = { 400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" }[status] ?? "Error";
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  else socket.destroy();
}
