/**
 * TLS interception in the egress proxy: a fake injection (a bearer placeholder becomes the real
 * value; a placeholder in the path or body is a leak) in front of a TLS stand-in on 127.0.0.2
 * whose certificate, made by openssl, is trusted only through `upstreamCa`. Clients reach the
 * proxy over its Unix socket with CONNECT, then speak TLS (trusting the session CA), HTTP/1.1,
 * HTTP/2 or WebSocket over the tunnel; an HTTP/2-capable stand-in (allowHTTP1) serves the h2 case.
 * Names are resolved by an injected lookup.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect as http2Connect, createSecureServer as http2SecureServer, type Http2SecureServer } from "node:http2";
import { createServer as httpsServer, type Server as HttpsServer } from "node:https";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { startEgressProxy, type EgressAuditEntry } from "../../src/egress/forward-proxy.js";
import { LeakError, type Injection } from "../../src/egress/inject-types.js";
import { createSessionCa, type SessionCa } from "../../src/egress/session-ca.js";
import { waitFor } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";

const REAL = "real-token-0123456789abcdef";
const PLACEHOLDER = "PLACEHOLDER-abcdef0123456789";
const dir = tempDir("broker-intercept-");
const DNS: Record<string, string> = { "api.inject.test": "127.0.0.2", "plain.test": "127.0.0.2", "rogue.test": "127.0.0.2" };
const lookup = async (host: string) => (DNS[host] ? [{ address: DNS[host]!, family: 4 as const }] : Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })));

let upstreamCert: string;
let upstream: HttpsServer;
let rogue: HttpsServer;
let h2: Http2SecureServer;
let port: number;
let roguePort: number;
let h2Port: number;
let ca: SessionCa;
/** What the stand-in saw: each complete request (headers and body), each WebSocket handshake. */
const saw: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string; version?: string }> = [];
const sawUpgrades: IncomingHttpHeaders[] = [];

function openssl(name: string, cn: string, san: string): { key: string; cert: string } {
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir.path, `${name}-k.pem`), "-out", join(dir.path, `${name}-c.pem`), "-days", "1", "-subj", `/CN=${cn}`, "-addext", `subjectAltName=${san}`]);
  if (made.status !== 0) throw new Error("openssl failed");
  return { key: readFileSync(join(dir.path, `${name}-k.pem`), "utf8"), cert: readFileSync(join(dir.path, `${name}-c.pem`), "utf8") };
}

beforeAll(async () => {
  const own = openssl("up", "api.inject.test", "DNS:api.inject.test,DNS:plain.test,IP:127.0.0.2");
  upstreamCert = own.cert;
  upstream = httpsServer(own, (req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      saw.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": "yes", connection: "keep-alive" }).end(`upstream ${req.method} ${req.url} ${body.length}\n`);
    });
  });
  const wss = new WebSocketServer({ server: upstream });
  wss.on("connection", (ws, req) => {
    sawUpgrades.push(req.headers);
    ws.on("message", (data) => ws.send(`echo ${String(data)}`));
  });
  // A host whose certificate no one vouches for: interception must not reach it.
  rogue = httpsServer(openssl("rogue", "rogue.test", "DNS:rogue.test"), (req, res) => {
    saw.push({ method: req.method!, url: req.url!, headers: req.headers, body: "" });
    res.end("rogue\n");
  });
  // The same name, served by a stand-in that speaks HTTP/2 as well as HTTP/1.1.
  h2 = http2SecureServer({ ...own, allowHTTP1: true }, (req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      saw.push({ method: req.method, url: req.url, headers: req.headers, body, version: req.httpVersion });
      res.writeHead(200, { "content-type": "text/plain", "x-upstream": "h2-capable" }).end(`upstream ${req.method} ${req.url} ${body.length}\n`);
    });
  });
  await Promise.all([upstream, rogue, h2].map((s) => new Promise<void>((r) => s.listen(0, "127.0.0.2", r))));
  port = (upstream.address() as { port: number }).port;
  roguePort = (rogue.address() as { port: number }).port;
  h2Port = (h2.address() as { port: number }).port;
  ca = await createSessionCa({ label: "test" });
});
afterAll(async () => {
  for (const s of [upstream, rogue]) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await new Promise((r) => h2.close(r));
  dir.cleanup();
});

