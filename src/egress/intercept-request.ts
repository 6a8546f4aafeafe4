/**
 * One request of an intercepted tunnel (HTTP/1.1 or HTTP/2 from the box): its Host must be the
 * tunnel's own host, the session's injection handler decides it, and what the handler makes of it
 * goes upstream over verified TLS, the answer streaming back. A refusal is answered in plain
 * text; a placeholder the handler (or the body's transform) finds is reported as a leak. Every
 * request gets its own audit line: path without query values, rule, fingerprint, status.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { request, type Agent } from "node:https";
import { PassThrough, type Readable } from "node:stream";
import type { Target } from "./egress-target.js";
import type { EgressAuditEntry, ProxyContext } from "./forward-proxy.js";
import { LeakError, type Injection, type InterceptedRequest } from "./inject-types.js";
import { decideIntercepted, type Accepted } from "./intercept-decision.js";
import { auditPath, authority, endToEnd, upstreamTarget, type Headers } from "./intercept-upstream.js";

/** What every request of one intercepted tunnel shares. */
export interface InterceptTunnel {
  ctx: ProxyContext;
  target: Target;
  /** The address admit() checked: every upstream connection goes there. */
  address: string;
  injection: Injection;
  agent: Agent;
}

type Response = ServerResponse | Http2ServerResponse;

export function reply(res: Response, status: number, body: string): void {
  if (res.headersSent) return void res.destroy();
  (res as ServerResponse).writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** A LeakError from this module or from another copy of it (the stream error crosses a library's pipes). */
export function isLeak(error: unknown): error is LeakError {
  return error instanceof LeakError || (error instanceof Error && (error as Partial<LeakError>).where === "body" && typeof (error as Partial<LeakError>).credential === "string");
}

/** The request as the box sent it, for the handler: pseudo-headers folded into method, path and host. */
export function interceptedRequest(tunnel: InterceptTunnel, req: IncomingMessage | Http2ServerRequest, protocol: "h2" | "http/1.1"): InterceptedRequest & { hostHeader: string | undefined } {
  const raw = req.headers as Record<string, string | string[] | undefined>;
  const hostHeader = protocol === "h2" ? ((raw[":authority"] as string | undefined) ?? (raw.host as string | undefined)) : (raw.host as string | undefined);
  const headers: Headers = {};
  for (const [name, value] of Object.entries(raw)) if (value !== undefined && !name.startsWith(":")) headers[name] = value;
  if (hostHeader !== undefined) headers.host = hostHeader;
  const path = (protocol === "h2" ? (raw[":path"] as string | undefined) : req.url) ?? "/";
  return { method: req.method ?? "GET", host: tunnel.target.host, port: tunnel.target.port, path, headers, body: req, protocol, hostHeader };
}

export async function interceptRequest(tunnel: InterceptTunnel, req: IncomingMessage | Http2ServerRequest, res: Response, protocol: "h2" | "http/1.1"): Promise<void> {
  const { ctx, target } = tunnel;
  const box = interceptedRequest(tunnel, req, protocol);
  const body = new PassThrough();
  box.body = body;
  // The body flows while the handler decides: a rule may read it whole first (AWS hashes a body that
  // declares no x-amz-content-sha256); withholding it until the handler returned deadlocked that rule.
  // It starts one turn of the event loop later, so a handler that returns at once (a transform made
  // before any await) has its body's errors listened to in forward() before any data can reach it.
  // A handler that awaits I/O after making its transform could still have it fail unheard: don't.
  const feeding = setImmediate(() => req.pipe(body));
  const line: EgressAuditEntry = { host: target.host, port: target.port, method: box.method, outcome: "ok", bytesIn: 0, bytesOut: 0, intercepted: true, path: auditPath(box.path) };
  const audit = (fields: Partial<EgressAuditEntry>) => ctx.options.audit({ ...line, ...fields });
  const refuse = (status: number, text: string, fields: Partial<EgressAuditEntry>) => {
    clearImmediate(feeding);
    req.unpipe(body);
    req.resume();
    reply(res, status, text);
    audit({ outcome: "denied", status, ...fields });
  };
  const outcome = await decideIntercepted(tunnel, box, line, refuse);
  if (!outcome) return;
  forward(tunnel, res, outcome, audit);
}

function forward(tunnel: InterceptTunnel, res: Response, outcome: Accepted, audit: (fields: Partial<EgressAuditEntry>) => void): void {
  const { ctx, target, injection } = tunnel;
  const out = request({
    ...upstreamTarget(target, tunnel.address),
    agent: tunnel.agent,
    method: outcome.method,
    path: outcome.path,
    headers: { ...endToEnd(outcome.headers), host: authority(target) },
  });
  const result: Partial<EgressAuditEntry> = { ...(outcome.rule ? { rule: outcome.rule } : {}), ...(outcome.fingerprint ? { fingerprint: outcome.fingerprint } : {}) };
  let bytesIn = 0;
  let bytesOut = 0;
  let settled = false;
  const fail = (status: number, body: string, fields: Partial<EgressAuditEntry>) => {
    if (settled) return;
    settled = true;
    out.destroy();
    outcome.body.unpipe(out);
    outcome.body.resume();
    Object.assign(result, { status: res.headersSent ? (result.status ?? status) : status, ...fields });
    reply(res, status, body);
  };
  out.setTimeout(ctx.options.connectTimeoutMs ?? 10_000, () => fail(504, `broker: ${authority(target)} did not answer in time\n`, { outcome: "error", reason: "upstream timed out" }));
  out.on("error", (error: NodeJS.ErrnoException) => {
    const code = error.code ?? "error";
    fail(502, `broker: cannot reach ${authority(target)} (${code})\n`, { outcome: "error", reason: `upstream failed (${code})` });
  });
  const bodyFailed = (error: Error) => {
    if (!isLeak(error)) return fail(502, "broker: the request body failed\n", { outcome: "error", reason: "body failed" });
    // Before anything of it is answered: the upstream request is cut short, so the server never acts on it.
    fail(403, "broker: refused: a credential placeholder in the request body\n", { outcome: "denied", reason: "leak (body)", rule: error.credential });
    injection.onLeak({ credential: error.credential, where: "body", host: target.host });
  };
  outcome.body.on("error", bodyFailed);
  out.on("response", (upstream) => {
    out.setTimeout(0);
    if (settled) return void upstream.resume();
    result.status = upstream.statusCode ?? 502;
    (res as ServerResponse).writeHead(result.status, endToEnd(upstream.headers));
    upstream.on("data", (chunk: Buffer) => (bytesIn += chunk.length));
    upstream.on("error", () => res.destroy());
    upstream.pipe(res as ServerResponse);
  });
  outcome.body.on("data", (chunk: Buffer) => (bytesOut += chunk.length));
  outcome.body.pipe(out);
  // A body that failed while the rule was still deciding (its tripwire fired during an await) has no error event left to give.
  const already = (outcome.body as Readable).errored;
  if (already) bodyFailed(already);
  res.once("close", () => {
    if (!res.writableFinished) out.destroy();
    audit({ ...result, bytesIn, bytesOut });
  });
}
