/** The sliding hour and the refusals made from it, on a fake clock. */
import { describe, expect, it } from "vitest";
import type { AuditEntry, AuditLog } from "../../src/audit/audit-log.js";
import type { BrokerError } from "../../src/errors.js";
import type { Policy } from "../../src/policy/types.js";
import { createBudget } from "../../src/sessions/budget.js";
import { createBudgetWindow, WINDOW_MS } from "../../src/sessions/budget-window.js";

const MIN = 60_000;

function fakeAudit(): AuditLog & { entries: AuditEntry[] } {
  const entries: AuditEntry[] = [];
  return { entries, write: (e) => entries.push(e), afterWrite: (cb) => cb(), close: async () => undefined };
}

const policy = (budget: Policy["budget"], extra: Partial<Policy> = {}): Policy =>
  ({ task: "deploy", ttlSeconds: 60, maxTtlSeconds: 60, maxSessions: 16, env: {}, sandbox: { write: [], hide: [], passEnv: [] }, file: "/p/deploy.yaml", budget, ...extra }) as Policy;

describe("the budget window", () => {
  it("fills, then frees one place per event as each leaves the hour", () => {
    const w = createBudgetWindow();
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) w.add({ t: t0 + i * MIN, task: "deploy", kind: "session", id: `${i}` });
    expect(w.count("deploy", "session", t0 + 2 * MIN)).toBe(3);
    expect(w.waitMs("deploy", "session", 3, 1, t0 + 2 * MIN)).toBe(WINDOW_MS - 2 * MIN);
    // Another task and another kind are apart.
    expect(w.waitMs("other", "session", 3, 1, t0)).toBe(0);
    expect(w.waitMs("deploy", "mint", 3, 1, t0)).toBe(0);
    // Two more at once must wait for the two oldest.
    expect(w.waitMs("deploy", "session", 3, 2, t0 + 2 * MIN)).toBe(WINDOW_MS - MIN);
    expect(w.count("deploy", "session", t0 + WINDOW_MS - 1)).toBe(3);
    expect(w.waitMs("deploy", "session", 3, 1, t0 + WINDOW_MS)).toBe(0);
    expect(w.count("deploy", "session", t0 + WINDOW_MS)).toBe(2);
    expect(w.live(t0 + WINDOW_MS + MIN).map((e) => e.id)).toEqual(["2"]);
    expect(w.waitMs("deploy", "session", 1, 2, t0)).toBe(WINDOW_MS); // never fits: a whole hour
  });

  it("keeps events sorted when they arrive out of order", () => {
    const w = createBudgetWindow();
    w.add({ t: 5 * MIN, task: "a", kind: "mint", id: "late" });
    w.add({ t: 1 * MIN, task: "a", kind: "mint", id: "early" });
    expect(w.live(5 * MIN).map((e) => e.id)).toEqual(["early", "late"]);
    expect(w.waitMs("a", "mint", 2, 1, 5 * MIN)).toBe(WINDOW_MS - 4 * MIN);
  });
});

describe("budgets", () => {
  it("refuses the open past sessions_per_hour with ERR_BUDGET and a Retry-After, then lets one through when the oldest leaves", async () => {
    let now = 10 * WINDOW_MS;
    const audit = fakeAudit();
    const budget = createBudget({ audit, now: () => now });
    const p = policy({ sessionsPerHour: 2 });
    for (let i = 0; i < 2; i++) {
      expect(budget.over(p, 1)).toBeNull();
      budget.countOpen(p, 1);
      now += 10 * MIN;
    }
    const over = budget.over(p, 1);
    expect(over).toMatchObject({ budget: "sessions_per_hour", limit: 2, retryAfterSeconds: 40 * 60 });
    const error = (await budget.refuse(over!).catch((e: unknown) => e)) as BrokerError;
    expect(error.code).toBe("ERR_BUDGET");
    expect(error.message).toBe("task deploy is over its budget of 2 sessions per hour; the next frees up in 40m");
    expect(error.fix).toContain("budget.sessions_per_hour");
    expect(error.details).toEqual({ budget: "sessions_per_hour", limit: 2, retryAfterSeconds: 2400 });
    expect(audit.entries).toEqual([{ event: "budget.deny", task: "deploy", session: null, outcome: "denied", budget: "sessions_per_hour", limit: 2, retryAfter: 2400 }]);
    now += 40 * MIN; // the first open leaves the hour
    expect(budget.over(p, 1)).toBeNull();
  });

  it("counts each credential of an open and each refresh against mints_per_hour, and never refuses a refresh", () => {
    const now = WINDOW_MS;
    const budget = createBudget({ audit: fakeAudit(), now: () => now });
    const p = policy({ mintsPerHour: 5 });
    budget.countOpen(p, 2);
    budget.countRefresh(p);
    budget.countRefresh(p);
    expect(budget.over(p, 1)).toBeNull();
    expect(budget.over(p, 2)).toMatchObject({ budget: "mints_per_hour", limit: 5, retryAfterSeconds: 3600 });
    budget.countRefresh(p);
    expect(budget.over(p, 1)).toMatchObject({ budget: "mints_per_hour" });
    // An open that mints nothing (egress only) is not held back by mints_per_hour.
    expect(budget.over(p, 0)).toBeNull();
  });

  it("counts nothing for a task without a budget", () => {
    const budget = createBudget({ audit: fakeAudit(), now: () => 0 });
    for (let i = 0; i < 50; i++) budget.countOpen(policy(undefined), 3);
    expect(budget.over(policy({ sessionsPerHour: 1 }), 1)).toBeNull();
  });

  it("asks onOverBudget only for over_budget: approve, and refuses when it says no", async () => {
    const budget = createBudget({ audit: fakeAudit(), now: () => 0 });
    const asked: string[] = [];
    const grant = async (o: { budget: string }) => (asked.push(o.budget), true);
    const deny = budget.over(policy({ sessionsPerHour: 1 }), 1);
    expect(deny).toBeNull();
    budget.countOpen(policy({ sessionsPerHour: 1 }), 1);
    const plain = budget.over(policy({ sessionsPerHour: 1 }), 1)!;
    await expect(budget.refuse(plain, grant)).rejects.toMatchObject({ code: "ERR_BUDGET" });
    expect(asked).toEqual([]);
    const approve = budget.over(policy({ sessionsPerHour: 1 }, { overBudget: "approve" }), 1)!;
    await expect(budget.refuse(approve)).rejects.toMatchObject({ code: "ERR_BUDGET" }); // no approvals yet
    await expect(budget.refuse(approve, grant)).resolves.toBeUndefined();
    expect(asked).toEqual(["sessions_per_hour"]);
  });
});
