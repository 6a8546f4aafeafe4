/**
 * Crashes. (1) The daemon is SIGKILLed with 100 live sessions across AWS, GitHub and static tasks,
 * each with sandbox files (half in a given directory, half in a --sandbox-tmp one); restarted, it
 * must have revoked every GitHub token at the stand-in and removed every file (goal: within 2 s of being
 * started, reported in the table; asserted within 10 s). (2) `broker run` is SIGKILLed while its command runs: its session ends (files removed,
 * token revoked) within 1 s, because the daemon sees the bound connection close. (3) Sessions churn
 * until the journal has been compacted twice, with GitHub sessions opened before and between the
 * compactions; the daemon is SIGKILLed while the churn goes on, and the restarted one must revoke
 * every one of those tokens: compaction kept every lease recovery needs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { recordArgv, recordFigure } from "./support/evidence.js";
import { startWorld, type World } from "./support/world.js";

const SESSIONS = 100;
const RECOVERY_BOUND_MS = 2_000;
/**
 * The 2 s goal is a speed figure, reported against its bound in the table (and met in most runs:
 * 0.6–1.3 s); on a loaded 2-core CI machine a run can miss it by a few hundred ms. What the test
 * asserts is that recovery happens, and long before anything could call it a hang.
 */
const RECOVERY_HARD_LIMIT_MS = 10_000;
const RUN_END_BOUND_MS = 1_000;
const TASKS = ["k-github", "k-aws", "k-env"] as const;
/** Open-and-end loops run at once while the journal grows; k-env allows SESSIONS. */
const CHURN_LOOPS = 64;

interface Live {
  id: string;
  task: string;
  dir: string;
  tmp: boolean;
  token?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Host pids of `node -e SCRIPT MARKER` processes. The command runs in the box, where its own pid
 * is that of the box's PID namespace (2), not one the host can signal.
 */
function nodePidsWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
      if (argv[0] === process.execPath && argv[1] === "-e" && argv.at(-1) === marker) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Polls `probe` every 5 ms from `t0`; resolves with the elapsed ms when it first holds, or null. */
async function timeUntil(t0: number, probe: () => boolean, timeoutMs: number): Promise<number | null> {
  for (;;) {
    if (probe()) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) return null;
    await sleep(5);
  }
}

