/**
 * A TLS stand-in for an API that takes a secret (an OpenAI-like `Authorization: Bearer`, or a
 * `?key=` parameter), on 127.0.0.2 with a certificate from a test CA. It says whether each request
 * carried the real value, records what it saw (for the tests to count values in), and echoes
 * WebSocket messages. Its answers never hold a value.
 */
import { request as httpRequest, type ClientRequest } from "node:http";
import { createServer, request as httpsRequest, type Server } from "node:https";
import { connect as tlsConnect } from "node:tls";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import { parseReport } from "../helpers/bwrap.js";
import type { TestCa } from "../helpers/test-ca.js";

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface ApiStandIn {
  port: number;
  seen: SeenRequest[];
  /** Everything it received, headers and bodies, as one text to search. */
  received(): string;
  close(): Promise<void>;
}

export async function startApiStandIn(ca: TestCa, real: { bearer: string; key?: string }): Promise<ApiStandIn> {
  const seen: SeenRequest[] = [];
  const verdict = (headers: SeenRequest["headers"], url: string) => {
    const query = new URL(url, "https://stand-in.invalid").searchParams;
    return {
      auth: headers.authorization === `Bearer ${real.bearer}` ? "ok" : headers.authorization === undefined ? "none" : "bad",
      key: real.key === undefined ? "n/a" : query.get("key") === real.key ? "ok" : query.has("key") ? "bad" : "none",
    };
  };
  const server: Server = createServer(ca.server, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const answer = JSON.stringify({ ...verdict(req.headers, req.url ?? "/"), path: new URL(req.url ?? "/", "https://x.invalid").pathname, bytes: body.length });
      res.writeHead(200, { "content-type": "application/json" }).end(`${answer}\n`);
    });
  });
  const sockets = new WebSocketServer({ server });
  sockets.on("connection", (socket, req) => {
    seen.push({ method: "WEBSOCKET", url: req.url ?? "", headers: req.headers, body: Buffer.alloc(0) });
    const { auth } = verdict(req.headers, req.url ?? "/");
    socket.on("message", (data: Buffer) => socket.send(`echo ${data.toString("utf8")} auth=${auth}`));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.2", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    received: () => seen.map((s) => `${s.method} ${s.url}\n${JSON.stringify(s.headers)}\n${s.body.toString("latin1")}`).join("\n"),
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** How many times `value` occurs in `text`. */
export const occurrences = (text: string, value: string): number => (value === "" ? 0 : text.split(value).length - 1);

/** A box's `name=value` report, with each `name_b64` line also decoded under `name`. */
export function boxReport(stdout: string): Record<string, string> {
  const seen = parseReport(stdout);
  for (const [name, value] of Object.entries(seen)) if (name.endsWith("_b64")) seen[name.slice(0, -4)] = Buffer.from(value, "base64").toString("utf8");
  return seen;
}

type Answer = { status: number; body: string };

/** Sends `get` and settles with its whole answer. */
function answered(get: ClientRequest, resolve: (answer: Answer) => void, reject: (error: Error) => void): void {
  get.on("error", reject);
  get.on("response", (res) => {
    const chunks: Buffer[] = [];
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
  });
  get.end();
}

/** One HTTPS GET as a wrapper's own sandbox makes it: CONNECT over the session proxy's Unix socket, then TLS trusting `ca`. */
export function getViaProxy(proxySocket: string, port: number, ca: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const connect = httpRequest({ socketPath: proxySocket, method: "CONNECT", path: `127.0.0.2:${port}` });
    connect.on("error", reject);
    connect.on("connect", (answer, socket) => {
      if (answer.statusCode !== 200) return reject(new Error(`CONNECT answered ${answer.statusCode}`));
      // No agent: with createConnection and no agent, the request goes over this very socket.
      const get = httpsRequest({ createConnection: () => tlsConnect({ socket, host: "127.0.0.2", ca }), host: "127.0.0.2", port, path, headers });
      answered(get, resolve, reject);
    });
    connect.end();
  });
}

/** The same GET straight to the stand-in, as someone holding a captured request would replay it. */
export function getDirect(port: number, ca: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const get = httpsRequest({ host: "127.0.0.2", port, ca, path, headers, agent: false });
    answered(get, resolve, reject);
  });
}
