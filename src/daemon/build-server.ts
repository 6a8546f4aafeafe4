/**
 * The daemon's HTTP API (docs/interface.md "Socket API"), built apart from `listen` so tests can
 * inject requests or listen on a temp socket. Every error leaves as `{error:{code,message}}`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from "fastify";
import { BrokerError, isBrokerError } from "../errors.js";
import type { SessionEvents } from "../sessions/session-events.js";
import type { SessionManager } from "../sessions/session-manager.js";
import type { OpenSessionRequest } from "../sessions/types.js";
import { parseDuration } from "../util/duration.js";
import type { Approvals } from "../approval/pending-approvals.js";
import { registerApprovalRoutes } from "./approval-routes.js";
import { approvalWait } from "./approval-wait.js";
import { endSessions } from "./end-sessions.js";
import { holdOpen } from "./connection-gate.js";
import type { Logger } from "./logger.js";
import { registerEventRoutes } from "./session-events-route.js";
import { credentialsSchema, errorSchema, healthSchema, openSessionBody, sessionIdParams, sessionSchema, sessionWithCredentialsSchema } from "./schemas.js";

export interface ServerDeps {
  sessions: SessionManager;
  logger: Logger;
  version: string;
  /** True once shutdown has begun: new sessions are refused. */
  stopping: () => boolean;
  /** Calls back once the journal records and audit lines queued so far are written: waited for before every answer. */
  afterWrite: (callback: () => void) => void;
  /** Refresh and end events for sessions' holders (`broker run`). */
  events?: SessionEvents;
  /** For `broker doctor`: whether the kernel would write a core of the daemon. */
  coreDumps?: () => "on" | "off" | "unknown";
  /** Requests waiting for a person's approval (policy `approval:`), and the operator's routes for them. */
  approvals?: Approvals;
}

interface OpenBody {
  task: string;
  ttl?: number | string;
  sandbox?: OpenSessionRequest["sandbox"];
  scope?: OpenSessionRequest["scope"];
  bind?: "connection";
  confine?: boolean;
  unboxed?: boolean;
  envDelivery?: OpenSessionRequest["envDelivery"];
  requires?: OpenSessionRequest["requires"];
  /** BROKER_SESSION of the caller, when it asks from inside a session: shown to an approver if it names a live one. */
  parent?: string;
}

const errors = { "4xx": errorSchema, "5xx": errorSchema };
const endQuery = { type: "object", properties: { view: { type: "string", enum: ["1"] } }, additionalProperties: false } as const;
const sessionsQuery = { type: "object", properties: { task: { type: "string", minLength: 1, maxLength: 200 } }, additionalProperties: false } as const;
const endManyQuery = { type: "object", properties: { ...sessionsQuery.properties, all: { type: "string", enum: ["1"] } }, additionalProperties: false } as const;
const revokedSchema = { type: "object", properties: { revoked: { type: "array", items: { type: "string" } } }, required: ["revoked"], additionalProperties: false } as const;

