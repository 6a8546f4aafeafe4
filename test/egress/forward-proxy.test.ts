/**
 * The egress proxy on its Unix socket, against stand-ins on 127.0.0.2 (TLS and plain HTTP) and a
 * chained "corporate" proxy on 127.0.0.3. Names are resolved by an injected lookup, so no test
 * resolves or reaches anything off loopback.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as httpServer, request, type Server as HttpServer } from "node:http";
import { connect, createServer as netServer, type Server as NetServer, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect, createServer as tlsServer, type Server as TlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEgressProxy, type EgressAuditEntry, type EgressProxy } from "../../src/egress/forward-proxy.js";
import { createConnectionGate, type ConnectionGate } from "../../src/daemon/connection-gate.js";
import { waitFor } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";

const dir = tempDir("broker-egress-");
let tls: TlsServer;
let plain: HttpServer;
let corporate: NetServer;
let cert: string;
let tlsPort: number;
let plainPort: number;
let corporatePort: number;
const corporateSaw: string[] = [];

/** Names the tests use and what the fake lookup says they resolve to. */
const DNS: Record<string, string> = { "allowed.test": "127.0.0.2", "front.test": "127.0.0.2", "other.test": "127.0.0.2" };
const lookup = async (host: string) => (DNS[host] ? [{ address: DNS[host]!, family: 4 as const }] : Promise.reject(Object.assign(new Error("ENOTFOUND"), { code: "ENOTFOUND" })));

beforeAll(async () => {
  const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir.path, "k.pem"), "-out", join(dir.path, "c.pem"), "-days", "1", "-subj", "/CN=allowed.test", "-addext", "subjectAltName=DNS:allowed.test,DNS:other.test,DNS:front.test,IP:127.0.0.2"]);
  if (made.status !== 0) throw new Error("openssl failed");
  cert = readFileSync(join(dir.path, "c.pem"), "utf8");
  tls = tlsServer({ key: readFileSync(join(dir.path, "k.pem")), cert }, (s) => s.end("hello over tls\n"));
  plain = httpServer((req, res) => res.end(`plain ${req.method} ${req.headers.host} ${req.url}\n`));
  corporate = netServer((client) => {
    client.once("data", (head: Buffer) => {
      corporateSaw.push(head.toString("latin1"));
      const [, authority] = /^CONNECT (\S+) /.exec(head.toString("latin1")) ?? [];
      const [host, port] = authority!.split(":");
      const up = connect(Number(port), host === "allowed.test" ? "127.0.0.2" : host!, () => {
        client.write("HTTP/1.1 200 OK\r\n\r\n");
        client.pipe(up).pipe(client);
      });
      up.on("error", () => client.destroy());
    });
  });
  await Promise.all([
    new Promise<void>((r) => tls.listen(0, "127.0.0.2", r)),
    new Promise<void>((r) => plain.listen(0, "127.0.0.2", r)),
    new Promise<void>((r) => corporate.listen(0, "127.0.0.3", r)),
  ]);
  tlsPort = (tls.address() as { port: number }).port;
  plainPort = (plain.address() as { port: number }).port;
  corporatePort = (corporate.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of [tls, plain, corporate]) await new Promise((r) => s.close(r));
  dir.cleanup();
});

async function proxyWith(rules: Record<string, boolean>, extra: { upstreamProxy?: URL; gate?: ConnectionGate } = {}) {
  const audit: EgressAuditEntry[] = [];
  const socketPath = join(dir.path, `p-${Math.random().toString(16).slice(2)}.sock`);
  const proxy: EgressProxy = await startEgressProxy({
    socketPath,
    // rules: "host:port" → exact
    decide: (host, port) => (`${host}:${port}` in rules ? { allowed: true, exact: rules[`${host}:${port}`]! } : { allowed: false, exact: false }),
    denyHint: (host) => `add "${host}" to egress: in t.yaml`,
    audit: (e) => audit.push(e),
    lookup,
    ...extra,
  });
  return { proxy, audit, socketPath };
}

