/**
 * 2. Daemon throughput and latency: sessions opened and closed per second over the socket API at
 * concurrency 1 and 64 (static provider), against the ceiling — a bare node:http server on a
 * Unix socket in its own process answering a same-sized JSON body — driven by the same client:
 * one connection per worker, spoken with the broker's own wire code (wire-connection.ts says why).
 * Latency is per request (an open or a close); a whole open+close cycle's is in the JSON.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Cleanups } from "./fixture.js";
import { stopper, type BenchRoot, type Daemon } from "./fixture.js";
import { call, keepAliveAgent, runLoad, sessionCycle, type LoadResult } from "./http-load.js";
import type { Report } from "./report.js";
import { versus } from "./report.js";
import { median, percentile } from "./stats.js";
import { TASK } from "./tasks.js";
import { openWireConnection, type WireConnection } from "./wire-connection.js";

const SECTION = "2 daemon";
const CEILING = fileURLToPath(new URL("./ceiling-server.js", import.meta.url));

async function startCeiling(socket: string, bodyBytes: number, cleanups: Cleanups, framework?: "fastify"): Promise<() => Promise<void>> {
  const proc = spawn(process.execPath, [CEILING, socket, String(bodyBytes), ...(framework ? [framework] : [])], { stdio: ["pipe", "pipe", "inherit"] });
  const stop = stopper(proc, 5_000);
  cleanups.add(stop);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the ceiling server did not start within 10 s")), 10_000);
    proc.stdout!.setEncoding("utf8").on("data", (d: string) => {
      if (d.includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once("exit", (code) => reject(new Error(`the ceiling server exited with ${code}`)));
  });
  return stop;
}

interface Run {
  load: LoadResult;
  /** Every request's latency (an open or a close), ms. */
  requests: number[];
}

interface Summary {
  perSecond: number;
  p50: number;
  p99: number;
  cycleP50: number;
  cycleP99: number;
}

const summarise = (runs: Run[]): Summary => ({
  perSecond: median(runs.map((r) => r.load.perSecond)),
  p50: median(runs.map((r) => percentile(r.requests, 50))),
  p99: median(runs.map((r) => percentile(r.requests, 99))),
  cycleP50: median(runs.map((r) => percentile(r.load.latencies, 50))),
  cycleP99: median(runs.map((r) => percentile(r.load.latencies, 99))),
});

async function measure(connections: WireConnection[], concurrency: number, seconds: number): Promise<Run> {
  const requests: number[] = [];
  const caller = (worker: number, method: "POST" | "DELETE", path: string, body?: string) => connections[worker]!.request(method, path, body);
  const load = await runLoad(sessionCycle(caller, TASK.static, requests), concurrency, seconds * 1000);
  return { load, requests };
}

const openConnections = (socket: string, count: number): Promise<WireConnection[]> => Promise.all(Array.from({ length: count }, () => openWireConnection(socket)));

export async function benchThroughput(root: BenchRoot, daemon: Daemon, report: Report, cleanups: Cleanups, options: { rounds: number; seconds: number }): Promise<void> {
  // The ceiling answers with as many bytes as the daemon's answer to this very request.
  const probe = keepAliveAgent(1);
  const sample = await call(probe, root.socket, "POST", "/v1/sessions", JSON.stringify({ task: TASK.static }));
  await call(probe, root.socket, "DELETE", `/v1/sessions/${(JSON.parse(sample.body) as { id: string }).id}`);
  probe.destroy();
  const bodyBytes = Buffer.byteLength(sample.body);
  const ceilingSocket = join(root.path, "ceiling.sock");
  const stopCeiling = await startCeiling(ceilingSocket, bodyBytes, cleanups);
  const fastifySocket = join(root.path, "ceiling-fastify.sock");
  const stopFastify = await startCeiling(fastifySocket, bodyBytes, cleanups, "fastify");

  for (const concurrency of [1, 64]) {
    const broker = await openConnections(root.socket, concurrency);
    const ceiling = await openConnections(ceilingSocket, concurrency);
    await measure(broker, concurrency, 0.5);
    await measure(ceiling, concurrency, 0.5);
    // fastify alone, at 64 only: what of the ceiling the daemon's framework leaves for its own work.
    const framework = concurrency === 64 ? await openConnections(fastifySocket, concurrency) : [];
    if (framework.length > 0) await measure(framework, concurrency, 0.5);
    const runs = { broker: [] as Run[], ceiling: [] as Run[], fastify: [] as Run[] };
    for (let r = 0; r < options.rounds; r++) {
      runs.broker.push(await measure(broker, concurrency, options.seconds));
      runs.ceiling.push(await measure(ceiling, concurrency, options.seconds));
      if (framework.length > 0) runs.fastify.push(await measure(framework, concurrency, options.seconds));
    }
    for (const connection of [...broker, ...ceiling, ...framework]) connection.close();
    const b = summarise(runs.broker);
    const c = summarise(runs.ceiling);
    const at = `at concurrency ${concurrency}`;
    const ops = (rs: Run[]) => rs.map((r) => ({ sessions: r.load.ops, seconds: r.load.seconds }));
    const detail = { bodyBytes, broker: { ...b, runs: ops(runs.broker) }, ceiling: { ...c, runs: ops(runs.ceiling) } };
    report.add(
      versus({
        section: SECTION,
        measure: `sessions opened+closed/s ${at}`,
        value: b.perSecond,
        unit: "/s",
        against: { measure: "node:http ceiling", value: c.perSecond, unit: "/s" },
        ...(concurrency === 64 ? { target: "≥ 0.5× ceiling", met: b.perSecond >= 0.5 * c.perSecond } : {}),
        detail,
      }),
    );
    if (runs.fastify.length > 0) {
      const f = summarise(runs.fastify);
      const against = { measure: "node:http ceiling", value: c.perSecond, unit: "/s" };
      report.add(versus({ section: SECTION, measure: `fastify alone, the same answers, no session work, ${at}`, value: f.perSecond, unit: "/s", against, detail: { ...f } }));
    }
    report.add(versus({ section: SECTION, measure: `request latency p50 ${at}`, value: b.p50, unit: "ms", against: { measure: "ceiling", value: c.p50, unit: "ms" } }));
    report.add(
      versus({
        section: SECTION,
        measure: `request latency p99 ${at}`,
        value: b.p99,
        unit: "ms",
        against: { measure: "ceiling", value: c.p99, unit: "ms" },
        ...(concurrency === 64 ? { target: "≤ 5 ms", met: b.p99 <= 5 } : {}),
      }),
    );
  }
  await stopCeiling();
  await stopFastify();
  const live = (await daemon.client.health()).sessions;
  if (live !== 0) throw new Error(`${live} sessions were left open by the throughput runs`);
}