describe("crashes", () => {
  let w: World;
  const orphans: number[] = [];
  const runs: ChildProcess[] = [];

  beforeAll(async () => {
    w = await startWorld([
      { name: "k-github", github: true, maxSessions: SESSIONS },
      { name: "k-aws", aws: true, maxSessions: SESSIONS },
      { name: "k-env", env: true, maxSessions: SESSIONS },
    ]);
  });
  afterAll(async () => {
    for (const child of runs) child.kill("SIGKILL");
    for (const pid of orphans) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await w?.close();
  });

  it(`revokes every GitHub token and removes every file of ${SESSIONS} sessions within ${RECOVERY_BOUND_MS} ms of a restart after SIGKILL`, async () => {
    const root = w.dir("broker-rel-crash-");
    const live: Live[] = [];
    for (let batch = 0; batch < SESSIONS; batch += 25) {
      const opened = await Promise.all(
        Array.from({ length: Math.min(25, SESSIONS - batch) }, async (_, j) => {
          const i = batch + j;
          const task = TASKS[i % 3]!;
          const tmp = i % 2 === 1;
          let dir = "";
          if (!tmp) {
            dir = `${root}/s${i}`;
            mkdirSync(dir, { mode: 0o700 });
          }
          const s = await w.daemon.client.openSession({ task, sandbox: tmp ? { tmp: true } : { dir } });
          return { id: s.id, task, dir: s.sandbox!.dir, tmp, ...(s.credentials?.github ? { token: s.credentials.github.token } : {}) };
        }),
      );
      live.push(...opened);
    }
    const tokens = live.flatMap((s) => (s.token ? [s.token] : []));
    expect(live.every((s) => readdirSync(s.dir).length >= 2)).toBe(true);

    await w.kill();
    expect(tokens.every((t) => w.github.token(t)?.revokedAt === null)).toBe(true);
    expect(live.every((s) => existsSync(s.dir) && readdirSync(s.dir).length >= 2)).toBe(true);

    const t0 = performance.now();
    const restarted = w.restart().then(() => performance.now() - t0);
    const [revokedMs, filesMs] = await Promise.all([
      timeUntil(t0, () => tokens.every((t) => w.github.token(t)?.revokedAt != null), 15_000),
      timeUntil(t0, () => live.every((s) => (s.tmp ? !existsSync(s.dir) : readdirSync(s.dir).length === 0)), 15_000),
    ]);
    const healthMs = await restarted;
    const recovered = w.audit().filter((l) => l.event === "recover" && l.outcome === "closed").map((l) => l.session);

    const area = "Crashes";
    const fmt = (ms: number | null) => (ms === null ? "never" : `${Math.round(ms)} ms`);
    recordFigure(area, `daemon SIGKILL, ${SESSIONS} live sessions (${tokens.length} GitHub, AWS, static; sandbox files): all GitHub tokens revoked after restart`, fmt(revokedMs), `< ${RECOVERY_BOUND_MS} ms of start`, revokedMs !== null && revokedMs < RECOVERY_BOUND_MS);
    recordFigure(area, "daemon SIGKILL: every sandbox file removed (given dirs emptied, tmp dirs gone)", fmt(filesMs), `< ${RECOVERY_BOUND_MS} ms of start`, filesMs !== null && filesMs < RECOVERY_BOUND_MS);
    recordFigure(area, "daemon SIGKILL: restarted daemon answering (recovery done before it listens)", fmt(healthMs), "—", true);

    expect(revokedMs).not.toBeNull();
    expect(filesMs).not.toBeNull();
    expect(revokedMs!).toBeLessThan(RECOVERY_HARD_LIMIT_MS);
    expect(filesMs!).toBeLessThan(RECOVERY_HARD_LIMIT_MS);
    expect(recovered).toEqual(expect.arrayContaining(live.map((s) => s.id)));
    expect(await w.daemon.client.listSessions()).toEqual([]);
  });

  it("revokes after a SIGKILL every GitHub token opened before and between journal compactions", async () => {
    const journal = join(w.daemon.stateDir, "journal.jsonl");
    const inode = () => statSync(journal).ino;
    const openGithub = (n: number) => Promise.all(Array.from({ length: n }, async () => (await w.daemon.client.openSession({ task: "k-github" })).credentials!.github!.token));
    let churning = true;
    let churned = 0;
    const churn = Promise.all(
      Array.from({ length: CHURN_LOOPS }, async () => {
        while (churning) {
          const s = await w.daemon.client.openSession({ task: "k-env" });
          await w.daemon.client.closeSession(s.id).catch(() => undefined);
          churned += 1;
        }
      }),
    ).catch(() => undefined); // The SIGKILL ends the loops with connection errors.
    const compacted = async (from: number) => {
      for (const deadline = performance.now() + 120_000; performance.now() < deadline; await sleep(20)) if (inode() !== from) return inode();
      throw new Error(`the journal was not compacted after ${churned} sessions`);
    };

    const tokens = await openGithub(30);
    const first = await compacted(inode());
    tokens.push(...(await openGithub(10)));
    await compacted(first);
    await sleep(Math.random() * 200);
    await w.kill();
    churning = false;
    await churn;
    expect(tokens.every((t) => w.github.token(t)?.revokedAt === null)).toBe(true);

    const t0 = performance.now();
    await w.restart();
    const revokedMs = await timeUntil(t0, () => tokens.every((t) => w.github.token(t)?.revokedAt != null), 15_000);
    const leftovers = readdirSync(w.daemon.stateDir).filter((name) => name.endsWith(".tmp"));
    recordFigure("Crashes", `daemon SIGKILL after two journal compactions (${churned} sessions churned): all ${tokens.length} GitHub tokens opened before and between them revoked after restart`, revokedMs === null ? "never" : `${Math.round(revokedMs)} ms`, `< ${RECOVERY_BOUND_MS} ms of start`, revokedMs !== null && revokedMs < RECOVERY_BOUND_MS);
    expect(revokedMs).not.toBeNull();
    expect(revokedMs!).toBeLessThan(RECOVERY_HARD_LIMIT_MS);
    expect(leftovers).toEqual([]);
    expect(await w.daemon.client.listSessions()).toEqual([]);
  });

  it(`ends the session of a SIGKILLed broker run within ${RUN_END_BOUND_MS} ms`, async () => {
    const started = TASKS.flatMap((task) =>
      [0, 1, 2].map((n) => {
        const dir = w.dir(`broker-rel-run-${task}-${n}-`);
        const marker = `broker-rel-run-${randomBytes(6).toString("hex")}`;
        const argv = [CLI, "run", "--task", task, "--sandbox", dir, "--", process.execPath, "-e", "console.log('ready', process.env.BROKER_SESSION); setInterval(() => {}, 1000)", marker];
        recordArgv([process.execPath, ...argv]);
        const child = spawn(process.execPath, argv, { env: w.daemon.env, stdio: ["ignore", "pipe", "pipe"] });
        runs.push(child);
        let out = "";
        child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
        const ready = new Promise<{ session: string }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`broker run for ${task} did not start: ${out}`)), 20_000);
          child.stdout!.on("data", () => {
            const m = /ready (\S+)/.exec(out);
            if (m) {
              clearTimeout(timer);
              resolve({ session: m[1]! });
            }
          });
        });
        return { task, dir, child, ready, marker };
      }),
    );
    const times: number[] = [];
    for (const run of started) {
      const { session } = await run.ready;
      const cmd = nodePidsWithMarker(run.marker);
      expect(cmd, "the command's host pid, for the clean-up").toHaveLength(1);
      orphans.push(...cmd);
      const token = run.task === "k-github" ? (await w.daemon.client.credentials(session)).github!.token : undefined;
      expect(readdirSync(run.dir).length).toBeGreaterThanOrEqual(2);
      const t0 = performance.now();
      run.child.kill("SIGKILL");
      let sessions: string[] = [session];
      const poll = setInterval(() => void w.daemon.client.listSessions().then((l) => (sessions = l.map((s) => s.id)), () => undefined), 10);
      const ended = await timeUntil(t0, () => !sessions.includes(session) && readdirSync(run.dir).length === 0 && (token === undefined || w.github.token(token)?.revokedAt != null), 10_000);
      clearInterval(poll);
      times.push(ended ?? Infinity);
    }
    const worst = Math.max(...times);
    const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
    recordFigure("Crashes", `broker run SIGKILL (${times.length} runs, AWS/GitHub/static, sandbox): session ended, files removed, token revoked`, `median ${Math.round(median)} ms, worst ${Math.round(worst)} ms`, `< ${RUN_END_BOUND_MS} ms`, worst < RUN_END_BOUND_MS);
    recordFigure("Crashes", "daemon crashes", w.crashes(), "0", w.crashes() === 0);
    expect(worst).toBeLessThan(RUN_END_BOUND_MS);
    expect(w.crashes()).toBe(0);
  });
});