/** The fake injection: bearer placeholder → real value; a placeholder in the path or the body is a leak. */
function fakeInjection(leaks: Array<{ credential: string; where: string; host: string }>): Injection {
  return {
    intercepts: (host) => host === "api.inject.test" || host === "127.0.0.2" || host === "rogue.test",
    async handle(req) {
      if (req.path.includes(PLACEHOLDER)) return { ok: false, status: 403, message: "broker: refused: a placeholder in the path", leak: { credential: "test", where: "path" } };
      const headers = { ...req.headers };
      if (headers.authorization === `Bearer ${PLACEHOLDER}`) headers.authorization = `Bearer ${REAL}`;
      const scan = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          if (chunk.toString().includes(PLACEHOLDER)) return callback(new LeakError("test", "body"));
          callback(null, chunk);
        },
      });
      return { ok: true, method: req.method, path: req.path, headers, body: req.body.pipe(scan), rule: "env:TEST", fingerprint: "fp000001" };
    },
    onLeak: (leak) => leaks.push(leak),
  };
}

/** A connection gate that counts the places taken: back to 0 once every tunnel and upstream socket has closed. */
function countingGate() {
  const gate = {
    held: 0,
    acquire(weight: number) {
      gate.held += weight;
      let released = false;
      return () => {
        if (!released) gate.held -= weight;
        released = true;
      };
    },
  };
  return gate;
}

async function proxy(extra: { upstreamCa?: string[]; injection?: (leaks: Array<{ credential: string; where: string; host: string }>) => Injection } = {}) {
  const audit: EgressAuditEntry[] = [];
  const leaks: Array<{ credential: string; where: string; host: string }> = [];
  const socketPath = join(dir.path, `p-${Math.random().toString(16).slice(2)}.sock`);
  const gate = countingGate();
  const allowed = new Set([`api.inject.test:${port}`, `api.inject.test:${h2Port}`, `plain.test:${port}`, `127.0.0.2:${port}`, `rogue.test:${roguePort}`]);
  const p = await startEgressProxy({
    socketPath,
    decide: (host, p) => (allowed.has(`${host}:${p}`) ? { allowed: true, exact: true } : { allowed: false, exact: false }),
    denyHint: () => "add it",
    audit: (e) => audit.push(e),
    lookup,
    injection: (extra.injection ?? fakeInjection)(leaks),
    ca,
    upstreamCa: extra.upstreamCa ?? [upstreamCert],
    gate,
  });
  return { proxy: p, audit, leaks, socketPath, gate };
}

/** CONNECT over the proxy's socket, then TLS over the tunnel; rejects if the TLS handshake (or its checks) fail. */
function tunnel(socketPath: string, authority: string, tls: { ca: string; servername?: string; alpn?: string[]; maxVersion?: "TLSv1.2" | "TLSv1.3" }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw: Socket = connect(socketPath, () => raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    raw.on("error", reject);
    let head = "";
    raw.on("data", function onData(chunk: Buffer) {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      raw.off("data", onData);
      if (!head.startsWith("HTTP/1.1 200")) return reject(new Error(head.split("\r\n")[0]));
      const hostname = authority.replace(/:\d+$/, "");
      const t = tlsConnect({ socket: raw, host: hostname, ca: tls.ca, servername: tls.servername ?? (/^[\d.]+$/.test(hostname) ? "" : hostname), ALPNProtocols: tls.alpn ?? ["http/1.1"], maxVersion: tls.maxVersion ?? "TLSv1.3" });
      t.once("secureConnect", () => resolve(t));
      t.once("error", reject);
    });
  });
}

