/**
 * A load generator for HTTP over a Unix socket: N workers, each repeating one operation until a
 * deadline. The same code drives the daemon and the bare node:http ceiling, so the client's own
 * cost is in both figures alike. The throughput runs give each worker a connection of its own
 * (wire-connection.ts); the other sections call through a keep-alive node:http agent.
 */
import { Agent, request } from "node:http";
import { since } from "./stats.js";

export interface Answer {
  status: number;
  body: string;
}

export function call(agent: Agent, socketPath: string, method: "GET" | "POST" | "DELETE", path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    const req = request({ socketPath, method, path, agent, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends one request for worker `worker` (on its own connection, or a shared agent). */
export type Caller = (worker: number, method: "POST" | "DELETE", path: string, body?: string) => Promise<Answer>;

/** One session's life over the socket API: POST /v1/sessions, then DELETE it; each request's latency (ms) goes to `requests`. */
export function sessionCycle(caller: Caller, task: string, requests: number[] = []): (worker: number) => Promise<void> {
  const body = JSON.stringify({ task });
  return async (worker) => {
    let t = performance.now();
    const opened = await caller(worker, "POST", "/v1/sessions", body);
    requests.push(since(t));
    if (opened.status !== 201) throw new Error(`open answered ${opened.status}: ${opened.body.slice(0, 300)}`);
    const { id } = JSON.parse(opened.body) as { id: string };
    t = performance.now();
    const closed = await caller(worker, "DELETE", `/v1/sessions/${id}`);
    requests.push(since(t));
    if (closed.status !== 204) throw new Error(`close answered ${closed.status}: ${closed.body.slice(0, 300)}`);
  };
}

/** Opens one session and returns what the daemon answered (id and expiresAt). */
export async function openSession(agent: Agent, socketPath: string, request: Record<string, unknown>): Promise<{ id: string; expiresAt: string }> {
  const opened = await call(agent, socketPath, "POST", "/v1/sessions", JSON.stringify(request));
  if (opened.status !== 201) throw new Error(`open answered ${opened.status}: ${opened.body.slice(0, 300)}`);
  return JSON.parse(opened.body) as { id: string; expiresAt: string };
}

export interface LoadResult {
  ops: number;
  seconds: number;
  perSecond: number;
  /** Per operation, ms. */
  latencies: number[];
}

/** Runs `op` from `concurrency` workers (each passes its index) until `durationMs` has passed (or `maxOps` are done). */
export async function runLoad(op: (worker: number) => Promise<void>, concurrency: number, durationMs: number, maxOps = Infinity): Promise<LoadResult> {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + durationMs;
  let started = 0;
  const worker = async (index: number) => {
    while (performance.now() < deadline && started < maxOps) {
      started += 1;
      const t = performance.now();
      await op(index);
      latencies.push(since(t));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, index) => worker(index)));
  const seconds = since(start) / 1000;
  return { ops: latencies.length, seconds, perSecond: latencies.length / seconds, latencies };
}

/** Runs `count` operations from `concurrency` workers (each gets the operation's index). */
export async function runCount<T>(count: number, concurrency: number, op: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      out[i] = await op(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

export const keepAliveAgent = (maxSockets: number): Agent => new Agent({ keepAlive: true, maxSockets });
