/** The waiting room on a fake clock: timeout, reuse window, withdrawal, shutdown, one use per approval. */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApprovals, type ApprovalWait } from "../../src/approval/pending-approvals.js";
import type { AuditEntry } from "../../src/audit/audit-log.js";
import { narrowRequest } from "../../src/policy/narrow.js";
import { parsePolicy } from "../../src/policy/validate-policy.js";

const policy = parsePolicy("/p/demo.yaml", "task: demo\nenv:\n  K: { secret: s }\napproval:\n  required: true\n  timeout: 1m\n  reuse: 10m\n").policy!;
const plan = narrowRequest(policy, {});

describe("pending approvals", () => {
  let lines: AuditEntry[];
  let approvals: ReturnType<typeof createApprovals>;
  beforeEach(() => {
    vi.useFakeTimers().setSystemTime(new Date("2026-01-01T00:00:00Z"));
    lines = [];
    approvals = createApprovals({ audit: { write: (e) => void lines.push(e), afterWrite: (cb) => cb(), close: async () => undefined }, now: Date.now, notify: () => undefined });
  });
  afterEach(() => vi.useRealTimers());

  function waiter(): ApprovalWait & { ids: string[]; controller: AbortController } {
    const controller = new AbortController();
    const ids: string[] = [];
    return { ids, controller, signal: controller.signal, parentSession: null, requester: () => ({ pid: 1, uid: 2, executable: "/x", cwd: "/" }), onPending: (id) => void ids.push(id) };
  }

  it("times out after approval.timeout", async () => {
    const open = approvals.check(policy, plan, waiter());
    const refused = expect(open).rejects.toMatchObject({ code: "ERR_APPROVAL_TIMEOUT" });
    await vi.advanceTimersByTimeAsync(60_000);
    await refused;
    expect(approvals.list()).toEqual([]);
    expect(lines.map((l) => l.event)).toEqual(["approval.request", "approval.timeout"]);
  });

  it("reuses an approved plan within approval.reuse, and asks again after it", async () => {
    const w = waiter();
    const open = approvals.check(policy, plan, w);
    approvals.approve(w.ids[0]!, approvals.list()[0]!.digest, { uid: 2, pid: 3 });
    expect(await open).toBe(w.ids[0]);
    expect(() => approvals.approve(w.ids[0]!, approvals.list()[0]?.digest ?? "", { uid: 2, pid: 3 })).toThrow(expect.objectContaining({ code: "ERR_APPROVAL_NOT_FOUND" }));
    await vi.advanceTimersByTimeAsync(9 * 60_000);
    expect(await approvals.check(policy, plan, waiter())).toBe(w.ids[0]);
    await vi.advanceTimersByTimeAsync(2 * 60_000);
    const late = waiter();
    const again = approvals.check(policy, plan, late);
    expect(late.ids).toHaveLength(1);
    approvals.deny(late.ids[0]!, { uid: 2, pid: 3 }, "no\nmore\u001b");
    await expect(again).rejects.toMatchObject({ code: "ERR_APPROVAL_DENIED", message: expect.stringContaining("denied: nomore") });
    expect(lines.map((l) => `${l.event}:${l.outcome}`)).toEqual(["approval.request:pending", "approve:approved", "approve:reused", "approval.request:pending", "deny:approval-denied"]);
  });

  it("is withdrawn when its caller goes, and refused when the daemon stops", async () => {
    const w = waiter();
    const open = approvals.check(policy, plan, w);
    w.controller.abort();
    await expect(open).rejects.toMatchObject({ code: "ERR_APPROVAL_DENIED" });
    const other = approvals.check(policy, plan, waiter());
    approvals.cancelAll();
    await expect(other).rejects.toMatchObject({ code: "ERR_DAEMON_STOPPING" });
    expect(lines.filter((l) => l.event === "approval.withdraw").map((l) => l.outcome)).toEqual(["withdrawn", "shutdown"]);
    expect(approvals.list()).toEqual([]);
  });
});
