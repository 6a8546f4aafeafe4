/**
 * Upstream faults at refresh. Credentials live 60 s, so the daemon replaces them ~20 s early while
 * the session (and its sandbox files) lives on. Each scenario breaks one upstream's minting route
 * right after the session opens: the refresh fails (audited), is retried a bounded number of times,
 * and once the fault clears the new credentials reach the files and the old GitHub token is
 * revoked. When the fault never clears, the session still ends at its TTL with nothing left.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { FAULT_KINDS, GITHUB_MINT, STS_MINT, type FaultKind } from "../helpers/fault-proxy.js";
import { recordFigure } from "./support/evidence.js";
import { startWorld, type World } from "./support/world.js";

type Upstream = "sts" | "github";
const LIFETIME_S = 60;
/** Outlives the first credential by more than the refresh slack, so a refresh is due (and fails). */
const NEVER_TTL_S = 75;
const MAX_ATTEMPTS: Record<Upstream, number> = { sts: 3, github: 4 };
/** Refreshes start at 40 s and are retried every 5 s until 5 s before expiry: at most 4 tries. */
const MAX_REFRESH_TRIES = 4;
const provider = (up: Upstream) => (up === "sts" ? "aws" : "github");
const route = (up: Upstream) => (up === "sts" ? STS_MINT : GITHUB_MINT);

interface Scenario {
  name: string;
  up: Upstream;
  kind: FaultKind;
  recovers: boolean;
}
const SCENARIOS: Scenario[] = [
  ...(["sts", "github"] as const).flatMap((up) => FAULT_KINDS.map((kind) => ({ name: `r-${up}-${kind}`, up, kind, recovers: true }))),
  { name: "n-sts-500", up: "sts", kind: "500", recovers: false },
  { name: "n-github-500", up: "github", kind: "500", recovers: false },
];

interface Result {
  s: Scenario;
  failedTries: number;
  attempts: number;
  refreshedFiles: boolean;
  oldTokenRevoked: boolean;
  endedAtTtl: boolean;
  filesLeft: number;
  liveTokensLeft: number;
}

const awsKeyIn = (dir: string) => /aws_access_key_id = (\S+)/.exec(readFileSync(join(dir, "aws/credentials"), "utf8"))?.[1];
const gitLineIn = (dir: string) => readFileSync(join(dir, "git/credentials"), "utf8");

