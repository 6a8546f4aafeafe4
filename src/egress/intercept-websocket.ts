/**
 * A WebSocket upgrade on an intercepted tunnel (HTTP/1.1 `Upgrade: websocket`): the handshake
 * request goes through the injection handler like any other, then upstream over verified TLS;
 * once upstream answers 101 the two sockets are joined and frames pass through untouched.
 * Other upgrades (h2c, …) are refused: only what the handler has seen may go upstream.
 */
import type { IncomingMessage } from "node:http";
import { request } from "node:https";
import type { Socket } from "node:net";
import { Readable, type Duplex } from "node:stream";
import type { EgressAuditEntry } from "./forward-proxy.js";
import { interceptedRequest, type InterceptTunnel } from "./intercept-request.js";
import { decideIntercepted } from "./intercept-decision.js";
import { auditPath, authority, endToEnd, upstreamTarget } from "./intercept-upstream.js";

const REASONS: Record<number, string> = { 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 421: "Misdirected Request", 502: "Bad Gateway", 504: "Gateway Timeout" };

function rawReply(socket: Duplex, status: number, body: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export async function interceptUpgrade(tunnel: InterceptTunnel, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const { ctx, target } = tunnel;
  socket.on("error", () => socket.destroy());
  const box = interceptedRequest(tunnel, req, "http/1.1");
  box.body = Readable.from([]);
  const line: EgressAuditEntry = { host: target.host, port: target.port, method: box.method, outcome: "ok", bytesIn: 0, bytesOut: 0, intercepted: true, path: auditPath(box.path) };
  const audit = (fields: Partial<EgressAuditEntry>) => ctx.options.audit({ ...line, ...fields });
  const refuse = (status: number, body: string, fields: Partial<EgressAuditEntry>) => {
    rawReply(socket, status, body);
    audit({ outcome: "denied", status, ...fields });
  };
  if (String(req.headers.upgrade).toLowerCase() !== "websocket") return refuse(400, "broker: only WebSocket upgrades pass an intercepted host\n", { reason: "upgrade-not-websocket" });
  const outcome = await decideIntercepted(tunnel, box, line, refuse);
  if (!outcome) return;
  const result: Partial<EgressAuditEntry> = { ...(outcome.rule ? { rule: outcome.rule } : {}), ...(outcome.fingerprint ? { fingerprint: outcome.fingerprint } : {}) };
  const out = request({
    ...upstreamTarget(target, tunnel.address),
    agent: tunnel.agent,
    method: outcome.method,
    path: outcome.path,
    headers: { ...endToEnd(outcome.headers), host: authority(target), connection: "Upgrade", upgrade: "websocket" },
  });
  out.setTimeout(ctx.options.connectTimeoutMs ?? 10_000, () => out.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
  out.on("error", (error: NodeJS.ErrnoException) => {
    const code = error.code ?? "error";
    refuse(code === "ETIMEDOUT" ? 504 : 502, `broker: cannot reach ${authority(target)} (${code})\n`, { ...result, outcome: "error", reason: `upstream failed (${code})` });
  });
  out.on("response", (upstream) => {
    // Upstream declined the upgrade: its answer goes back as it is, and the connection ends.
    const lines = [`HTTP/1.1 ${upstream.statusCode} ${upstream.statusMessage ?? ""}`];
    for (const [name, value] of Object.entries(endToEnd(upstream.headers))) for (const v of [value].flat()) lines.push(`${name}: ${v}`);
    socket.write(`${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`);
    upstream.pipe(socket);
    audit({ ...result, status: upstream.statusCode ?? 502 });
  });
  out.on("upgrade", (upstream, upSocket: Socket, upHead: Buffer) => {
    out.setTimeout(0);
    upSocket.setTimeout(0);
    const lines = [`HTTP/1.1 101 ${upstream.statusMessage || "Switching Protocols"}`];
    for (let i = 0; i + 1 < upstream.rawHeaders.length; i += 2) lines.push(`${upstream.rawHeaders[i]}: ${upstream.rawHeaders[i + 1]}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    if (upHead.length > 0) socket.write(upHead);
    if (head.length > 0) upSocket.write(head);
    let bytesIn = upHead.length;
    let bytesOut = head.length;
    upSocket.on("data", (chunk: Buffer) => (bytesIn += chunk.length));
    socket.on("data", (chunk: Buffer) => (bytesOut += chunk.length));
    upSocket.on("error", () => socket.destroy());
    upSocket.pipe(socket);
    socket.pipe(upSocket);
    upSocket.once("close", () => socket.destroy());
    socket.once("close", () => {
      upSocket.destroy();
      audit({ ...result, status: 101, bytesIn, bytesOut });
    });
  });
  out.end();
}
