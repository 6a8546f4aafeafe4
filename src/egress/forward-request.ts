/**
 * One absolute-form `http://` request through the proxy: its Host must name its target (else a
 * listed name could carry a request meant for another), then it goes to the checked address (or
 * to the operator's proxy, in absolute form), hop-by-hop headers dropped, bodies streamed.
 */
import { request, type IncomingMessage, type ServerResponse } from "node:http";
import { checkedTarget, type Target } from "./egress-target.js";
import { answer, type ProxyContext } from "./forward-proxy.js";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]);

/** Whether a Host header names the URL's own host and port (the default port may be left out). */
function hostMatches(header: string | undefined, target: Target): boolean {
  if (header === undefined) return false;
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(header.trim());
  if (!match) return false;
  const named = checkedTarget(match[1]!, match[2] ? Number(match[2]) : 80);
  return named !== null && named.host === target.host && named.port === target.port;
}

export async function forwardRequest(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse, url: Target & { path: string; hostHeader: string }): Promise<void> {
  const method = req.method ?? "GET";
  if (!hostMatches(req.headers.host, url)) {
    req.resume();
    return answer(res, 403, ctx.deny(url, method, "host-mismatch"));
  }
  const admitted = await ctx.admit(url, method);
  if (!admitted.ok) {
    req.resume();
    return answer(res, admitted.status, admitted.body);
  }
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  const upstreamProxy = ctx.options.upstreamProxy;
  if (upstreamProxy?.username) {
    headers["proxy-authorization"] = `Basic ${Buffer.from(`${decodeURIComponent(upstreamProxy.username)}:${decodeURIComponent(upstreamProxy.password)}`).toString("base64")}`;
  }
  const out = request({
    ...(upstreamProxy
      ? { host: upstreamProxy.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(upstreamProxy.port || 80), path: `http://${url.hostHeader}${url.path}` }
      : { host: admitted.address, port: url.port, path: url.path }),
    method,
    headers,
    agent: false,
    timeout: ctx.options.connectTimeoutMs ?? 10_000,
  });
  let bytesIn = 0;
  let bytesOut = 0;
  let outcome: "ok" | "error" = "ok";
  let reason: string | undefined;
  out.on("timeout", () => out.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
  out.on("error", (error: NodeJS.ErrnoException) => {
    outcome = "error";
    reason = `upstream failed (${error.code ?? "error"})`;
    answer(res, 502, `broker: cannot reach ${url.host}:${url.port} (${error.code ?? "error"})\n`);
  });
  out.on("response", (upstream) => {
    out.setTimeout(0);
    const back: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(upstream.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) back[name] = value;
    res.writeHead(upstream.statusCode ?? 502, back);
    upstream.on("data", (chunk: Buffer) => (bytesIn += chunk.length));
    upstream.pipe(res);
    upstream.on("error", () => res.destroy());
  });
  req.on("data", (chunk: Buffer) => (bytesOut += chunk.length));
  req.pipe(out);
  res.once("close", () => {
    out.destroy();
    ctx.options.audit({ host: url.host, port: url.port, method, outcome, ...(reason ? { reason } : {}), bytesIn, bytesOut });
  });
}
