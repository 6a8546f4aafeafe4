/** Budgets through a real daemon and the real CLI: refused at the wall, across a SIGKILL, never by forged lines. */
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { rawRequest } from "../helpers/raw-request.js";

const policy = (task: string, budget: string) => `task: ${task}\nttl: 5m\nenv:\n  DEMO_TOKEN: { secret: demo-token }\nbudget: ${budget}\n`;

function auditLines(d: TestDaemon): Array<Record<string, unknown>> {
  return readFileSync(join(d.stateDir, "audit.jsonl"), "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("budgets (a real daemon process on a temp socket)", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({
      policies: {
        deploy: policy("deploy", "{ sessions_per_hour: 3 }"),
        minty: policy("minty", "{ mints_per_hour: 2 }"),
        forged: policy("forged", "{ sessions_per_hour: 2 }"),
        free: policy("free", "{ sessions_per_hour: 100 }").replace(/budget:.*\n/, ""),
      },
    });
    const set = await d.cli(["secret", "set", "demo-token", "--type", "generic"], { input: "a-demo-token-value\n" });
    expect(set.code, set.stderr).toBe(0);
  });
  afterAll(async () => d.cleanup());

  it("mints until sessions_per_hour is spent, then refuses with ERR_BUDGET, exit 3, naming the budget, and mints nothing", async () => {
    for (let i = 0; i < 3; i++) {
      const minted = await d.cli(["mint", "--task", "deploy"]);
      expect(minted.code, minted.stderr).toBe(0);
      expect(minted.stdout).toContain("a-demo-token-value");
      await d.cli(["revoke", "--task", "deploy"]);
    }
    const refused = await d.cli(["mint", "--task", "deploy"]);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe("");
    expect(refused.stderr).toContain("ERR_BUDGET");
    expect(refused.stderr).toMatch(/task deploy is over its budget of 3 sessions per hour; the next frees up in (\d+m)?\d*s?/);
    expect(refused.stderr).toContain("budget.sessions_per_hour");
    const mine = auditLines(d).filter((l) => l.task === "deploy");
    expect(mine.filter((l) => l.event === "mint" && l.outcome === "ok")).toHaveLength(3);
    const deny = mine.find((l) => l.event === "budget.deny");
    expect(deny).toMatchObject({ outcome: "denied", budget: "sessions_per_hour", limit: 3 });
    expect(deny?.retryAfter).toBeGreaterThan(3500);
    // A task without a budget is not held back by another's.
    expect((await d.cli(["mint", "--task", "free"])).code).toBe(0);
  });

  it("answers the socket API with 429 and a Retry-After in seconds", async () => {
    const answer = await rawRequest(d.socket, "POST", "/v1/sessions", JSON.stringify({ task: "deploy" }));
    expect(answer.status).toBe(429);
    expect(answer.body.error?.code).toBe("ERR_BUDGET");
    const retryAfter = Number(answer.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(answer.body.error).toMatchObject({ budget: "sessions_per_hour", limit: 3, retryAfterSeconds: retryAfter });
  });

  it("counts credentials against mints_per_hour", async () => {
    for (let i = 0; i < 2; i++) expect((await d.cli(["mint", "--task", "minty"])).code).toBe(0);
    const refused = await d.cli(["mint", "--task", "minty"]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("task minty is over its budget of 2 credentials minted per hour");
  });

  it("keeps its counts across a SIGKILL and a restart, and skips budget.jsonl lines without a valid MAC", async () => {
    // Lines for `forged` that would spend its budget twice over, were they believed.
    const file = join(d.stateDir, "budget.jsonl");
    const real = readFileSync(file, "utf8").split("\n").find((l) => l.includes('"deploy"'))!;
    const forgedJson = (i: number) => JSON.stringify({ t: Date.now(), task: "forged", kind: "session", id: `${i}`.padStart(16, "0") });
    appendFileSync(file, [1, 2].map((i) => `${"a".repeat(64)} ${forgedJson(i)}\n`).join(""));
    appendFileSync(file, `${forgedJson(3)}\n${real.slice(0, 65)}${forgedJson(4)}\n${real.replace('"deploy"', '"forged"')}\n`);

    await d.stop("SIGKILL");
    await d.restart();
    const deploy = await d.cli(["mint", "--task", "deploy"]);
    expect(deploy.code).toBe(3);
    expect(deploy.stderr).toContain("ERR_BUDGET");
    expect((await d.cli(["mint", "--task", "minty"])).code).toBe(3);
    for (let i = 0; i < 2; i++) {
      const forged = await d.cli(["mint", "--task", "forged"]);
      expect(forged.code, forged.stderr).toBe(0);
    }
    expect((await d.cli(["mint", "--task", "forged"])).code).toBe(3);
    expect(d.stderr()).toContain("budget.jsonl had lines that are not the daemon's");
    expect(auditLines(d)).toContainEqual(expect.objectContaining({ event: "recover", outcome: "rejected", reason: "unauthenticated", file: "budget.jsonl", lines: 5 }));
  });
});
