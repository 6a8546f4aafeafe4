/**
 * `GET /v1/sessions/{id}/events`: newline-delimited JSON, one event per line, for as long as the
 * session lives (`refresh` with the new credentials and a `seq`, then `end` with the reason); the
 * daemon closes the stream after `end`. `POST /v1/sessions/{id}/events/ack {seq}` acknowledges a
 * refresh. Main socket only: the session socket a box sees does not answer these.
 *
 * The answer is written straight to the socket (`Connection: close`, the body running until the
 * close), like answerRaw in build-server.ts, so a client needs no chunked decoding to read it.
 */
import type { FastifyInstance } from "fastify";
import type { SessionEvent, SessionEvents } from "../sessions/session-events.js";
import type { SessionManager } from "../sessions/session-manager.js";
import { holdOpen } from "./connection-gate.js";
import { errorSchema, sessionIdParams } from "./schemas.js";

const ackBody = {
  type: "object",
  additionalProperties: false,
  required: ["seq"],
  properties: { seq: { type: "integer", minimum: 1 } },
} as const;

export function registerEventRoutes(app: FastifyInstance, deps: { sessions: SessionManager; events: SessionEvents }): void {
  app.get<{ Params: { id: string } }>("/v1/sessions/:id/events", { schema: { params: sessionIdParams, response: { "4xx": errorSchema } } }, async (request, reply) => {
    const { id } = request.params;
    // An unknown id is 404, except one that ended a moment ago: its watcher still gets the reason.
    try {
      deps.sessions.get(id);
    } catch (error) {
      let reason: SessionEvent | undefined;
      deps.events.watch(id, (event) => (reason = event))();
      if (!reason) throw error;
    }
    const socket = request.raw.socket;
    reply.hijack();
    // Exempt from the idle timeout and never given way at the connection cap: the stream is
    // quiet for as long as nothing happens.
    holdOpen(socket);
    socket.write("HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncache-control: no-store\r\nconnection: close\r\n\r\n");
    const send = (event: SessionEvent) => {
      if (!socket.writable) return;
      socket.write(`${JSON.stringify(event)}\n`);
      if (event.type === "end") socket.end();
    };
    const stop = deps.events.watch(id, send);
    socket.once("close", stop);
  });

  app.post<{ Params: { id: string }; Body: { seq: number } }>(
    "/v1/sessions/:id/events/ack",
    { schema: { params: sessionIdParams, body: ackBody, response: { "4xx": errorSchema } } },
    async (request, reply) => {
      deps.events.ack(request.params.id, request.body.seq);
      reply.status(204);
    },
  );
}
