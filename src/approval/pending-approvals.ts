/**
 * Session requests waiting for a person. The open call of a request whose plan needs approval
 * (plan-summary.ts) waits here until `broker approve` (bound to the plan's digest, used once),
 * `broker deny`, the policy's `approval.timeout`, or its caller's connection closing (withdrawn).
 * With `approval.reuse`, an approved plan's digest is remembered for that long and an identical
 * request within it is let through without asking again. Every decision is an audit line.
 */
import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import { BrokerError } from "../errors.js";
import type { Policy, SessionPlan } from "../policy/types.js";
import { formatDuration } from "../util/duration.js";
import { isoTime } from "../util/iso-time.js";
import type { Notifier } from "./notifier.js";
import { approvalReasons, planDigest, planSummary, type PlanSummary } from "./plan-summary.js";
import { sanitiseText, type Requester } from "./requester.js";

/** What the open call brings: who asks, how to tell it the id, and a signal that it went away. */
export interface ApprovalWait {
  /** Read only when a request must wait (it costs a few /proc reads). */
  requester(): Requester;
  parentSession: string | null;
  onPending(id: string): void;
  signal: AbortSignal;
}

export interface Approver {
  uid: number | null;
  pid: number | null;
}

export interface PendingView {
  id: string;
  task: string;
  digest: string;
  createdAt: string;
  expiresAt: string;
  summary: PlanSummary;
  requester: Requester;
  parentSession: string | null;
}

export interface Approvals {
  /**
   * Returns once `plan` may be minted: no approval needed (undefined), or reused or approved (the
   * approval's id, a reused one's own); throws otherwise. `forced` is a reason the policy's own
   * conditions do not give (an open over its budget with `over_budget: approve`): then it is
   * always asked, never reused.
   */
  check(policy: Policy, plan: SessionPlan, wait: ApprovalWait | undefined, forced?: string): Promise<string | undefined>;
  list(): PendingView[];
  approve(id: string, digest: string, approver: Approver): void;
  deny(id: string, approver: Approver, reason: string | undefined): void;
  /** The daemon stops: every waiting request is refused. */
  cancelAll(): void;
}

interface Pending {
  view: PendingView;
  settle(error: BrokerError | null): void;
}

export interface ApprovalsDeps {
  audit: AuditLog;
  now: () => number;
  notify: Notifier;
}

const notFound = (id: string) =>
  new BrokerError("ERR_APPROVAL_NOT_FOUND", `no session request "${sanitiseText(id, 64)}" is waiting for approval`, {
    fix: "list the waiting requests with `broker approvals`; a request that was decided, timed out or withdrawn is gone",
  });

/** A task with `over_budget: approve` and no `approval:` section waits as long as approval's default. */
const DEFAULT_TIMEOUT_SECONDS = 300;

/** Approved plans remembered for `approval.reuse` at most (the oldest is forgotten first). */
const MAX_REMEMBERED = 1024;

const flatPermissions = (summary: PlanSummary) => Object.entries(summary.permissions).map(([k, v]) => `${k}=${v}`);

