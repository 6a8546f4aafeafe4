import { connect as tcpConnect, createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readClientHello } from "../../src/egress/client-hello.js";

/** Captures the first bytes a real node:tls client sends for `servername`. */
function captureHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = createServer((socket) => {
      socket.once("data", (chunk: Buffer) => {
        resolve(chunk);
        socket.destroy();
        server.close();
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      const raw = tcpConnect(port, "127.0.0.1", () => {
        const tls = tlsConnect({ socket: raw, ...(servername ? { servername } : {}), rejectUnauthorized: false });
        tls.on("error", () => undefined);
      });
      raw.on("error", () => undefined);
    });
  });
}

describe("readClientHello", () => {
  let server: Server;
  let port: number;
  const accepted: Array<(s: Socket) => void> = [];
  beforeAll(async () => {
    server = createServer((s) => accepted.shift()?.(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  /** Sends `bytes` (in pieces of `step`) and returns what the reader made of them. */
  async function read(bytes: Buffer, step = bytes.length) {
    const got = new Promise<Socket>((resolve) => accepted.push(resolve));
    const client = tcpConnect(port, "127.0.0.1");
    const socket = await got;
    const result = readClientHello(socket, 2_000);
    for (let i = 0; i < bytes.length; i += step) {
      client.write(bytes.subarray(i, i + step));
      await new Promise((r) => setImmediate(r));
    }
    const out = await result;
    client.destroy();
    socket.destroy();
    return out;
  }

  it("reads the SNI of a real client's ClientHello, and keeps every byte it read", async () => {
    const hello = await captureHello("api.example.test");
    const result = await read(hello);
    expect(result).toMatchObject({ ok: true, sni: "api.example.test" });
    if (result.ok) expect(result.buffered.equals(hello)).toBe(true);
  });

  it("reads it when it arrives one byte at a time", async () => {
    const hello = await captureHello("split.example.test");
    expect(await read(hello, 1)).toMatchObject({ ok: true, sni: "split.example.test" });
  });

  it("reports no SNI for a client that sends none", async () => {
    expect(await read(await captureHello(undefined))).toMatchObject({ ok: true, sni: null });
  });

  it("refuses bytes that are not TLS", async () => {
    expect(await read(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))).toEqual({ ok: false, reason: "not-tls" });
  });

  it("gives up on a ClientHello that never completes", async () => {
    const hello = await captureHello("slow.example.test");
    expect(await read(hello.subarray(0, 20))).toEqual({ ok: false, reason: "timeout" });
  });
});
