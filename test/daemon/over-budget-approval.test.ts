/**
 * `over_budget: approve`: an open over its task's budget waits for a person instead of being
 * refused (the budget named as the reason); `broker approve` lets it through and it is counted,
 * `broker deny` refuses it (exit 3) with nothing minted. A task with plain `over_budget: deny`
 * is still refused at once with ERR_BUDGET.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PendingApproval } from "../../src/client/broker-client.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { startCli } from "../helpers/pending-cli.js";

const SECRET = "over-budget-secret-0123456789";
const policy = (task: string, choice: string) => `task: ${task}\nttl: 10m\nenv:\n  DEPLOY_KEY: { secret: deploy-key }\nbudget: { sessions_per_hour: 1 }\nover_budget: ${choice}\n`;

describe("over_budget: approve", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { ask: policy("ask", "approve"), wall: policy("wall", "deny") } });
    const set = await d.cli(["secret", "set", "deploy-key", "--type", "generic"], { input: `${SECRET}\n` });
    if (set.code !== 0) throw new Error(set.stderr);
  });
  afterAll(async () => d?.cleanup());

  const audit = () => readFileSync(join(d.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  const mints = (task: string) => audit().filter((l) => l.event === "mint" && l.task === task && l.outcome === "ok").length;

  it("waits for approval over budget, then mints; a deny refuses with nothing minted", async () => {
    expect((await d.cli(["mint", "--task", "ask"])).code).toBe(0);

    const second = startCli(["mint", "--task", "ask"], d.env);
    const id = await second.pendingId();
    const listed = JSON.parse((await d.cli(["approvals", "--json"])).stdout) as PendingApproval[];
    expect(listed.find((p) => p.id === id)?.summary.reasons).toEqual(["over its budget of 1 sessions per hour"]);
    expect((await d.cli(["approve", id, "--yes"])).code).toBe(0);
    const approved = await second.result;
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(SECRET);
    expect(mints("ask")).toBe(2);

    const third = startCli(["mint", "--task", "ask"], d.env);
    const denyId = await third.pendingId();
    expect(denyId).not.toBe(id); // an approval over budget is never reused
    expect((await d.cli(["deny", denyId])).code).toBe(0);
    const denied = await third.result;
    expect(denied.code).toBe(3);
    expect(denied.stderr).toContain("[ERR_APPROVAL_DENIED]");
    expect(denied.stdout).toBe("");
    expect(mints("ask")).toBe(2);
    expect(audit().filter((l) => l.event === "budget.deny" && l.task === "ask")).toEqual([]);
  });

  it("over_budget: deny still refuses at once", async () => {
    expect((await d.cli(["mint", "--task", "wall"])).code).toBe(0);
    const refused = await d.cli(["mint", "--task", "wall"]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("[ERR_BUDGET]");
    expect(refused.stderr).not.toContain("waiting for approval");
  });
});
