/**
 * One CONNECT tunnel: admitted, connected (directly to the checked address, or through the
 * operator's proxy), answered 200, and then held until the client's TLS ClientHello shows it
 * means the host it asked for. Only then do bytes flow, both ways, counted for the audit line.
 * A host with an injection rule is not connected to here: its TLS is terminated (intercept-tls.ts).
 */
import { connect, isIP, type Socket } from "node:net";
import { readClientHello } from "./client-hello.js";
import { normaliseHost } from "./egress-allow.js";
import type { Target } from "./egress-target.js";
import { rawAnswer, type ProxyContext } from "./forward-proxy.js";
import { interceptTunnel } from "./intercept-tls.js";

function connectDirect(address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" })));
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.setTimeout(0);
      socket.off("error", reject);
      resolve(socket);
    });
  });
}

/** A tunnel through the operator's proxy: CONNECT there, with its credentials, which the box never sees. */
async function connectVia(proxy: URL, target: Target, timeoutMs: number): Promise<Socket> {
  const socket = await connectDirect(proxy.hostname.replace(/^\[(.*)\]$/, "$1"), Number(proxy.port || 80), timeoutMs);
  const authority = isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  const auth = proxy.username ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString("base64")}\r\n` : "";
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once("error", fail);
    socket.on("data", function onData(chunk: Buffer) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return head.length > 16_384 ? fail(new Error("upstream proxy answer too long")) : undefined;
      socket.off("data", onData);
      socket.off("error", fail);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString("latin1"))?.[1];
      if (status !== "200") return fail(Object.assign(new Error(`upstream proxy answered ${status ?? "garbage"}`), { code: "EPROXY" }));
      socket.pause();
      if (head.length > end + 4) socket.unshift(head.subarray(end + 4));
      resolve(socket);
    });
  });
}

export async function openTunnel(ctx: ProxyContext, target: Target, client: Socket, head: Buffer): Promise<void> {
  const admitted = await ctx.admit(target, "CONNECT");
  if (!admitted.ok) return rawAnswer(client, admitted.status, admitted.body);
  // A host with an injection rule: no raw upstream connection; each request goes up on its own, to the address admitted here.
  const intercepted = ctx.options.injection?.intercepts(target.host, target.port) === true;
  if (intercepted && (!ctx.options.ca || ctx.options.upstreamProxy)) {
    // Fail closed: without its CA (or through an operator's proxy, not supported yet) the host is not reached at all.
    const reason = ctx.options.ca ? "interception through an upstream proxy is not supported" : "interception not configured";
    ctx.options.audit({ host: target.host, port: target.port, method: "CONNECT", outcome: "error", reason, bytesIn: 0, bytesOut: 0, intercepted: true });
    return rawAnswer(client, 502, `broker: cannot reach ${target.host}:${target.port} (${reason})\n`);
  }
  const timeoutMs = ctx.options.connectTimeoutMs ?? 10_000;
  let upstream: Socket | null = null;
  try {
    if (!intercepted) upstream = ctx.options.upstreamProxy ? await connectVia(ctx.options.upstreamProxy, target, timeoutMs) : await connectDirect(admitted.address, target.port, timeoutMs);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    ctx.options.audit({ host: target.host, port: target.port, method: "CONNECT", outcome: "error", reason: `connect failed (${code})`, bytesIn: 0, bytesOut: 0 });
    return rawAnswer(client, code === "ETIMEDOUT" ? 504 : 502, `broker: cannot reach ${target.host}:${target.port} (${code})\n`);
  }
  upstream?.on("error", () => client.destroy());
  client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
  if (head.length > 0) client.unshift(head);
  const hello = await readClientHello(client);
  const refuse = (reason: string) => {
    ctx.deny(target, "CONNECT", reason);
    client.destroy();
    upstream?.destroy();
  };
  if (!hello.ok) {
    if (hello.reason !== "closed") return refuse(hello.reason);
    // The client went away before its ClientHello: both ends go, so no descriptor stays held.
    client.destroy();
    return void upstream?.destroy();
  }
  if (hello.sni === null && isIP(target.host) === 0) return refuse("no-sni");
  if (hello.sni !== null && normaliseHost(hello.sni) !== target.host) {
    // On an intercepted host the box holds a placeholder for this tunnel: naming another host is taken for an exfiltration attempt.
    if (intercepted) ctx.options.injection?.onLeak({ credential: "", where: "sni", host: target.host });
    return refuse("sni-mismatch");
  }
  if (!upstream) return interceptTunnel(ctx, target, admitted.address, client, hello.buffered);
  upstream.write(hello.buffered);
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
  // Each side's end is passed on by the pipes, so data still buffered towards the client is
  // delivered before it closes; the tunnel is over once the client's side has closed.
  const raw = upstream;
  raw.once("close", () => {
    client.end();
    setTimeout(() => client.destroy(), 5_000).unref();
  });
  client.once("close", () => {
    raw.destroy();
    ctx.options.audit({ host: target.host, port: target.port, method: "CONNECT", outcome: "ok", bytesIn: raw.bytesRead, bytesOut: raw.bytesWritten });
  });
}
