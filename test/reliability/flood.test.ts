/**
 * Connection flood (issue 15, reproduction 2): 20,000 idle, slowloris and half-body connections
 * against a real daemon, opened from a few child processes at 1,000 a second and held (one the
 * kernel turns away is tried again) for FLOOD_SECONDS, at a lower CPU priority than the daemon. Meanwhile `/v1/health`, on a new connection each time, answers 200
 * within 100 ms; sessions open and close; a session bound to its connection (as `broker run`
 * holds one) outlives the flood; a session's TTL revocation reaches the GitHub stand-in on time;
 * and the daemon's RSS stays under 250 MB. Without the timeouts, caps and reserve of
 * src/daemon/connection-gate.ts the flood takes every descriptor the daemon has.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { mib, openFds, rssKiB } from "../helpers/proc-stats.js";
import { recordFigure } from "./support/evidence.js";
import { startWorld, type World } from "./support/world.js";

const CONNECTIONS = 20_000;
const CHILDREN = 4;
const FLOOD_SECONDS = Number(process.env.BROKER_RELIABILITY_FLOOD_SECONDS ?? 30);
const HEALTH_BOUND_MS = 100;
const RSS_BOUND_KIB = 250 * 1024;
const TTL_SECONDS = 12;
/** The TTL timer fires on the second; the revoke call to the stand-in may take a moment more. */
const REVOKE_LATE_BOUND_MS = 2_000;
const CHILD = fileURLToPath(new URL("./support/flood-client.mjs", import.meta.url));

interface ChildStats {
  attempts: number;
  held: number;
  busy: number;
  timedOut: number;
  otherAnswers: number;
  errors: Record<string, number>;
}

/** One health call on a fresh connection: status and milliseconds, or the error. */
function health(socketPath: string): Promise<{ status: number; ms: number; error?: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/v1/health", agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ status: 0, ms: performance.now() - t0, error: error.code ?? error.message }));
    req.end();
  });
}

/** User + system CPU time of a process, in seconds (/proc/PID/stat, clock ticks of 1/100 s). */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? 0;