export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    // Fastify's defaults would silently drop unknown keys and coerce types; we refuse both.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    clientErrorHandler: answerUnparsable,
    // A path with broken percent-encoding never reaches a route; answer it like any bad request.
    frameworkErrors: (_error, _request, reply: FastifyReply) => {
      void reply.status(400).send({ error: new BrokerError("ERR_BAD_REQUEST", "the URL is not valid (broken percent-encoding)", { fix: "see the socket API in docs/interface.md" }).toJSON() });
    },
  });

  // An `Expect` other than 100-continue: Node would answer a bare 417 on its own; answer it coded.
  app.server.on("checkExpectation", (_request: IncomingMessage, response: ServerResponse) => {
    const body = JSON.stringify({ error: new BrokerError("ERR_BAD_REQUEST", "unsupported Expect header", { fix: "send no Expect header, or Expect: 100-continue" }).toJSON() });
    response.writeHead(417, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "close" }).end(body);
  });

  // CONNECT never reaches a route: without a listener Node would drop the connection unanswered.
  app.server.on("connect", (request: IncomingMessage, socket: Socket) =>
    answerRaw(socket, 404, "Not Found", new BrokerError("ERR_ROUTE_NOT_FOUND", `no route CONNECT ${(request.url ?? "").slice(0, 200)}`, { fix: "see the socket API in docs/interface.md" })),
  );

  // A caller that reads the audit log after an answer finds the lines that request wrote. Lines
  // share a write per turn of the event loop or per batch (util/file-appender.ts), so this waits at
  // most for the end of the turn.
  app.addHook("onSend", (_request, _reply, payload, done) => deps.afterWrite(() => done(null, payload)));

  app.setErrorHandler((error: FastifyError | BrokerError, request, reply) => {
    const mapped = toBrokerError(error);
    if (mapped.status >= 500) deps.logger.log("error", "request failed", { method: request.method, url: request.url.split("?")[0], code: mapped.code, name: error.name });
    // A budget refusal says when to come back (RFC 9110 §10.2.3), in whole seconds.
    const retryAfter = mapped.details?.retryAfterSeconds;
    if (mapped.status === 429 && typeof retryAfter === "number") void reply.header("retry-after", String(retryAfter));
    void reply.status(mapped.status).send({ error: mapped.toJSON() });
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new BrokerError("ERR_ROUTE_NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]?.slice(0, 200)}`, { fix: "see the socket API in docs/interface.md" });
    void reply.status(404).send({ error: error.toJSON() });
  });

  app.get("/v1/health", { schema: { response: { 200: healthSchema } } }, async () => ({ ok: true, version: deps.version, sessions: deps.sessions.size(), coreDumps: deps.coreDumps?.() ?? "unknown" }));

  app.post<{ Body: OpenBody }>("/v1/sessions", { schema: { body: openSessionBody, response: { 201: sessionWithCredentialsSchema, ...errors } } }, async (request, reply) => {
    if (deps.stopping()) throw new BrokerError("ERR_DAEMON_STOPPING", "the daemon is shutting down", { fix: "start it again and retry" });
    const body = request.body;
    const opening = approvalWait(request.raw.socket, reply.raw, liveParent(deps.sessions, body.parent));
    const session = await deps.sessions.open({
      task: body.task,
      ...(body.ttl !== undefined ? { ttlSeconds: requestedTtl(body.ttl) } : {}),
      ...(body.sandbox ? { sandbox: body.sandbox } : {}),
      ...(body.scope ? { scope: body.scope } : {}),
      ...(body.confine === true ? { confine: true } : {}),
      ...(body.unboxed === true ? { unboxed: true } : {}),
      ...(body.envDelivery ? { envDelivery: body.envDelivery } : {}),
      ...(body.requires ? { requires: body.requires } : {}),
      approval: opening.wait,
    }).finally(() => opening.done());
    if (body.bind === "connection") bindToConnection(request.raw.socket, reply.raw, () => deps.sessions.end(session.id, "disconnect"));
    // The answer is returned, not sent: returning `reply` would have fastify await it as a thenable.
    reply.status(201);
    const view = deps.sessions.view(session, true);
    return session.warnings.length > 0 ? { ...view, warnings: session.warnings } : view;
  });

  // `?task=T`: that task's sessions only, and a coded error for a task that does not exist.
  app.get<{ Querystring: { task?: string } }>("/v1/sessions", { schema: { querystring: sessionsQuery, response: { 200: { type: "array", items: sessionSchema }, ...errors } } }, async (request) =>
    (request.query.task === undefined ? deps.sessions.list() : deps.sessions.listTask(request.query.task)).map((s) => deps.sessions.view(s, false)),
  );

  app.get<{ Params: { id: string } }>("/v1/sessions/:id", { schema: { params: sessionIdParams, response: { 200: sessionSchema, ...errors } } }, async (request) =>
    deps.sessions.view(deps.sessions.get(request.params.id), false),
  );

  app.get<{ Params: { id: string } }>("/v1/sessions/:id/credentials", { schema: { params: sessionIdParams, response: { 200: credentialsSchema, ...errors } } }, async (request) =>
    deps.sessions.credentials(deps.sessions.get(request.params.id)),
  );

  // `?view=1`: 200 with the ended session as GET showed it (no credentials), the hosts its proxy
  // refused included, so `broker run` ends its session and learns them in one round trip.
  app.delete<{ Params: { id: string }; Querystring: { view?: "1" } }>("/v1/sessions/:id", { schema: { params: sessionIdParams, querystring: endQuery, response: { 200: sessionSchema, ...errors } } }, async (request, reply) => {
    const session = request.query.view ? deps.sessions.get(request.params.id) : undefined;
    await deps.sessions.end(request.params.id, "close");
    if (session) return deps.sessions.view(session, false);
    reply.status(204);
  });

  // Every session (`?all=1`) or a task's (`?task=T`), never by default: a bare DELETE ends nothing.
  app.delete<{ Querystring: { task?: string; all?: "1" } }>("/v1/sessions", { schema: { querystring: endManyQuery, response: { 200: revokedSchema, ...errors } } }, async (request) => {
    const { task, all } = request.query;
    if ((task === undefined) === (all === undefined)) {
      throw new BrokerError("ERR_BAD_REQUEST", "name the sessions to end: ?task=T or ?all=1 (exactly one)", { fix: "send DELETE /v1/sessions?task=T, or ?all=1 for every live session" });
    }
    return { revoked: await endSessions(deps.sessions, task === undefined ? deps.sessions.list() : deps.sessions.listTask(task)) };
  });

  if (deps.events) registerEventRoutes(app, { sessions: deps.sessions, events: deps.events });
  if (deps.approvals) registerApprovalRoutes(app, deps.approvals);
  return app;
}

