/**
 * Section 8's far end: an HTTPS server on 127.0.0.2 (openssl's certificate, so the proxy trusts it
 * only through upstreamCa) that answers 401 unless it sees `Authorization: Bearer <real>`: every
 * 200 a box-side request gets is one the proxy really injected.
 */
import { createServer } from "node:https";
import { opensslCert } from "./egress.js";
import type { Cleanups } from "./fixture.js";

const HOST = "127.0.0.2";
const SMALL = Buffer.alloc(256, 0x62);
export const CHUNK = Buffer.alloc(1024 * 1024, 0x61);

export interface StandIn {
  port: number;
  cert: string;
  /** Requests answered 401 (no `Authorization: Bearer <real>`). */
  refused(): number;
}

/** GET /?mib=N sends N MiB (0: a 256-byte body); POST counts the body it is sent. Every request needs the real bearer. */
export async function startStandIn(cleanups: Cleanups, real: string): Promise<StandIn> {
  const tls = opensslCert(HOST);
  let refused = 0;
  const server = createServer(tls, (req, res) => {
    if (req.headers.authorization !== `Bearer ${real}`) {
      refused++;
      req.resume();
      return void res.writeHead(401, { "content-length": "0" }).end();
    }
    if (req.method === "POST") {
      let bytes = 0;
      req.on("data", (chunk: Buffer) => (bytes += chunk.length));
      return void req.on("end", () => res.writeHead(200, { "content-length": String(String(bytes).length) }).end(String(bytes)));
    }
    let left = Number(new URL(req.url ?? "/", "https://stand-in").searchParams.get("mib") ?? 0);
    if (left === 0) return void res.writeHead(200, { "content-length": String(SMALL.length) }).end(SMALL);
    res.writeHead(200, { "content-length": String(left * CHUNK.length) });
    const pump = (): void => {
      for (; left > 0; left--) if (!res.write(CHUNK)) return void res.once("drain", () => (left--, pump()));
      res.end();
    };
    pump();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.add(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  return { port: (server.address() as { port: number }).port, cert: tls.cert, refused: () => refused };
}