/** One HTTP/1.1 request over a TLS tunnel. */
function get(t: TLSSocket, host: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ createConnection: () => t, method: options.method ?? "GET", path, headers: { host, ...options.headers } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("egress proxy: TLS interception", () => {
  it("replaces the placeholder with the real value upstream; the box never sees the real value; audited without values", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `api.inject.test:${port}`, { ca: ca.certPem });
    expect(new X509Certificate(t.getPeerX509Certificate()!.raw).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    const res = await get(t, `api.inject.test:${port}`, "/v1/things?service=git-upload-pack&key=x", { headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    expect(res.status).toBe(200);
    expect(res.body).toBe("upstream GET /v1/things?service=git-upload-pack&key=x 0\n");
    expect(saw.at(-1)!.headers.authorization).toBe(`Bearer ${REAL}`);
    expect(saw.at(-1)!.headers.host).toBe(`api.inject.test:${port}`);
    expect(JSON.stringify(res)).not.toContain(REAL);
    t.destroy();
    await waitFor(() => p.audit.find((e) => e.intercepted && e.status === 200) ?? undefined, 5_000, 10);
    const line = p.audit.find((e) => e.intercepted && e.status === 200)!;
    expect(line).toMatchObject({ host: "api.inject.test", port, method: "GET", outcome: "ok", path: "/v1/things?service=&key=", rule: "env:TEST", fingerprint: "fp000001" });
    expect(line.bytesIn).toBeGreaterThan(0);
    expect(JSON.stringify(p.audit)).not.toMatch(new RegExp(`${REAL}|${PLACEHOLDER}|git-upload-pack`));
    await p.proxy.close();
  });

  it("intercepts an IP literal host: the leaf has an IP SAN the client checks", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `127.0.0.2:${port}`, { ca: ca.certPem });
    const res = await get(t, `127.0.0.2:${port}`, "/ip", { headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    expect(res.status).toBe(200);
    expect(saw.at(-1)!.headers.authorization).toBe(`Bearer ${REAL}`);
    t.destroy();
    await p.proxy.close();
  });

  it("keeps a host without a rule an opaque tunnel: the client sees the stand-in's own certificate", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `plain.test:${port}`, { ca: upstreamCert });
    expect(t.getPeerX509Certificate()!.fingerprint256).toBe(new X509Certificate(upstreamCert).fingerprint256);
    const res = await get(t, `plain.test:${port}`, "/opaque", { headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    expect(res.status).toBe(200);
    expect(saw.at(-1)!.headers.authorization).toBe(`Bearer ${PLACEHOLDER}`);
    t.destroy();
    await p.proxy.close();
  });

  // TLS 1.3: the client hangs up before its Finished; TLS 1.2: after it, so the proxy's side is already secure.
  it.each(["TLSv1.3", "TLSv1.2"] as const)("fails closed for a client that does not trust the session CA (%s): nothing goes upstream, audited tls-refused once", async (maxVersion) => {
    const p = await proxy();
    const before = saw.length;
    for (const alpn of [["http/1.1"], ["h2", "http/1.1"]]) {
      await expect(tunnel(p.socketPath, `api.inject.test:${port}`, { ca: upstreamCert, alpn, maxVersion })).rejects.toThrow(/certificate/);
    }
    await waitFor(() => (p.audit.filter((e) => e.reason === "tls-refused").length === 2 ? true : undefined), 5_000, 10);
    await new Promise((r) => setTimeout(r, 100));
    const refused = p.audit.filter((e) => e.reason === "tls-refused");
    expect(refused).toHaveLength(2);
    for (const line of refused) expect(line).toMatchObject({ host: "api.inject.test", port, method: "CONNECT", outcome: "error", intercepted: true });
    expect(p.audit.filter((e) => e.reason !== "tls-refused")).toEqual([]);
    expect(saw.length).toBe(before);
    // Each refused tunnel is gone on the proxy's side too.
    await waitFor(() => (p.gate.held === 0 ? true : undefined), 5_000, 10);
    await p.proxy.close();
  });

  it("answers 502 when the upstream certificate is not trusted (never skips verification)", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `rogue.test:${roguePort}`, { ca: ca.certPem });
    const res = await get(t, `rogue.test:${roguePort}`, "/x", { headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    expect(res.status).toBe(502);
    expect(saw.some((s) => s.url === "/x" && s.headers.host?.startsWith("rogue"))).toBe(false);
    t.destroy();
    // And a stand-in trusted for another name is not accepted for this one.
    const q = await proxy({ upstreamCa: [upstreamCert, readFileSync(join(dir.path, "rogue-c.pem"), "utf8")] });
    const u = await tunnel(q.socketPath, `rogue.test:${roguePort}`, { ca: ca.certPem });
    expect((await get(u, `rogue.test:${roguePort}`, "/trusted")).body).toBe("rogue\n");
    u.destroy();
    await Promise.all([p.proxy.close(), q.proxy.close()]);
  });

  it("refuses a request whose Host names another host than the tunnel's (a credential for a virtual neighbour)", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `api.inject.test:${port}`, { ca: ca.certPem });
    const before = saw.length;
    const res = await get(t, `plain.test:${port}`, "/front", { headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    expect(res.status).toBe(403);
    expect(saw.length).toBe(before);
    expect(p.audit).toContainEqual(expect.objectContaining({ reason: "leak (host-mismatch)", intercepted: true }));
    // A leak like a placeholder out of place: the session's on_leak decides what follows.
    expect(p.leaks).toEqual([{ credential: "", where: "host", host: "api.inject.test" }]);
    t.destroy();
    await p.proxy.close();
  });

  it("refuses a placeholder in the path as a leak, naming no path in the audit", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `api.inject.test:${port}`, { ca: ca.certPem });
    const res = await get(t, `api.inject.test:${port}`, `/bot${PLACEHOLDER}/send`);
    expect(res.status).toBe(403);
    expect(p.leaks).toEqual([{ credential: "test", where: "path", host: "api.inject.test" }]);
    expect(JSON.stringify(p.audit)).not.toContain(PLACEHOLDER);
    t.destroy();
    await p.proxy.close();
  });

  it("aborts the upstream request when the body holds a placeholder (LeakError), answers 403 and reports the leak", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `api.inject.test:${port}`, { ca: ca.certPem });
    const before = saw.length;
    const res = await get(t, `api.inject.test:${port}`, "/upload", { method: "POST", body: `{"token":"${PLACEHOLDER}"}`, headers: { "content-type": "application/json" } });
    expect(res.status).toBe(403);
    expect(p.leaks).toEqual([{ credential: "test", where: "body", host: "api.inject.test" }]);
    await new Promise((r) => setTimeout(r, 100));
    expect(saw.slice(before).some((s) => s.url === "/upload")).toBe(false);
    await waitFor(() => p.audit.find((e) => e.reason === "leak (body)") ?? undefined, 5_000, 10);
    t.destroy();
    await p.proxy.close();
  });

  it("feeds the body to a handler that reads it whole before deciding (as AWS does for a body it must hash)", async () => {
    const readsFirst = (leaks: Array<{ credential: string; where: string; host: string }>): Injection => ({
      ...fakeInjection(leaks),
      async handle(req) {
        const chunks: Buffer[] = [];
        for await (const chunk of req.body) chunks.push(chunk as Buffer);
        const whole = Buffer.concat(chunks);
        return { ok: true, method: req.method, path: req.path, headers: { ...req.headers, "x-read-first": String(whole.length) }, body: Readable.from([whole]), rule: "env:TEST" };
      },
    });
    const p = await proxy({ injection: readsFirst });
    const t = await tunnel(p.socketPath, `api.inject.test:${port}`, { ca: ca.certPem });
    const body = "x".repeat(200_000);
    const res = await get(t, `api.inject.test:${port}`, "/read-first", { method: "POST", body, headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(200);
    expect(saw.at(-1)).toMatchObject({ url: "/read-first", body });
    expect(saw.at(-1)!.headers["x-read-first"]).toBe(String(body.length));
    t.destroy();
    await p.proxy.close();
  }, 10_000);

  it("reports a body leak found while the handler was still deciding (its tripwire fired during an await)", async () => {
    const slow = (leaks: Array<{ credential: string; where: string; host: string }>): Injection => ({
      ...fakeInjection(leaks),
      async handle(req) {
        const scan = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            if (chunk.toString().includes(PLACEHOLDER)) return callback(new LeakError("test", "body"));
            callback(null, chunk);
          },
        });
        const body = req.body.pipe(scan);
        body.on("error", () => undefined);
        await new Promise((r) => setTimeout(r, 200));
        return { ok: true, method: req.method, path: req.path, headers: req.headers, body, rule: "env:TEST" };
      },
    });
    const p = await proxy({ injection: slow });
    const t = await tunnel(p.socketPath, `api.inject.test:${port}`, { ca: ca.certPem });
    const before = saw.length;
    const res = await get(t, `api.inject.test:${port}`, "/slow", { method: "POST", body: `note=${PLACEHOLDER}`, headers: { "content-type": "text/plain" } });
    expect(res.status).toBe(403);
    expect(p.leaks).toEqual([{ credential: "test", where: "body", host: "api.inject.test" }]);
    expect(saw.slice(before).some((s) => s.url === "/slow")).toBe(false);
    t.destroy();
    await p.proxy.close();
  }, 10_000);

  it("speaks HTTP/2 to a client that negotiates h2, and injects there too", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `api.inject.test:${h2Port}`, { ca: ca.certPem, alpn: ["h2", "http/1.1"] });
    expect(t.alpnProtocol).toBe("h2");
    const session = http2Connect(`https://api.inject.test:${h2Port}`, { createConnection: () => t });
    session.on("error", () => undefined);
    const ask = (path: string, body: string) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": path, authorization: `Bearer ${PLACEHOLDER}` });
        let headers: Record<string, unknown> = {};
        let text = "";
        stream.on("response", (h) => (headers = h));
        stream.on("data", (c: Buffer) => (text += c.toString()));
        stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, body: text }));
        stream.on("error", reject);
        stream.end(body);
      });
    // Two streams at once on the one session: each is its own intercepted request.
    const answers = await Promise.all([ask("/h2?q=1", "hello"), ask("/h2b", "hi")]);
    expect(answers.map((a) => [a.status, a.body])).toEqual([
      [200, "upstream POST /h2?q=1 5\n"],
      [200, "upstream POST /h2b 2\n"],
    ]);
    expect(answers[0]!.headers["x-upstream"]).toBe("h2-capable");
    const seen = saw.find((s) => s.url === "/h2?q=1")!;
    expect(seen.headers.authorization).toBe(`Bearer ${REAL}`);
    expect(seen.headers.host).toBe(`api.inject.test:${h2Port}`);
    expect(seen.body).toBe("hello");
    expect(JSON.stringify(answers)).not.toContain(REAL);
    const held = p.gate.held;
    session.close();
    await waitFor(() => p.audit.find((e) => e.path === "/h2?q=") ?? undefined, 5_000, 10);
    // The box hung up: the proxy's end of the tunnel goes too (its 2 places; the pooled upstream sockets stay).
    await waitFor(() => (p.gate.held === held - 2 ? true : undefined), 5_000, 10);
    expect(p.audit.find((e) => e.path === "/h2?q=")).toMatchObject({ host: "api.inject.test", port: h2Port, method: "POST", outcome: "ok", status: 200, intercepted: true, rule: "env:TEST" });
    expect(JSON.stringify(p.audit)).not.toMatch(new RegExp(`${REAL}|${PLACEHOLDER}`));
    expect(p.audit.some((e) => e.reason === "tls-refused")).toBe(false);
    await p.proxy.close();
  });

  it("carries a WebSocket through the handler: the handshake gets the real value, frames echo both ways", async () => {
    const p = await proxy();
    const t = await tunnel(p.socketPath, `api.inject.test:${port}`, { ca: ca.certPem });
    const ws = new WebSocket(`wss://api.inject.test:${port}/ws`, { createConnection: () => t, headers: { authorization: `Bearer ${PLACEHOLDER}` } });
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.once("open", () => ws.send("ping"));
      ws.once("message", (data) => resolve(String(data)));
      ws.once("error", reject);
    });
    expect(echoed).toBe("echo ping");
    expect(sawUpgrades.at(-1)!.authorization).toBe(`Bearer ${REAL}`);
    ws.close();
    await waitFor(() => p.audit.find((e) => e.status === 101) ?? undefined, 5_000, 10);
    expect(p.audit.find((e) => e.status === 101)).toMatchObject({ path: "/ws", rule: "env:TEST", intercepted: true });
    await p.proxy.close();
  });
});