export function createApprovals(deps: ApprovalsDeps): Approvals {
  const pending = new Map<string, Pending>();
  /** Approved digests → the approval, and until when it is reused. */
  const approved = new Map<string, { id: string; until: number }>();

  function take(id: string): Pending {
    const entry = pending.get(id);
    if (!entry) throw notFound(id);
    pending.delete(id);
    return entry;
  }

  /** Expired digests go when a new one comes, and the oldest beyond MAX_REMEMBERED: memory stays bounded. */
  function remember(digest: string, id: string, until: number): void {
    const now = deps.now();
    for (const [d, t] of approved) if (t.until <= now) approved.delete(d);
    approved.delete(digest);
    approved.set(digest, { id, until });
    if (approved.size > MAX_REMEMBERED) approved.delete(approved.keys().next().value!);
  }

  /** The id of the approval still reused for this digest, if any. */
  function reused(digest: string): string | undefined {
    const entry = approved.get(digest);
    if (entry === undefined) return undefined;
    if (entry.until > deps.now()) return entry.id;
    approved.delete(digest);
    return undefined;
  }

  return {
    async check(policy, plan, wait, forced) {
      const reasons = [...approvalReasons(policy.approval, plan), ...(forced ? [forced] : [])];
      if (reasons.length === 0) return undefined;
      const digest = planDigest(plan);
      const summary = planSummary(plan, reasons);
      const earlier = forced ? undefined : reused(digest);
      if (earlier) {
        deps.audit.write({ event: "approve", task: policy.task, session: null, outcome: "reused", approval: earlier, digest: digest.slice(0, 16) });
        return earlier;
      }
      const timeoutSeconds = policy.approval?.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
      // Reusing an approval given over budget would lift the budget for the whole window.
      const reuseSeconds = forced ? 0 : (policy.approval?.reuseSeconds ?? 0);
      const id = randomUUID();
      const now = deps.now();
      const requester = wait?.requester() ?? { pid: null, uid: null, executable: null, cwd: null };
      const view: PendingView = { id, task: policy.task, digest, createdAt: isoTime(now), expiresAt: isoTime(now + timeoutSeconds * 1000), summary, requester, parentSession: wait?.parentSession ?? null };
      deps.audit.write({
        event: "approval.request", task: policy.task, session: null, outcome: "pending", approval: id, digest: digest.slice(0, 16), reasons,
        repositories: summary.repositories ?? ["*"], permissions: flatPermissions(summary), ttlSeconds: summary.ttlSeconds,
        requesterPid: requester.pid, requesterExecutable: requester.executable, parentSession: view.parentSession,
      });
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (!pending.delete(id)) return;
          deps.audit.write({ event: "approval.timeout", task: policy.task, session: null, outcome: "timeout", approval: id, timeoutSeconds });
          finish(new BrokerError("ERR_APPROVAL_TIMEOUT", `nobody approved the request for task "${policy.task}" within ${formatDuration(timeoutSeconds)}`, {
            fix: `have it approved in time (\`broker approvals\`, then \`broker approve ID\`), or raise approval.timeout in ${policy.file}`,
          }));
        }, timeoutSeconds * 1000);
        const onAbort = () => {
          if (!pending.delete(id)) return;
          deps.audit.write({ event: "approval.withdraw", task: policy.task, session: null, outcome: "withdrawn", approval: id, reason: "the caller's connection closed" });
          finish(new BrokerError("ERR_APPROVAL_DENIED", "the request was withdrawn: its caller went away", {}));
        };
        const finish = (error: BrokerError | null) => {
          clearTimeout(timer);
          wait?.signal.removeEventListener("abort", onAbort);
          if (error) reject(error);
          else resolve(id);
        };
        pending.set(id, {
          view,
          settle: (error) => {
            if (!error && reuseSeconds > 0) remember(digest, id, deps.now() + reuseSeconds * 1000);
            finish(error);
          },
        });
        if (wait?.signal.aborted) return onAbort();
        wait?.signal.addEventListener("abort", onAbort);
        wait?.onPending(id);
        deps.notify({
          id, task: policy.task, repositories: summary.repositories, permissions: summary.permissions, ttlSeconds: summary.ttlSeconds, reasons,
          requester: { pid: requester.pid, executable: requester.executable, cwd: requester.cwd }, parentSession: view.parentSession, expiresAt: view.expiresAt,
        });
      });
    },

    list: () => [...pending.values()].map((p) => p.view),

    approve(id, digest, approver) {
      const entry = pending.get(id);
      if (!entry) throw notFound(id);
      // Bound to the request the approver was shown: a different digest approves nothing.
      if (entry.view.digest !== digest) throw new BrokerError("ERR_APPROVAL_NOT_FOUND", `request "${id}" is not the one shown (its plan digest differs)`, { fix: "run `broker approvals` again and approve what it lists" });
      take(id);
      deps.audit.write({ event: "approve", task: entry.view.task, session: null, outcome: "approved", approval: id, digest: digest.slice(0, 16), approverUid: approver.uid, approverPid: approver.pid });
      entry.settle(null);
    },

    deny(id, approver, reason) {
      const entry = take(id);
      const why = reason === undefined ? undefined : sanitiseText(reason);
      deps.audit.write({ event: "deny", task: entry.view.task, session: null, outcome: "approval-denied", approval: id, approverUid: approver.uid, approverPid: approver.pid, ...(why ? { reason: why } : {}) });
      entry.settle(new BrokerError("ERR_APPROVAL_DENIED", `the request for task "${entry.view.task}" was denied${why ? `: ${why}` : ""}`, { fix: "ask the operator, or request less (a narrower --repositories/--permissions, a shorter --ttl)" }));
    },

    cancelAll() {
      for (const [id, entry] of [...pending]) {
        pending.delete(id);
        deps.audit.write({ event: "approval.withdraw", task: entry.view.task, session: null, outcome: "shutdown", approval: id });
        entry.settle(new BrokerError("ERR_DAEMON_STOPPING", "the daemon is shutting down", { fix: "start it again and retry" }));
      }
    },
  };
}