describe("upstream faults at refresh", () => {
  let w: World;
  const results: Result[] = [];

  beforeAll(async () => {
    const tasks = SCENARIOS.map((s) => ({ name: s.name, aws: true, github: true, ttl: s.recovers ? "10m" : `${NEVER_TTL_S}s` }));
    w = await startWorld(tasks, { stsLifetimeSeconds: LIFETIME_S, githubLifetimeSeconds: LIFETIME_S });
  });
  afterAll(async () => {
    if (results.length > 0) recordFigures();
    await w?.close();
  });

  function recordFigures(): void {
    const area = "Upstream faults";
    const recovering = results.filter((r) => r.s.recovers);
    const ok = recovering.filter((r) => r.refreshedFiles && r.oldTokenRevoked).length;
    recordFigure(area, "refresh, fault then recovery: new credentials in the files, old token revoked", `${ok}/${recovering.length}`, "all", ok === recovering.length);
    const tries = Math.max(...results.map((r) => r.failedTries));
    recordFigure(area, "refresh: most failed refresh tries of one lease", tries, `≤ ${MAX_REFRESH_TRIES}`, tries <= MAX_REFRESH_TRIES);
    const never = results.filter((r) => !r.s.recovers);
    recordFigure(area, "refresh, fault never clears: sessions ended at TTL", `${never.filter((r) => r.endedAtTtl).length}/${never.length}`, "all", never.every((r) => r.endedAtTtl));
    const left = results.reduce((n, r) => n + r.filesLeft + r.liveTokensLeft, 0);
    recordFigure(area, "refresh: files / live GitHub tokens left after the sessions", left, "0", left === 0);
  }

  const refreshLines = (session: string, up: Upstream, outcome: string) =>
    w.audit().filter((l) => l.event === "refresh" && l.session === session && l.provider === provider(up) && l.outcome === outcome);

  async function run(s: Scenario): Promise<Result> {
    const up = w.upstream(s.name);
    const proxy = s.up === "sts" ? up.sts! : up.github!;
    const sandbox = w.dir(`broker-rel-refresh-${s.name}-`);
    const session = await w.daemon.client.openSession({ task: s.name, sandbox: { dir: sandbox } });
    const oldKey = session.credentials!.aws!.accessKeyId;
    const oldToken = session.credentials!.github!.token;
    const before = proxy.count(route(s.up));
    proxy.fault(route(s.up), s.kind);
    await waitFor(() => refreshLines(session.id, s.up, "failed").length > 0, 60_000, 200);
    let refreshedFiles = false;
    let oldTokenRevoked = false;
    let endedAtTtl = false;
    if (s.recovers) {
      proxy.clearFaults();
      await waitFor(() => refreshLines(session.id, s.up, "ok").length > 0, 30_000, 200);
      // Both providers refreshed (the healthy one on time): the files hold the new credentials.
      await waitFor(() => refreshLines(session.id, s.up === "sts" ? "github" : "sts", "ok").length > 0, 30_000, 200);
      const fresh = await w.daemon.client.credentials(session.id);
      refreshedFiles = fresh.aws!.accessKeyId !== oldKey && awsKeyIn(sandbox) === fresh.aws!.accessKeyId && fresh.github!.token !== oldToken && gitLineIn(sandbox).includes(fresh.github!.token);
      oldTokenRevoked = await waitFor(() => w.github.token(oldToken)?.revokedAt != null, 10_000).catch(() => false);
      await w.daemon.client.closeSession(session.id);
    } else {
      // The close is audited once files are removed and leases released (the list drops it first).
      endedAtTtl = await waitFor(() => w.audit().some((l) => l.event === "session.close" && l.session === session.id && l.reason === "expire"), 50_000, 200).catch(() => false);
      proxy.clearFaults();
    }
    const now = Date.now();
    return {
      s,
      failedTries: refreshLines(session.id, s.up, "failed").length,
      attempts: proxy.count(route(s.up)) - before,
      refreshedFiles,
      oldTokenRevoked,
      endedAtTtl,
      filesLeft: readdirSync(sandbox).length,
      // Every GitHub token this task got is revoked, or expired by itself.
      liveTokensLeft: up.tokens.filter((t) => {
        const issued = w.github.token(t);
        return issued !== undefined && issued.revokedAt === null && issued.expiresAt > now;
      }).length,
    };
  }

  it("retries a failed refresh a bounded number of times, delivers new credentials once the upstream is back, or ends at TTL", async () => {
    results.push(...(await Promise.all(SCENARIOS.map(run))));
    for (const r of results) {
      const label = `${r.s.name}`;
      expect(r.failedTries, label).toBeGreaterThanOrEqual(1);
      expect(r.failedTries, label).toBeLessThanOrEqual(MAX_REFRESH_TRIES);
      expect(r.attempts, label).toBeLessThanOrEqual((r.failedTries + 1) * MAX_ATTEMPTS[r.s.up]);
      if (r.s.recovers) expect(r, label).toMatchObject({ refreshedFiles: true, oldTokenRevoked: true });
      else expect(r.endedAtTtl, label).toBe(true);
      expect(r, label).toMatchObject({ filesLeft: 0, liveTokensLeft: 0 });
    }
    expect(w.crashes()).toBe(0);
    expect(await w.daemon.client.listSessions()).toEqual([]);
    expect((await w.daemon.client.health()).ok).toBe(true);
  });
});
