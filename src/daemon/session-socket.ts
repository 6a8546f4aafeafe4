/**
 * The per-session socket a confined command reaches the broker by (BROKER_SOCKET inside the
 * box). It answers for its own session alone: `GET /v1/session`, `GET /v1/session/credentials`
 * and `GET /v1/health`; every other call is 403 ERR_SESSION_SCOPE, so the command can neither
 * open, list nor end sessions, nor read another session's credentials. node:http is enough here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { BrokerError } from "../errors.js";
import type { SessionCredentials, SessionView } from "../sessions/types.js";
import type { ConnectionGate } from "./connection-gate.js";
import { applyServerTimeouts } from "./server-timeouts.js";

export interface SessionApi {
  view(): SessionView;
  credentials(): SessionCredentials;
  version: string;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  res.end(text);
}

function refuse(res: ServerResponse, req: IncomingMessage): void {
  const route = `${req.method ?? "?"} ${(req.url ?? "").split("?")[0]!.slice(0, 200)}`;
  const error = new BrokerError("ERR_SESSION_SCOPE", `the session socket does not answer ${route}: it serves only this session`, {
    fix: "from inside a session use GET /v1/session or GET /v1/session/credentials; other calls need the operator's socket",
  });
  send(res, 403, { error: error.toJSON() });
}

function answer(api: SessionApi, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "").split("?")[0];
  if (req.method !== "GET") return refuse(res, req);
  if (path === "/v1/health") return send(res, 200, { ok: true, version: api.version, sessions: 1 });
  if (path === "/v1/session") {
    const { id, task, createdAt, expiresAt, sandbox } = api.view();
    return send(res, 200, { id, task, createdAt, expiresAt, ...(sandbox ? { sandbox } : {}) });
  }
  if (path === "/v1/session/credentials") return send(res, 200, api.credentials());
  refuse(res, req);
}

/** Without a gate (tests of this file alone) the server is still capped, by Node's silent limit. */
export interface SessionSocketLimits {
  gate: ConnectionGate;
  scope: string;
  perPeer: number;
}

export async function listenSessionSocket(path: string, api: SessionApi, limits?: SessionSocketLimits): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    try {
      answer(api, req, res);
    } catch (error) {
      const e = error instanceof BrokerError ? error : new BrokerError("ERR_INTERNAL", "internal error; see the daemon's log", {});
      if (!res.headersSent) send(res, e.status, { error: e.toJSON() });
    }
  });
  applyServerTimeouts(server);
  if (limits) limits.gate.guard(server, limits.scope, limits.perPeer);
  else server.maxConnections = 64;
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  return server;
}