function liveParent(sessions: SessionManager, id: string | undefined): string | null {
  if (id === undefined) return null;
  try {
    return sessions.get(id).id;
  } catch {
    return null;
  }
}

function requestedTtl(ttl: number | string): number {
  const seconds = parseDuration(ttl);
  if (seconds === null || seconds < 1) {
    throw new BrokerError("ERR_BAD_REQUEST", "ttl must be a positive duration such as 900, \"15m\" or \"1h\"", { fix: "send ttl as whole seconds or a duration like 15m" });
  }
  return seconds;
}

/**
 * `bind: "connection"`: the session ends when the connection that created it closes. The server
 * would otherwise close an idle keep-alive connection after a few seconds, or let a newcomer take
 * its place at the connection cap, so it is held open.
 */
function bindToConnection(socket: Socket, response: ServerResponse, end: () => Promise<void>): void {
  const onClose = () => void end().catch(() => undefined);
  if (socket.destroyed) return onClose();
  socket.once("close", onClose);
  holdOpen(socket);
  // Node sets the keep-alive timeout once the answer is written: lift it again.
  response.once("finish", () => socket.setTimeout(0));
}

/**
 * Node's HTTP parser refused the bytes before any route saw them (a bad request line, an invalid
 * header, conflicting lengths, headers over 16 KiB). Fastify's default answer is not our error
 * shape; this one is, so every refusal a client gets carries a code.
 */
function answerUnparsable(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const fix = "send HTTP/1.1 with JSON bodies; see the socket API in docs/interface.md";
  if (error.code === "HPE_HEADER_OVERFLOW") return answerRaw(socket, 431, "Request Header Fields Too Large", new BrokerError("ERR_BAD_REQUEST", "the request's headers are over 16 KiB", { fix }));
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") return answerRaw(socket, 408, "Request Timeout", new BrokerError("ERR_BAD_REQUEST", "the request did not arrive in time", { fix }));
  answerRaw(socket, 400, "Bad Request", new BrokerError("ERR_BAD_REQUEST", `not a valid HTTP/1.1 request (${(error.code ?? "unparsable").slice(0, 60)})`, { fix }));
}

/** Answers on a connection no route will handle, like Node's own default: only if nothing was written yet; then closes it. */
function answerRaw(socket: Socket, status: number, reason: string, error: BrokerError): void {
  const body = JSON.stringify({ error: error.toJSON() });
  if (socket.writable && socket.bytesWritten === 0) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

function toBrokerError(error: FastifyError | BrokerError): BrokerError {
  if (isBrokerError(error)) return error;
  const fe = error as FastifyError;
  if (fe.validation) return new BrokerError("ERR_BAD_REQUEST", `invalid request: ${fe.message.slice(0, 300)}`, { fix: "see the socket API in docs/interface.md for the body it takes" });
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new BrokerError("ERR_BODY_TOO_LARGE", "request body is over 64 KiB", { fix: "send a smaller body" });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new BrokerError("ERR_UNSUPPORTED_MEDIA_TYPE", "send JSON with content-type: application/json", {});
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new BrokerError("ERR_BAD_REQUEST", fe.message, {});
  }
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    // JSON syntax errors and other client errors: say what is wrong in general terms only.
    return new BrokerError("ERR_BAD_REQUEST", fe instanceof SyntaxError || /JSON/.test(fe.message) ? "request body is not valid JSON" : `bad request (${fe.code ?? fe.statusCode})`, {});
  }
  return new BrokerError("ERR_INTERNAL", "internal error; see the daemon's log", {});
}