/** CONNECT through the proxy; the raw answer head and the socket. */
function connectVia(socketPath: string, authority: string): Promise<{ head: string; socket: Socket; rest: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath, () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let data = "";
    socket.on("error", reject);
    socket.on("data", function onData(chunk: Buffer) {
      data += chunk.toString("latin1");
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      if (data.startsWith("HTTP/1.1 200")) return resolve({ head: data.slice(0, end), socket, rest: "" });
      socket.on("data", (more: Buffer) => (data += more.toString("latin1")));
      socket.once("close", () => resolve({ head: data.slice(0, end), socket, rest: data.slice(end + 4) }));
    });
  });
}

/** TLS over an open tunnel; resolves with what the server sent, or "closed: …". */
function tlsOver(socket: Socket, servername?: string): Promise<string> {
  return new Promise((resolve) => {
    const t = tlsConnect({ socket, ca: cert, ...(servername ? { servername } : {}), checkServerIdentity: () => undefined });
    let got = "";
    t.on("data", (c: Buffer) => (got += c.toString()));
    t.on("end", () => {
      t.destroy();
      resolve(got);
    });
    t.on("error", (e: NodeJS.ErrnoException) => resolve(`closed: ${e.code ?? e.message}`));
    socket.on("close", () => setTimeout(() => resolve(got || "closed"), 50));
  });
}

