/**
 * `broker revoke --task T | --all` against a daemon that predates `DELETE /v1/sessions` (the CLI
 * upgraded, the running daemon not yet): no such daemon version can be run here, so a stand-in
 * on a Unix socket answers as such a daemon did, and the CLI falls back to one DELETE per session.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const SESSIONS = [
  { id: "11111111-1111-4111-8111-111111111111", task: "report" },
  { id: "22222222-2222-4222-8222-222222222222", task: "deploy" },
  { id: "33333333-3333-4333-8333-333333333333", task: "report" },
];

describe("broker revoke against a daemon without the bulk route", () => {
  const dir = tempDir("broker-old-daemon-");
  const socket = join(dir.path, "run", "broker.sock");
  const requests: string[] = [];
  let server: Server;
  beforeAll(async () => {
    mkdirSync(join(dir.path, "run"), { mode: 0o700 });
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.method === "GET" && req.url?.startsWith("/v1/sessions")) return json(200, SESSIONS.map((s) => ({ ...s, createdAt: "2026-01-01T00:00:00Z", expiresAt: "2026-01-01T01:00:00Z" })));
      if (req.method === "DELETE" && /^\/v1\/sessions\/[\w-]+$/.test(req.url ?? "")) return void res.writeHead(204).end();
      json(404, { error: { code: "ERR_ROUTE_NOT_FOUND", message: `no route ${req.method} ${req.url?.split("?")[0]}` } });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    chmodSync(socket, 0o600); // as the daemon makes it: the client talks to no other
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    dir.cleanup();
  });

  it("--task ends the task's listed sessions one by one, and only those", async () => {
    const result = await runCli(["revoke", "--task", "report", "--json"], { env: { ...process.env, BROKER_SOCKET: socket } });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ revoked: [SESSIONS[0]!.id, SESSIONS[2]!.id] });
    expect(requests.filter((r) => r.startsWith("DELETE")).sort()).toEqual(["DELETE /v1/sessions?task=report", `DELETE /v1/sessions/${SESSIONS[0]!.id}`, `DELETE /v1/sessions/${SESSIONS[2]!.id}`].sort());
  });
});
