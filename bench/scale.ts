/**
 * 4. Scale: 10,000 live sessions (static provider). The daemon's RSS with all of them open; the
 * time `broker revoke --all` takes to end them; and, for 10,000 sessions opened with a short TTL,
 * how late each expiry fires: the audit log's `expire` time minus the session's expiresAt.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { broker, type BenchRoot, type Daemon } from "./fixture.js";
import { keepAliveAgent, openSession, runCount } from "./http-load.js";
import type { Report } from "./report.js";
import { max, percentile, since } from "./stats.js";
import { SCALE_SESSIONS, TASK } from "./tasks.js";

const SECTION = "4 scale";
const MB = 1024 * 1024;
const EXPIRY_TTL_SECONDS = 8;

async function openMany(root: BenchRoot, count: number, request: Record<string, unknown>): Promise<{ sessions: Array<{ id: string; expiresAt: string }>; ms: number }> {
  const agent = keepAliveAgent(64);
  const start = performance.now();
  const sessions = await runCount(count, 64, () => openSession(agent, root.socket, request));
  const ms = since(start);
  agent.destroy();
  return { sessions, ms };
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function expireTimes(root: BenchRoot): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(join(root.stateDir, "audit.jsonl"), "utf8").split("\n")) {
    if (!line.includes('"expire"')) continue;
    const entry = JSON.parse(line) as { event: string; session: string; time: string };
    if (entry.event === "expire") out.set(entry.session, Date.parse(entry.time));
  }
  return out;
}

export async function benchScale(root: BenchRoot, daemon: Daemon, report: Report): Promise<void> {
  const idle = daemon.rss();
  const opened = await openMany(root, SCALE_SESSIONS, { task: TASK.scale });
  const live = (await daemon.client.health()).sessions;
  if (live < SCALE_SESSIONS) throw new Error(`only ${live} of ${SCALE_SESSIONS} sessions are live`);
  const rss = daemon.rss();
  report.add({
    section: SECTION,
    measure: `daemon RSS with ${live} live sessions`,
    value: rss / MB,
    unit: "MB",
    against: { measure: "idle daemon", value: idle / MB, unit: "MB" },
    target: "≤ 250 MB",
    met: rss <= 250 * MB,
    detail: { openMs: opened.ms, opensPerSecond: (SCALE_SESSIONS / opened.ms) * 1000 },
  });

  const start = performance.now();
  broker(root, ["revoke", "--all"], { timeoutMs: 120_000 });
  const endAll = since(start);
  const left = (await daemon.client.health()).sessions;
  if (left !== 0) throw new Error(`broker revoke --all left ${left} sessions`);
  report.add({ section: SECTION, measure: `broker revoke --all, ${live} sessions`, value: endAll, unit: "ms", target: "≤ 2000 ms", met: endAll <= 2000 });

  // Expiry: the same number again, each with a short TTL; the daemon ends every one on its own.
  const expiring = await openMany(root, SCALE_SESSIONS, { task: TASK.scale, ttl: EXPIRY_TTL_SECONDS });
  const lastExpiry = Math.max(...expiring.sessions.map((s) => Date.parse(s.expiresAt)));
  await waitUntil(async () => (await daemon.client.health()).sessions === 0, lastExpiry - Date.now() + 60_000, "every short-TTL session ending");
  let expired = new Map<string, number>();
  await waitUntil(
    async () => {
      expired = expireTimes(root);
      return expiring.sessions.every((s) => expired.has(s.id));
    },
    10_000,
    "an audit `expire` line for every session",
  );
  const lateness = expiring.sessions.map((s) => (expired.get(s.id) as number) - Date.parse(s.expiresAt));
  const worst = max(lateness);
  const detail = { sessions: lateness.length, ttlSeconds: EXPIRY_TTL_SECONDS, openMs: expiring.ms, p50: percentile(lateness, 50), min: Math.min(...lateness) };
  report.add({ section: SECTION, measure: `expiry lateness, max over ${lateness.length}`, value: worst, unit: "ms", target: "≤ 1000 ms", met: worst <= 1000, detail });
  report.add({ section: SECTION, measure: "expiry lateness, p99", value: percentile(lateness, 99), unit: "ms", target: "≤ 1000 ms", met: percentile(lateness, 99) <= 1000 });
}