function plainGet(socketPath: string, url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ownHost = url.startsWith("http://") ? new URL(url).host : "localhost";
    const req = request({ socketPath, path: url, headers: { host: host ?? ownHost } }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("egress proxy: descriptors", () => {
  it("counts its connections in the daemon's gate: two boxes together get no more than the gate's total (503 over it)", async () => {
    // Total 6 = three proxy connections (each takes 2: client and upstream), over two sessions' proxies.
    const gate = createConnectionGate({ total: 6, bodyBudget: 1024, bodyLimit: 1024 });
    const a = await proxyWith({ [`allowed.test:${tlsPort}`]: true }, { gate });
    const b = await proxyWith({ [`allowed.test:${tlsPort}`]: true }, { gate });
    const held = [await connectVia(a.socketPath, `allowed.test:${tlsPort}`), await connectVia(a.socketPath, `allowed.test:${tlsPort}`), await connectVia(b.socketPath, `allowed.test:${tlsPort}`)];
    expect(held.map((t) => t.head.split("\r\n")[0])).toEqual(Array(3).fill("HTTP/1.1 200 Connection Established"));
    const over = await connectVia(b.socketPath, `allowed.test:${tlsPort}`);
    expect(over.head).toMatch(/^HTTP\/1\.1 503/);
    expect(over.rest).toContain("at its limit of connections");
    expect(gate.stats().connections).toBe(6);
    held[0]!.socket.destroy();
    await waitFor(() => gate.stats().connections === 4 || undefined, 5_000, 10);
    const again = await connectVia(b.socketPath, `allowed.test:${tlsPort}`);
    expect(again.head).toMatch(/^HTTP\/1\.1 200/);
    for (const t of [...held, again]) t.socket.destroy();
    await Promise.all([a.proxy.close(), b.proxy.close()]);
    await waitFor(() => gate.stats().connections === 0 || undefined, 5_000, 10);
  });
});

describe("egress proxy: CONNECT tunnels", () => {
  it("tunnels TLS end to end to an allowed name, and audits host, port and bytes", async () => {
    const p = await proxyWith({ [`allowed.test:${tlsPort}`]: true });
    const { head, socket } = await connectVia(p.socketPath, `allowed.test:${tlsPort}`);
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(await tlsOver(socket, "allowed.test")).toBe("hello over tls\n");
    for (let i = 0; i < 50 && !p.audit.some((e) => e.outcome === "ok"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(p.audit).toContainEqual(expect.objectContaining({ host: "allowed.test", port: tlsPort, method: "CONNECT", outcome: "ok" }));
    expect(p.audit[0]!.bytesIn).toBeGreaterThan(100);
    await p.proxy.close();
  });

  it("refuses a host the rules do not allow: 403 naming it and the line to add, recorded as denied", async () => {
    const p = await proxyWith({});
    const { head, rest } = await connectVia(p.socketPath, `Unlisted.Test.:${tlsPort}`);
    expect(head).toMatch(/^HTTP\/1\.1 403/);
    expect(rest).toContain(`unlisted.test:${tlsPort}`);
    expect(rest).toContain('add "unlisted.test" to egress: in t.yaml');
    expect(p.proxy.denied()).toEqual([{ host: "unlisted.test", port: tlsPort }]);
    expect(p.audit).toContainEqual(expect.objectContaining({ host: "unlisted.test", outcome: "denied" }));
    await p.proxy.close();
  });

  it("refuses an allowed name that resolves to a loopback address, unless the rule names it exactly", async () => {
    const loose = await proxyWith({ [`allowed.test:${tlsPort}`]: false });
    const refused = await connectVia(loose.socketPath, `allowed.test:${tlsPort}`);
    expect(refused.head).toMatch(/^HTTP\/1\.1 403/);
    expect(refused.rest).toContain("loopback");
    await loose.proxy.close();
    const exact = await proxyWith({ [`allowed.test:${tlsPort}`]: true });
    expect((await connectVia(exact.socketPath, `allowed.test:${tlsPort}`)).head).toMatch(/^HTTP\/1\.1 200/);
    await exact.proxy.close();
  });

  it("closes a tunnel to an allowed name whose ClientHello names another host (a front)", async () => {
    const p = await proxyWith({ [`front.test:${tlsPort}`]: true });
    const { socket } = await connectVia(p.socketPath, `front.test:${tlsPort}`);
    expect(await tlsOver(socket, "other.test")).not.toContain("hello over tls");
    expect(p.audit).toContainEqual(expect.objectContaining({ host: "front.test", outcome: "denied", reason: "sni-mismatch" }));
    await p.proxy.close();
  });

  it("closes a tunnel to a name whose ClientHello has no SNI, and one that does not start with TLS", async () => {
    const p = await proxyWith({ [`allowed.test:${tlsPort}`]: true });
    const a = await connectVia(p.socketPath, `allowed.test:${tlsPort}`);
    expect(await tlsOver(a.socket)).not.toContain("hello over tls");
    const b = await connectVia(p.socketPath, `allowed.test:${tlsPort}`);
    b.socket.write("GET / HTTP/1.1\r\nHost: other\r\n\r\n");
    await new Promise((resolve) => b.socket.once("close", resolve));
    const reasons = p.audit.filter((e) => e.outcome === "denied").map((e) => e.reason);
    expect(reasons).toEqual(["no-sni", "not-tls"]);
    await p.proxy.close();
  });

  it("tunnels through the operator's proxy, with its credentials, when one is configured", async () => {
    const upstream = new URL(`http://corp-user:corp-pass@127.0.0.3:${corporatePort}`);
    const p = await proxyWith({ [`allowed.test:${tlsPort}`]: false }, { upstreamProxy: upstream });
    const { head, socket } = await connectVia(p.socketPath, `allowed.test:${tlsPort}`);
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(await tlsOver(socket, "allowed.test")).toBe("hello over tls\n");
    const saw = corporateSaw.at(-1)!;
    expect(saw).toContain(`CONNECT allowed.test:${tlsPort}`);
    expect(saw).toContain(`Proxy-Authorization: Basic ${Buffer.from("corp-user:corp-pass").toString("base64")}`);
    await p.proxy.close();
  });
});

describe("egress proxy: plain http requests", () => {
  it("forwards an allowed absolute-form request and refuses a Host naming another target", async () => {
    const p = await proxyWith({ [`127.0.0.2:${plainPort}`]: true });
    const url = `http://127.0.0.2:${plainPort}/x?y=1`;
    expect(await plainGet(p.socketPath, url)).toEqual({ status: 200, body: `plain GET 127.0.0.2:${plainPort} /x?y=1\n` });
    const front = await plainGet(p.socketPath, url, "127.0.0.3:1234");
    expect(front.status).toBe(403);
    expect(p.audit).toContainEqual(expect.objectContaining({ outcome: "denied", reason: "host-mismatch" }));
    await p.proxy.close();
  });

  it("answers origin-form requests with 400 and survives garbage", async () => {
    const p = await proxyWith({ [`127.0.0.2:${plainPort}`]: true });
    expect((await plainGet(p.socketPath, "/v1/sessions")).status).toBe(400);
    await new Promise<void>((resolve) => {
      const junk = connect(p.socketPath, () => junk.end("\x16\x03\x01garbage\r\n\r\n"));
      junk.resume(); // read the 400, so the close arrives
      junk.on("close", () => resolve());
      junk.on("error", () => resolve());
    });
    expect((await plainGet(p.socketPath, `http://127.0.0.2:${plainPort}/after`)).status).toBe(200);
    await p.proxy.close();
  });
});
