/**
 * Budgets (`budget:` in a task's policy): sessions opened and credentials minted per task over a
 * sliding hour (budget-window.ts), kept across restarts in `<state>/budget.jsonl` (budget-file.ts).
 *
 * An open over budget is refused before anything is minted: ERR_BUDGET (HTTP 429, Retry-After
 * until the window frees enough), audited `budget.deny`. A refresh is counted but never refused:
 * refusing it would take the credentials from a session in the middle of its work, which its own
 * TTL already bounds; the refresh's count makes the task's next opens meet the wall sooner.
 * An open that fails after it was let through still counts: it may have minted part of its
 * credentials upstream, and an agent retrying a failing open in a loop is what budgets are for.
 * Only tasks with a `budget:` are counted (a budget added by a reload starts from nothing).
 */
import { randomBytes } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import type { Logger } from "../daemon/logger.js";
import { BrokerError } from "../errors.js";
import type { Policy } from "../policy/types.js";
import { formatDuration } from "../util/duration.js";
import { openBudgetFile, type BudgetFile } from "./budget-file.js";
import { createBudgetWindow, type BudgetKind, type BudgetWindow } from "./budget-window.js";
import type { JournalMac } from "./journal-mac.js";

export type BudgetName = "sessions_per_hour" | "mints_per_hour";

/** One open that would go over a budget. */
export interface OverBudget {
  task: string;
  budget: BudgetName;
  limit: number;
  /** Seconds until enough of the window's events have left it for this open to fit. */
  retryAfterSeconds: number;
  policy: Policy;
}

/**
 * Operator approval of one open over budget (`over_budget: approve`, the session manager passes
 * pending approvals): resolves true to let it go ahead (it is counted like any other), or throws
 * the approval's own refusal. Without it, `approve` is refused like `deny`.
 */
export type OnOverBudget = (over: OverBudget) => Promise<boolean>;

export interface Budget {
  /** The first budget an open minting `mints` credentials would exceed; null when it fits. Counts nothing. */
  over(policy: Policy, mints: number): OverBudget | null;
  /** Throws ERR_BUDGET (audited) unless the policy says approve and `onOverBudget` grants it. */
  refuse(over: OverBudget, onOverBudget?: OnOverBudget): Promise<void>;
  /** Counts an open: one session and `mints` credentials. Call in the same turn as `over`. */
  countOpen(policy: Policy, mints: number): void;
  /** Counts one credential minted by a refresh. */
  countRefresh(policy: Policy): void;
  close(): void;
}

export interface BudgetDeps {
  audit: AuditLog;
  now: () => number;
  window?: BudgetWindow;
  file?: BudgetFile;
}

const WHAT: Record<BudgetName, { kind: BudgetKind; unit: string }> = {
  sessions_per_hour: { kind: "session", unit: "sessions" },
  mints_per_hour: { kind: "mint", unit: "credentials minted" },
};

export function createBudget(deps: BudgetDeps): Budget {
  const window = deps.window ?? createBudgetWindow();
  const count = (task: string, kind: BudgetKind, n: number) => {
    for (let i = 0; i < n; i++) {
      const event = { t: deps.now(), task, kind, id: randomBytes(8).toString("hex") };
      window.add(event);
      deps.file?.append(event);
    }
  };
  /** Each budget of the policy, and how many events an open minting `mints` credentials adds to it. */
  const limits = (policy: Policy, mints: number): Array<[BudgetName, number | undefined, number]> => [
    ["sessions_per_hour", policy.budget?.sessionsPerHour, 1],
    ["mints_per_hour", policy.budget?.mintsPerHour, mints],
  ];

  return {
    over(policy, mints) {
      if (!policy.budget) return null;
      const now = deps.now();
      for (const [budget, limit, need] of limits(policy, mints)) {
        if (limit === undefined || need === 0) continue;
        const wait = window.waitMs(policy.task, WHAT[budget].kind, limit, need, now);
        if (wait > 0) return { task: policy.task, budget, limit, retryAfterSeconds: Math.ceil(wait / 1000), policy };
      }
      return null;
    },

    async refuse(over, onOverBudget) {
      if (over.policy.overBudget === "approve" && onOverBudget && (await onOverBudget(over))) return;
      deps.audit.write({ event: "budget.deny", task: over.task, session: null, outcome: "denied", budget: over.budget, limit: over.limit, retryAfter: over.retryAfterSeconds });
      throw budgetError(over);
    },

    countOpen(policy, mints) {
      if (!policy.budget) return;
      count(policy.task, "session", 1);
      count(policy.task, "mint", mints);
    },

    countRefresh(policy) {
      if (policy.budget) count(policy.task, "mint", 1);
    },

    close: () => deps.file?.close(),
  };
}

export function budgetError(over: OverBudget): BrokerError {
  const wait = formatDuration(over.retryAfterSeconds);
  return new BrokerError("ERR_BUDGET", `task ${over.task} is over its budget of ${over.limit} ${WHAT[over.budget].unit} per hour; the next frees up in ${wait}`, {
    fix: `wait ${wait} and retry, or raise budget.${over.budget} in ${over.policy.file} and reload the daemon's policies (SIGHUP)`,
    details: { budget: over.budget, limit: over.limit, retryAfterSeconds: over.retryAfterSeconds },
  });
}

/** The daemon's budget: its file read (what a dead daemon counted still counts), then kept. */
export function openBudget(stateDir: string, mac: JournalMac, deps: { audit: AuditLog; logger: Logger; now: () => number }): Budget {
  const window = createBudgetWindow();
  const { file, events, rejected } = openBudgetFile(stateDir, mac, deps.now, () => window.live(deps.now()), (error) =>
    deps.logger.log("error", "writing the budget file failed; counting in memory", { code: error.code ?? "EIO" }),
  );
  for (const event of events) window.add(event);
  if (rejected > 0) {
    // As the journal's: audited once per start, nothing of the lines copied.
    deps.audit.write({ event: "recover", task: null, session: null, outcome: "rejected", reason: "unauthenticated", file: "budget.jsonl", lines: rejected });
    deps.logger.log("warn", "budget.jsonl had lines that are not the daemon's (no valid MAC); skipped", { lines: rejected });
  }
  return createBudget({ audit: deps.audit, now: deps.now, window, file });
}
