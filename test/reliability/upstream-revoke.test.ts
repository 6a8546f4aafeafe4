/**
 * Upstream faults at revocation. GitHub tokens live 30 s here. Ending a session while GitHub's
 * DELETE /installation/token answers 500, throttles, hangs, answers garbage or drops: the caller's
 * DELETE still ends the session (files gone) in bounded time, the revocation is retried in the
 * background until the token is revoked at the stand-in, or, if GitHub never recovers, until the
 * token has expired (audited `expired`). A daemon SIGKILLed meanwhile retries from its journal.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { FAULT_KINDS, GITHUB_REVOKE, type FaultKind } from "../helpers/fault-proxy.js";
import { recordFigure } from "./support/evidence.js";
import { startWorld, type World } from "./support/world.js";

const LIFETIME_S = 30;
/** One revocation attempt is at most 4 calls (github-retry.ts); a hung call is cut at 10 s. */
const CALLS_PER_TRY = 4;
const MAX_CLOSE_MS = 12_000;

interface Result {
  name: string;
  closeMs: number;
  filesLeftAtClose: number;
  revokedAtStandIn: boolean;
  expiredOutcome: boolean;
  tries: number;
  calls: number;
}

describe("upstream faults at revocation", () => {
  let w: World;
  const results: Result[] = [];
  const kinds = FAULT_KINDS.map((kind) => ({ name: `v-${kind}`, kind, clears: true }));
  const never = { name: "x-500", kind: "500" as FaultKind, clears: false };
  let journalRetryMs: number | null = null;

  beforeAll(async () => {
    const tasks = [...kinds, never, { name: "c-500" }].map((s) => ({ name: s.name, github: true }));
    w = await startWorld(tasks, { githubLifetimeSeconds: LIFETIME_S });
  });
  afterAll(async () => {
    if (results.length > 0) recordFigures();
    await w?.close();
  });

  function recordFigures(): void {
    const area = "Upstream faults";
    const cleared = results.filter((r) => r.name !== never.name);
    recordFigure(area, "revoke, fault then recovery (500/throttle/hang/garbage/drop): tokens revoked at the stand-in", `${cleared.filter((r) => r.revokedAtStandIn).length}/${cleared.length}`, "all", cleared.every((r) => r.revokedAtStandIn));
    const slowest = Math.max(...results.map((r) => r.closeMs));
    recordFigure(area, "revoke: slowest session end while GitHub fails (files removed first)", `${(slowest / 1000).toFixed(1)} s`, `< ${MAX_CLOSE_MS / 1000} s`, slowest < MAX_CLOSE_MS);
    const x = results.find((r) => r.name === never.name);
    if (x) recordFigure(area, "revoke, fault never clears: retried until expiry, then audited `expired`", `${x.tries} tries, ${x.calls} calls`, `expired; ≤ ${CALLS_PER_TRY} calls per try`, x.expiredOutcome && x.calls <= (x.tries + 1) * CALLS_PER_TRY);
    const retried = journalRetryMs === null ? "not revoked" : `revoked ${(journalRetryMs / 1000).toFixed(1)} s after GitHub recovered`;
    recordFigure(area, "revoke after SIGKILL: retried from the journal by the restarted daemon", retried, "revoked", journalRetryMs !== null);
    recordFigure(area, "daemon crashes (mint, refresh, revoke faults)", w.crashes(), "0", w.crashes() === 0);
  }

  const revokeLines = (session: string) => w.audit().filter((l) => (l.event === "revoke" || l.event === "recover") && l.session === session);

  async function run(s: { name: string; kind: FaultKind; clears: boolean }): Promise<Result> {
    const proxy = w.upstream(s.name).github!;
    const sandbox = w.dir(`broker-rel-revoke-${s.name}-`);
    const session = await w.daemon.client.openSession({ task: s.name, sandbox: { dir: sandbox } });
    const token = session.credentials!.github!.token;
    proxy.fault(GITHUB_REVOKE, s.kind);
    const started = performance.now();
    await w.daemon.client.closeSession(session.id);
    const closeMs = performance.now() - started;
    const filesLeftAtClose = readdirSync(sandbox).length;
    expect(w.github.token(token)?.revokedAt, s.name).toBeNull();
    expect(revokeLines(session.id).map((l) => l.outcome)).toContain("failed");
    let revokedAtStandIn = false;
    let expiredOutcome = false;
    if (s.clears) {
      await new Promise((r) => setTimeout(r, 2_000));
      proxy.clearFaults();
      revokedAtStandIn = await waitFor(() => w.github.token(token)?.revokedAt != null, 20_000, 100).catch(() => false);
    } else {
      expiredOutcome = await waitFor(() => revokeLines(session.id).some((l) => l.outcome === "expired"), LIFETIME_S * 1000 + 30_000, 250).catch(() => false);
      proxy.clearFaults();
    }
    return { name: s.name, closeMs, filesLeftAtClose, revokedAtStandIn, expiredOutcome, tries: revokeLines(session.id).filter((l) => l.outcome === "failed").length, calls: proxy.count(GITHUB_REVOKE) };
  }

  it("ends the session at once and keeps retrying the revocation until it is done or the token has expired", async () => {
    results.push(...(await Promise.all([...kinds, never].map(run))));
    for (const r of results) {
      expect(r.closeMs, r.name).toBeLessThan(MAX_CLOSE_MS);
      expect(r.filesLeftAtClose, r.name).toBe(0);
      expect(r.calls, r.name).toBeLessThanOrEqual((r.tries + 1) * CALLS_PER_TRY);
      if (r.name === never.name) expect(r.expiredOutcome, r.name).toBe(true);
      else expect(r.revokedAtStandIn, r.name).toBe(true);
    }
    expect(await w.daemon.client.listSessions()).toEqual([]);
  });

  it("retries a failing revocation from the journal after the daemon is SIGKILLed", async () => {
    const proxy = w.upstream("c-500").github!;
    const session = await w.daemon.client.openSession({ task: "c-500" });
    const token = session.credentials!.github!.token;
    proxy.fault(GITHUB_REVOKE, "500");
    await w.daemon.client.closeSession(session.id);
    await w.kill();
    expect(w.github.token(token)?.revokedAt).toBeNull();
    await w.restart();
    // The restarted daemon tried at once (GitHub still failing) and keeps the lease in its journal.
    expect(revokeLines(session.id).some((l) => l.event === "recover" && l.outcome === "failed")).toBe(true);
    const journal = readFileSync(join(w.daemon.stateDir, "journal.jsonl"), "utf8");
    expect(journal).toContain('"t":"lease"');
    expect(journal).not.toContain(token);
    proxy.clearFaults();
    const started = performance.now();
    await waitFor(() => w.github.token(token)?.revokedAt != null, 20_000, 100);
    journalRetryMs = performance.now() - started;
    // The stand-in records the revocation before the daemon has its answer and writes the audit line.
    await waitFor(() => revokeLines(session.id).some((l) => l.event === "recover" && l.outcome === "revoked") || undefined, 5_000, 20).catch(() => undefined);
    expect(revokeLines(session.id).some((l) => l.event === "recover" && l.outcome === "revoked")).toBe(true);
    expect(w.crashes()).toBe(0);
  });
});
