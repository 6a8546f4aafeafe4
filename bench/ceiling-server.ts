/**
 * The throughput ceiling: a bare node:http server on a Unix socket, in a process of its own,
 * that parses the request body and answers POST with a JSON body as large as the daemon's
 * session answer (201) and DELETE with 204. Nothing a real daemon does can be faster on this box.
 *
 * With `fastify` it answers the same through fastify, the daemon's own framework, with a body
 * schema and a response schema as the daemon's routes have: what the framework alone costs.
 *
 * usage: node ceiling-server.js SOCKET BODY_BYTES [fastify]   (prints "ready" once listening;
 * SIGTERM or the end of its stdin stops it)
 */
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { rmSync } from "node:fs";

const [socketPath, bytesArg, framework] = process.argv.slice(2);
const bodyBytes = Number(bytesArg);
if (!socketPath || !Number.isInteger(bodyBytes) || bodyBytes < 64) {
  process.stderr.write("usage: ceiling-server.js SOCKET BODY_BYTES [fastify]\n");
  process.exit(2);
}

function answer(): string {
  const head = `{"id":"${randomUUID()}","pad":"`;
  return `${head}${"x".repeat(Math.max(0, bodyBytes - head.length - 2))}"}`;
}

/** The same two answers through fastify: a validated body in, a serialised body out. */
async function fastifyServer(): Promise<Server> {
  const { default: Fastify } = await import("fastify");
  const app = Fastify({ logger: false });
  const body = { type: "object", properties: { task: { type: "string", minLength: 1 } }, required: ["task"], additionalProperties: false } as const;
  const answerSchema = { type: "object", properties: { id: { type: "string" }, pad: { type: "string" } } } as const;
  app.post("/v1/sessions", { schema: { body, response: { 201: answerSchema } } }, async (_request, reply) => {
    reply.status(201);
    return JSON.parse(answer()) as unknown;
  });
  app.delete("/v1/sessions/:id", async (_request, reply) => void reply.status(204));
  await app.ready();
  return app.server;
}

const bare = createServer((req, res) => {
  let text = "";
  req.setEncoding("utf8");
  req.on("data", (d: string) => (text += d));
  req.on("end", () => {
    if (req.method === "POST") {
      JSON.parse(text || "{}");
      const body = answer();
      res.writeHead(201, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) }).end(body);
    } else if (req.method === "DELETE") {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
});

const server = framework === "fastify" ? await fastifyServer() : bare;
rmSync(socketPath, { force: true });
server.listen(socketPath, () => process.stdout.write("ready\n"));
const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on("SIGTERM", stop);
// The bench holds our stdin: when it is gone, so are we.
process.stdin.on("end", stop).resume();
