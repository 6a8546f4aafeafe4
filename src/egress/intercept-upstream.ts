/**
 * The upstream half of an intercepted request: real TLS to the admitted address, verified against
 * the system roots plus the operator's extra CAs (never skipped), with SNI and the certificate
 * checked for the host the box asked for. Connections are pooled per proxy, and each one takes a
 * place in the daemon's connection gate as the tunnel's own upstream connection would have.
 */
import { Agent, type RequestOptions } from "node:https";
import { isIP, type Socket } from "node:net";
import { checkServerIdentity, createSecureContext, type PeerCertificate } from "node:tls";
import { systemRoots } from "./upstream-trust.js";
import type { Duplex } from "node:stream";
import { normaliseHost } from "./egress-allow.js";
import type { Target } from "./egress-target.js";

/** Headers that describe one hop, or exist only in HTTP/2: never passed on either way. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "host",
]);

export type Headers = Record<string, string | string[]>;

export interface UpstreamOptions {
  upstreamCa?: string[];
  gate?: { acquire(weight: number): (() => void) | null };
  /** Pooled upstream connections per proxy, all hosts together. */
  maxSockets?: number;
}

/** The buffer of each intercepted stream (the box's TLS socket, the upstream one). */
export const STREAM_HIGH_WATER_MARK = 256 * 1024;

/** The keep-alive pool of one proxy's intercepted upstream connections. */
export function createUpstreamAgent(options: UpstreamOptions): Agent {
  // One secure context, made once: given as `ca`, the ~150 roots were joined into the agent's pool
  // key on every request (https.Agent.getName) and parsed again for every new connection.
  const secureContext = createSecureContext({ ca: [...systemRoots(), ...(options.upstreamCa ?? [])] });
  const gate = options.gate;
  const agent = new Agent({ keepAlive: true, secureContext, maxTotalSockets: options.maxSockets ?? 32, maxSockets: options.maxSockets ?? 32, scheduling: "lifo" });
  if (gate) {
    const create = agent.createConnection.bind(agent);
    // Counted as every other connection the daemon holds; over the gate's cap the request fails (502), no socket is opened.
    agent.createConnection = ((connectOptions: RequestOptions, callback: (error: Error | null, socket?: Duplex) => void) => {
      const release = gate.acquire(1);
      if (release === null) {
        callback(Object.assign(new Error("the daemon is at its limit of connections"), { code: "EGATE" }));
        return undefined;
      }
      const socket = create(connectOptions, callback) as Socket;
      socket.once("close", release);
      return socket;
    }) as typeof agent.createConnection;
  }
  return agent;
}

/** Where one intercepted request goes: the checked address, the host's name for SNI and for the certificate. */
export function upstreamTarget(target: Target, address: string): RequestOptions & { highWaterMark: number } {
  const name = isIP(target.host) === 0;
  return {
    host: address,
    port: target.port,
    ...(name ? { servername: target.host } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(target.host, cert),
    // Passed on to the TLS socket the agent makes: with the default 16 KiB a body paused at every record.
    highWaterMark: STREAM_HIGH_WATER_MARK,
  };
}

/** The Host the upstream sees: always the tunnel's own target, whatever a rule or the box put there. */
export function authority(target: Target): string {
  const host = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
  return target.port === 443 ? host : `${host}:${target.port}`;
}

/** Headers without hop-by-hop, HTTP/2 pseudo- and HTTP/2-only ones. */
export function endToEnd(headers: Record<string, string | string[] | number | undefined>): Headers {
  const kept: Headers = {};
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((n) => n.trim().toLowerCase()),
  );
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = typeof value === "number" ? String(value) : value;
  }
  return kept;
}

/** A request's path for the audit line: query values dropped, names kept (`/x?service=`); never a value. */
export function auditPath(path: string): string {
  const at = path.indexOf("?");
  const base = at < 0 ? path : path.slice(0, at);
  const names = at < 0 ? [] : path.slice(at + 1).split("&").map((pair) => pair.split("=")[0]!);
  const shown = names.length > 0 ? `${base}?${names.map((n) => `${n}=`).join("&")}` : base;
  return shown.length > 200 ? `${shown.slice(0, 200)}…` : shown;
}

/** Whether a Host (or :authority) names the tunnel's target; else a rule's credential could go to another virtual host. */
/**
 * A request that names another host than its tunnel's (domain fronting behind one address) would
 * carry the rule's credential to a host the rule is not for: a leak, like a placeholder out of place.
 */
export const HOST_MISMATCH = (host: string) => ({ credential: "", where: "host", host });

export function hostMismatchMessage(target: Target): string {
  return `broker: refused: this connection is for ${authority(target)}, and a request naming another host is taken for an exfiltration attempt\n`;
}

export function authorityMatches(value: string | undefined, target: Target): boolean {
  if (value === undefined) return false;
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(value.trim().toLowerCase());
  if (!match) return false;
  return normaliseHost(match[1]!) === target.host && (match[2] ? Number(match[2]) : 443) === target.port;
}
