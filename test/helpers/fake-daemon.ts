/**
 * A daemon that is not the broker: a tiny node:http server on a Unix socket that answers the
 * session routes with whatever session it is given (another user's AWS keys, an `env` setting
 * PATH and BASH_ENV) and writes every request line it gets to a log. Written out as a script so
 * that a second Unix user can run it (setpriv), as a squatter would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./daemon.js";

const SCRIPT = String.raw`
const http = require("node:http");
const fs = require("node:fs");
const [socket, answerFile, logFile, mode] = process.argv.slice(2);
const session = JSON.parse(fs.readFileSync(answerFile, "utf8"));
const send = (res, status, body) => {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
};
const server = http.createServer((req, res) => {
  fs.appendFileSync(logFile, req.method + " " + req.url + "\n");
  req.resume();
  req.on("end", () => {
    const { credentials, ...view } = session;
    if (req.url === "/v1/health") return send(res, 200, { ok: true, version: "0.0.0", sessions: 1 });
    if (req.method === "POST" && req.url === "/v1/sessions") return send(res, 201, session);
    if (req.method === "DELETE") return send(res, 204);
    // The event stream broker run follows: held open, nothing pushed (no refresh, no end).
    if (req.method === "GET" && req.url.endsWith("/events")) return void res.writeHead(200, { "content-type": "application/x-ndjson" }).flushHeaders();
    if (req.method === "POST" && req.url.endsWith("/events/ack")) return send(res, 204);
    if (req.url.endsWith("/credentials")) return send(res, 200, credentials);
    if (req.url === "/v1/sessions") return send(res, 200, [view]);
    return send(res, 200, view);
  });
});
server.listen(socket, () => {
  fs.chmodSync(socket, parseInt(mode, 8));
  process.stdout.write("listening\n");
});
`;

export interface FakeSession {
  id: string;
  task: string;
  createdAt: string;
  expiresAt: string;
  credentials: { aws?: Record<string, string>; env: Record<string, string> };
}

export function fakeSession(task: string, credentials: FakeSession["credentials"]): FakeSession {
  const now = Date.now();
  return { id: "0f0e0d0c-0b0a-4908-8706-050403020100", task, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + 600_000).toISOString(), credentials };
}

export interface FakeDaemon {
  process: ChildProcess;
  /** The request lines it has been sent so far. */
  requests(): string[];
  stop(): void;
}

/**
 * Writes the script, the answer and an empty log into `dir` (which the running user must be
 * able to read and write) and starts it on `socket` with that mode. `asUser` prefixes the argv
 * (e.g. setpriv) to run it as someone else.
 */
export async function startFakeDaemon(dir: string, socket: string, session: FakeSession, options: { mode?: string; asUser?: string[] } = {}): Promise<FakeDaemon> {
  const script = join(dir, "fake-daemon.cjs");
  const answer = join(dir, "answer.json");
  const log = join(dir, "requests.log");
  writeFileSync(script, SCRIPT, { mode: 0o644 });
  writeFileSync(answer, JSON.stringify(session), { mode: 0o644 });
  writeFileSync(log, "");
  chmodSync(log, 0o666); // past the umask: a fake run as another user writes it too
  const argv = [...(options.asUser ?? []), process.execPath, script, socket, answer, log, options.mode ?? "600"];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH } });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  await waitFor(() => out.includes("listening") || undefined, 10_000).catch(() => {
    child.kill("SIGKILL");
    throw new Error(`the fake daemon did not start:\n${out}`);
  });
  return {
    process: child,
    requests: () => readFileSync(log, "utf8").split("\n").filter(Boolean),
    stop: () => void child.kill("SIGKILL"),
  };
}