describe("connection flood", () => {
  let w: World;
  const children: ChildProcess[] = [];
  const last = new Map<ChildProcess, ChildStats>();

  beforeAll(async () => {
    w = await startWorld([{ name: "flood", github: true, env: true, ttl: "1m" }]);
  });
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await w?.close();
  });

  function startFlood(): void {
    for (let i = 0; i < CHILDREN; i++) {
      // Each child holds its share; its own descriptor limit is raised to the hard limit first. The
      // flood runs at a lower CPU priority: on a 2-core machine four busy flooders would otherwise
      // measure the scheduler, not the daemon (a local CPU hog is not an attack a daemon can answer;
      // descriptors, memory and slow clients are, and those the flood still brings in full).
      const child = spawn("nice", ["-n", "10", "sh", "-c", 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', process.execPath, CHILD, w.daemon.socket, String(CONNECTIONS / CHILDREN)], { stdio: ["ignore", "pipe", "inherit"] });
      let buffered = "";
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        const line = lines.pop();
        if (line) last.set(child, JSON.parse(line) as ChildStats);
      });
      children.push(child);
    }
  }

  const flood = () => {
    const all = [...last.values()];
    const sum = (k: "attempts" | "held" | "busy" | "timedOut" | "otherAnswers") => all.reduce((a, s) => a + s[k], 0);
    const errors: Record<string, number> = {};
    for (const s of all) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
    return { attempts: sum("attempts"), held: sum("held"), busy: sum("busy"), timedOut: sum("timedOut"), other: sum("otherAnswers"), errors };
  };

  it(`keeps serving through ${CONNECTIONS} idle, slowloris and half-body connections`, async () => {
    const pid = w.daemon.process.pid!;
    const idleRss = rssKiB(pid);
    const bound = await w.daemon.client.openBoundSession({ task: "flood", ttl: "10m" });
    const cpuBefore = cpuSeconds(pid);
    startFlood();
    const started = performance.now();
    const deadline = started + FLOOD_SECONDS * 1000;

    let maxRss = 0;
    let maxFds = 0;
    const sampler = setInterval(() => {
      try {
        maxRss = Math.max(maxRss, rssKiB(pid));
        maxFds = Math.max(maxFds, openFds(pid));
      } catch {
        // the daemon is gone: the checks below say so
      }
    }, 250);

    // A TTL session opened once the flood is building: its token must be revoked when the TTL ends.
    await new Promise((r) => setTimeout(r, 2_000));
    const ttl = await w.daemon.client.openSession({ task: "flood", ttl: TTL_SECONDS }).catch((e: Error) => e);

    const probes: { status: number; ms: number; error?: string }[] = [];
    const prober = (async () => {
      while (performance.now() < deadline) {
        probes.push(await health(w.daemon.socket));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let opened = 0;
    const sessionErrors: string[] = [];
    const opener = (async () => {
      while (performance.now() < deadline) {
        try {
          const s = await w.daemon.client.openSession({ task: "flood" });
          await w.daemon.client.closeSession(s.id);
          opened += 1;
        } catch (error) {
          sessionErrors.push(`${(error as { code?: string }).code ?? ""} ${(error as Error).message}`.slice(0, 120));
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    await Promise.all([prober, opener]);
    const heldAtEnd = flood();

    let revokeLateMs: number | null = null;
    if (!(ttl instanceof Error)) {
      const token = ttl.credentials!.github!.token;
      const revokedAt = await waitFor(() => w.github.token(token)?.revokedAt ?? undefined, 15_000, 50).catch(() => null);
      if (revokedAt !== null) revokeLateMs = revokedAt - Date.parse(ttl.expiresAt);
    }
    clearInterval(sampler);
    const cpu = cpuSeconds(pid) - cpuBefore;
    const wall = (performance.now() - started) / 1000;
    for (const child of children) child.kill("SIGTERM");
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
    const total = flood();
    // Asked once the flood is gone: had its connection been closed, the session would have ended.
    const boundAlive = (await w.daemon.client.listSessions()).some((s) => s.id === bound.session.id);
    bound.release();

    const ok = probes.filter((p) => p.status === 200);
    const failed = probes.filter((p) => p.status !== 200);
    const worst = Math.max(...probes.map((p) => p.ms));
    const p99 = percentile(probes.map((p) => p.ms), 0.99);
    const failures = [...new Set(failed.map((p) => p.error ?? String(p.status)))].join(", ");
    const area = "Connection flood";
    recordFigure(area, `${CONNECTIONS} idle/slowloris/half-body connections from ${CHILDREN} processes for ${FLOOD_SECONDS} s: attempts; held at the end; answered 503 ERR_BUSY; answered 408`, `${total.attempts}; ${heldAtEnd.held}; ${total.busy}; ${total.timedOut}${Object.keys(total.errors).length ? `; connect errors ${JSON.stringify(total.errors)}` : ""}`, "—", true);
    recordFigure(area, "health on a new connection during the flood: answered 200 / probes; p99; worst", `${ok.length}/${probes.length}${failures ? ` (failed: ${failures})` : ""}; ${Math.round(p99)} ms; ${Math.round(worst)} ms`, `all 200, p99 ≤ ${HEALTH_BOUND_MS} ms`, failed.length === 0 && p99 <= HEALTH_BOUND_MS);
    recordFigure(area, "sessions opened and closed during the flood (one at a time)", `${opened}, ${sessionErrors.length} failed${sessionErrors.length ? ` (${[...new Set(sessionErrors)].slice(0, 3).join("; ")})` : ""}`, "> 0, 0 failed", opened > 0 && sessionErrors.length === 0);
    recordFigure(area, `session with a ${TTL_SECONDS} s TTL: token revoked at the GitHub stand-in, after the TTL by`, ttl instanceof Error ? `not opened (${ttl.message.slice(0, 80)})` : revokeLateMs === null ? "not revoked" : `${(revokeLateMs / 1000).toFixed(2)} s`, `≤ ${REVOKE_LATE_BOUND_MS / 1000} s`, revokeLateMs !== null && revokeLateMs <= REVOKE_LATE_BOUND_MS);
    recordFigure(area, "session bound to its connection (as broker run holds one) alive after the flood", boundAlive ? "yes" : "no", "yes", boundAlive);
    recordFigure(area, "daemon CPU during the flood", `${cpu.toFixed(1)} s in ${wall.toFixed(0)} s`, "—", true);
    recordFigure(area, "daemon RSS: idle → worst during the flood; worst open descriptors", `${mib(idleRss)} → ${mib(maxRss)}; ${maxFds}`, `< ${mib(RSS_BOUND_KIB)}`, maxRss < RSS_BOUND_KIB);

    expect(w.crashes()).toBe(0);
    expect(total.attempts).toBeGreaterThanOrEqual(CONNECTIONS);
    expect(failures, "health failures").toBe("");
    expect(p99).toBeLessThanOrEqual(HEALTH_BOUND_MS);
    expect(sessionErrors).toEqual([]);
    expect(opened).toBeGreaterThan(0);
    expect(ttl).not.toBeInstanceOf(Error);
    expect(revokeLateMs).not.toBeNull();
    expect(revokeLateMs!).toBeLessThanOrEqual(REVOKE_LATE_BOUND_MS);
    expect(boundAlive).toBe(true);
    expect(maxRss).toBeLessThan(RSS_BOUND_KIB);
  }, (FLOOD_SECONDS + 90) * 1000);
});
