/**
 * Upstream faults at mint: STS or GitHub answers 500, throttles, hangs, answers garbage or drops
 * the connection while `broker mint` opens a session of a task that uses AWS, GitHub and a static
 * secret with a sandbox. Persistent faults: the caller gets a coded error (exit 5) in bounded time
 * after bounded retries, and nothing is left: no session, no file, no unrevoked GitHub token (the
 * provider that did succeed is rolled back). A single fault: retried and the session opens.
 */
import { readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { FAULT_KINDS, GITHUB_MINT, STS_MINT, type FaultKind } from "../helpers/fault-proxy.js";
import { recordFigure } from "./support/evidence.js";
import { startWorld, type World } from "./support/world.js";

type Upstream = "sts" | "github";
const UPSTREAMS: Upstream[] = ["sts", "github"];
/** Attempts per mint the providers allow (aws-sts-call.ts, github-retry.ts). */
const MAX_ATTEMPTS: Record<Upstream, number> = { sts: 3, github: 4 };
/** Slowest bounded failure: GitHub's 10 s per-attempt timeout, STS's 10 s deadline, plus CLI start. */
const MAX_FAILURE_MS = 15_000;
/** Faults a mint retries through (a hung GitHub call is cut and not retried, by design). */
const RECOVERS: Record<Upstream, FaultKind[]> = { sts: ["500", "throttle", "hang", "drop"], github: ["500", "throttle", "drop"] };

const task = (mode: "p" | "t", up: Upstream, kind: FaultKind) => `${mode}-${up}-${kind}`;
const SCENARIOS = UPSTREAMS.flatMap((up) => FAULT_KINDS.map((kind) => ({ up, kind })));

interface Outcome {
  up: Upstream;
  kind: FaultKind;
  mode: "p" | "t";
  code: number | null;
  errorCode: string | null;
  stack: boolean;
  ms: number;
  attempts: number;
  sessionsLeft: number;
  filesLeft: number;
  unrevoked: number;
}

describe("upstream faults at mint", () => {
  let w: World;
  const outcomes: Outcome[] = [];

  beforeAll(async () => {
    const tasks = (["p", "t"] as const).flatMap((mode) => SCENARIOS.map(({ up, kind }) => ({ name: task(mode, up, kind), aws: true, github: true, env: true })));
    w = await startWorld(tasks);
  });
  afterAll(async () => {
    await w?.close();
  });

  async function attempt(mode: "p" | "t", up: Upstream, kind: FaultKind): Promise<Outcome> {
    const name = task(mode, up, kind);
    const upstream = w.upstream(name);
    const proxy = up === "sts" ? upstream.sts! : upstream.github!;
    const route = up === "sts" ? STS_MINT : GITHUB_MINT;
    proxy.fault(route, kind, mode === "p" ? Infinity : 1);
    const sandbox = w.dir(`broker-rel-mint-${name}-`);
    const started = performance.now();
    const result = await w.cli(["mint", "--task", name, "--sandbox", sandbox, "--json"], 60_000);
    const ms = performance.now() - started;
    proxy.clearFaults();
    if (result.code === 0) {
      const id = (JSON.parse(result.stdout) as { id: string }).id;
      const revoked = await w.cli(["revoke", id]);
      expect(revoked.code, revoked.stderr).toBe(0);
    }
    const live = (await w.daemon.client.listSessions()).filter((s) => s.task === name).length;
    // Rolled-back GitHub tokens are revoked before the error answer; allow the stand-in a moment.
    const unrevoked = async () => upstream.tokens.filter((t) => w.github.token(t)?.revokedAt == null).length;
    await waitFor(async () => (await unrevoked()) === 0, 3_000).catch(() => undefined);
    return {
      up,
      kind,
      mode,
      code: result.code,
      errorCode: /\[(ERR_[A-Z_]+)\]/.exec(result.stderr)?.[1] ?? null,
      stack: /\n\s+at /.test(result.stderr),
      ms,
      attempts: proxy.count(route),
      sessionsLeft: live,
      filesLeft: readdirSync(sandbox).length,
      unrevoked: await unrevoked(),
    };
  }

  it("gives every caller a coded error after bounded retries when the fault persists, and leaves nothing behind", async () => {
    const results = await Promise.all(SCENARIOS.map(({ up, kind }) => attempt("p", up, kind)));
    outcomes.push(...results);
    for (const r of results) {
      const label = `${r.up} ${r.kind}`;
      expect(r.code, label).toBe(5);
      expect(r.errorCode, label).toMatch(/^ERR_UPSTREAM_(AWS|GITHUB|TIMEOUT)$/);
      expect(r.stack, label).toBe(false);
      expect(r.ms, label).toBeLessThan(MAX_FAILURE_MS);
      expect(r.attempts, label).toBeGreaterThanOrEqual(1);
      expect(r.attempts, label).toBeLessThanOrEqual(MAX_ATTEMPTS[r.up]);
      expect(r, label).toMatchObject({ sessionsLeft: 0, filesLeft: 0, unrevoked: 0 });
    }
    const failedMints = w.audit().filter((l) => l.event === "mint" && l.outcome === "failed");
    expect(failedMints.length).toBeGreaterThanOrEqual(SCENARIOS.length);
  });

  it("retries through a single fault and opens the session; whatever the outcome, nothing is left after it ends", async () => {
    const results = await Promise.all(SCENARIOS.map(({ up, kind }) => attempt("t", up, kind)));
    outcomes.push(...results);
    for (const r of results) {
      const label = `${r.up} ${r.kind} once`;
      if (RECOVERS[r.up].includes(r.kind)) {
        expect(r.code, label).toBe(0);
        expect(r.attempts, label).toBe(2);
      } else {
        expect([0, 5], label).toContain(r.code);
        if (r.code !== 0) expect(r.errorCode, label).toMatch(/^ERR_UPSTREAM_/);
      }
      expect(r.stack, label).toBe(false);
      expect(r, label).toMatchObject({ sessionsLeft: 0, filesLeft: 0, unrevoked: 0 });
    }
  });

  it("kept the daemon up throughout", async () => {
    expect(w.crashes()).toBe(0);
    expect((await w.daemon.client.health()).ok).toBe(true);
    expect(await w.daemon.client.listSessions()).toEqual([]);

    const persistent = outcomes.filter((o) => o.mode === "p");
    const single = outcomes.filter((o) => o.mode === "t");
    const area = "Upstream faults";
    recordFigure(area, "mint, fault persists: callers given a coded error (exit 5)", `${persistent.filter((o) => o.code === 5 && o.errorCode).length}/${persistent.length}`, "all", persistent.every((o) => o.code === 5 && o.errorCode));
    for (const up of UPSTREAMS) {
      const mine = persistent.filter((o) => o.up === up);
      const most = Math.max(...mine.map((o) => o.attempts));
      recordFigure(area, `mint, ${up}: most attempts per mint (500/throttle/hang/garbage/drop)`, most, `≤ ${MAX_ATTEMPTS[up]}`, most <= MAX_ATTEMPTS[up]);
    }
    const slowest = Math.max(...persistent.map((o) => o.ms));
    recordFigure(area, "mint, fault persists: slowest coded error", `${(slowest / 1000).toFixed(1)} s`, `< ${MAX_FAILURE_MS / 1000} s`, slowest < MAX_FAILURE_MS);
    const recovered = single.filter((o) => o.code === 0).length;
    recordFigure(area, "mint, single fault: sessions opened after a retry", `${recovered}/${single.length}`, `≥ ${RECOVERS.sts.length + RECOVERS.github.length} (hung GitHub call and garbage are not retried)`, recovered >= RECOVERS.sts.length + RECOVERS.github.length);
    const left = outcomes.reduce((n, o) => n + o.sessionsLeft + o.filesLeft + o.unrevoked, 0);
    recordFigure(area, "mint: sessions / files / unrevoked GitHub tokens left", left, "0", left === 0);
  });
});
