/**
 * The connection gate (issue 15): a cap in total and per peer, a budget for bodies in flight, and a
 * coded 503 ERR_BUSY instead of a silent reset. Played against a real node:http server on a temp
 * Unix socket with small caps; the flood at full size is test/reliability/flood.test.ts.
 */
import { once } from "node:events";
import { createServer, request, type Server, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createConnectionGate, holdOpen } from "../../src/daemon/connection-gate.js";
import { connectionCaps, readOpenFileLimit } from "../../src/daemon/descriptor-budget.js";
import { listenSessionSocket } from "../../src/daemon/session-socket.js";
import { startTestDaemon, waitFor } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A guarded server: `/hold` answers only when released, `/bind` holds its connection open, the rest answer at once. */
async function serve(perPeer: number, total: number, bodyBudget = 1000) {
  const dir = tempDir("broker-gate-");
  const path = join(dir.path, "s.sock");
  const held: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    if (req.url === "/hold") return void held.push(res);
    if (req.url === "/bind") holdOpen(req.socket);
    req.on("end", () => res.end("ok"));
  });
  const gate = createConnectionGate({ total, bodyBudget, bodyLimit: 600 });
  gate.guard(server, "main", perPeer);
  server.listen(path);
  await once(server, "listening");
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
    dir.cleanup();
  });
  return { path, gate, held, release: () => held.splice(0).forEach((r) => r.end("ok")) };
}

/** A raw connection and everything it receives until it closes. */
function raw(path: string, send = "") {
  const socket: Socket = connect(path);
  let text = "";
  socket.on("data", (d) => (text += d.toString()));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((r) => socket.once("close", () => r()));
  if (send !== "") socket.once("connect", () => socket.write(send));
  cleanups.push(() => socket.destroy());
  return { socket, closed, text: () => text };
}

const get = (path: string, url: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ socketPath: path, path: url, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });

describe("connection gate", () => {
  it("answers a connection over the cap with 503 ERR_BUSY, not a reset, when no connection can give way", async () => {
    const s = await serve(2, 10);
    const busy = [raw(s.path, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"), raw(s.path, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")];
    await waitFor(() => s.held.length === 2);
    const over = raw(s.path);
    await over.closed;
    expect(over.text()).toMatch(/^HTTP\/1\.1 503 /);
    expect(JSON.parse(over.text().split("\r\n\r\n")[1]!).error.code).toBe("ERR_BUSY");
    expect(busy.every((b) => !b.socket.destroyed)).toBe(true);
    expect(s.gate.stats()).toMatchObject({ connections: 2, refused: 1 });
  });

  it("lets a request in at the cap by closing the longest-waiting idle or slow connection", async () => {
    const s = await serve(3, 3);
    const idle = raw(s.path);
    const slow = raw(s.path, "GET / HTTP/1.1\r\nHost: x\r\n");
    const halfBody = raw(s.path, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nabc");
    await waitFor(() => s.gate.stats().connections === 3 && s.gate.stats().bodyBytes === 500);
    expect(await get(s.path, "/health")).toEqual({ status: 200, body: "ok" });
    await idle.closed;
    expect(idle.text()).toContain("ERR_BUSY");
    expect(slow.socket.destroyed || halfBody.socket.destroyed).toBe(false);
    // Full again: the slow request head is now the longest-waiting.
    raw(s.path);
    await waitFor(() => s.gate.stats().connections === 3);
    expect(await get(s.path, "/health")).toEqual({ status: 200, body: "ok" });
    await slow.closed;
    expect(slow.text()).toContain("ERR_BUSY");
    expect(s.gate.stats().evicted).toBe(2);
  });

  it("never closes a connection held open (bound to a session) to make room", async () => {
    const s = await serve(1, 1);
    const bound = raw(s.path, "GET /bind HTTP/1.1\r\nHost: x\r\n\r\n");
    await waitFor(() => bound.text().includes("ok"));
    const newcomer = raw(s.path);
    await newcomer.closed;
    expect(newcomer.text()).toContain("ERR_BUSY");
    expect(bound.socket.destroyed).toBe(false);
  });

  it("bounds bodies in flight: a new body takes the place of a stalled one, or is refused with 503 ERR_BUSY", async () => {
    const s = await serve(10, 10, 1000);
    const stalled = raw(s.path, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\nabc");
    await waitFor(() => s.gate.stats().bodyBytes === 600);
    // 600 + 600 is over the budget: the stalled body gives way.
    const second = raw(s.path, `POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n${"a".repeat(600)}`);
    await stalled.closed;
    await waitFor(() => s.held.length === 1);
    expect(s.gate.stats().bodyBytes).toBe(600);
    // The budget's holder is being answered, not stalled: nothing gives way, the newcomer is refused.
    const third = raw(s.path, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 600\r\n\r\n${"a".repeat(600)}`);
    await third.closed;
    expect(third.text()).toMatch(/^HTTP\/1\.1 503 /);
    expect(third.text()).toContain("ERR_BUSY");
    s.release();
    await waitFor(() => second.text().includes("ok"));
    await waitFor(() => s.gate.stats().bodyBytes === 0);
  });
});

describe("session socket", () => {
  it("counts its connections against the shared gate, at most perPeer for the box", async () => {
    const dir = tempDir("broker-gate-session-");
    const path = join(dir.path, "session.sock");
    const gate = createConnectionGate({ total: 100, bodyBudget: 1000, bodyLimit: 600 });
    const view = { id: "s1", task: "t", createdAt: "", expiresAt: "" } as never;
    const server = await listenSessionSocket(path, { version: "test", view: () => view, credentials: () => ({ env: {} }) as never }, { gate, scope: "session:s1", perPeer: 2 });
    cleanups.push(() => {
      server.closeAllConnections();
      server.close();
      dir.cleanup();
    });
    const idle = [raw(path), raw(path)];
    await waitFor(() => gate.stats().connections === 2);
    expect((await get(path, "/v1/health")).status).toBe(200);
    await idle[0]!.closed;
    expect(idle[0]!.text()).toContain("ERR_BUSY");
    expect(gate.stats().evicted).toBe(1);
  });
});

describe("descriptor budget", () => {
  it("sizes the caps from the open-file limit, keeping a reserve", () => {
    expect(readOpenFileLimit("Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 524288               files     \n")).toBe(1024);
    expect(readOpenFileLimit("nothing here")).toBe(1024);
    expect(connectionCaps(1024)).toMatchObject({ total: 768, perPeer: 384, reserve: 256 });
    expect(connectionCaps(20_000)).toMatchObject({ total: 4096, perPeer: 2048, reserve: 5000 });
    const caps = connectionCaps(readOpenFileLimit());
    expect(caps.total + caps.reserve).toBeLessThanOrEqual(caps.limit);
  });
});

describe("daemon timeouts", () => {
  it("answers a connection that sends nothing with a coded 408 and closes it", async () => {
    const d = await startTestDaemon();
    cleanups.push(() => d.cleanup());
    const t0 = Date.now();
    const silent = raw(d.socket);
    await silent.closed;
    expect(silent.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(silent.text()).toContain("ERR_BAD_REQUEST");
    expect(Date.now() - t0).toBeLessThan(13_000);
    expect(await d.client.health()).toMatchObject({ ok: true });
  }, 30_000);
});
