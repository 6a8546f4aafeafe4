/**
 * The `budget:` section and `over_budget`: how many sessions and credentials a task may have per
 * sliding hour, so that an agent caught in a loop (or steered by an injection) runs into a wall
 * instead of minting without end. Counting and refusing live in sessions/budget.ts.
 */
import { fields, integer, text } from "./field-checks.js";
import type { BudgetPolicy, OverBudgetChoice } from "./types.js";
import type { At, Check, Rules, Walk } from "./yaml-reader.js";
import { report } from "./yaml-reader.js";

/** Far above any honest agent's hour, low enough that a window's timestamps stay a small array. */
export const MAX_PER_HOUR = 100_000;

export const BUDGET_RULES = {
  sessions_per_hour: { check: integer(1, MAX_PER_HOUR) },
  mints_per_hour: { check: integer(1, MAX_PER_HOUR) },
} satisfies Rules;

export const readBudget: Check<BudgetPolicy> = (walk, node, at) => {
  const values = fields(BUDGET_RULES)(walk, node, at);
  if (!values) return undefined;
  if (values.sessions_per_hour === undefined && values.mints_per_hour === undefined) {
    report(walk, at, "sets no budget: add sessions_per_hour, mints_per_hour or both (whole numbers), or remove budget");
    return undefined;
  }
  return {
    ...(values.sessions_per_hour !== undefined ? { sessionsPerHour: values.sessions_per_hour } : {}),
    ...(values.mints_per_hour !== undefined ? { mintsPerHour: values.mints_per_hour } : {}),
  };
};

export const readOverBudget: Check<OverBudgetChoice> = text({
  shape: "deny or approve",
  explain: (v) => (v === "deny" || v === "approve" ? undefined : `must be deny or approve, found "${v}"`),
}) as Check<OverBudgetChoice>;

/**
 * Each session mints one credential per provider it uses (aws, github, env): a mints_per_hour
 * below that would refuse every session, which is a typo rather than a budget.
 */
export function checkMintsCoverSession(walk: Walk, at: At | undefined, budget: BudgetPolicy | undefined, providers: string[]): void {
  if (!at || budget?.mintsPerHour === undefined || budget.mintsPerHour >= providers.length) return;
  report(
    walk,
    at,
    `mints_per_hour ${budget.mintsPerHour} is below the ${providers.length} credentials each session mints (${providers.join(", ")}); raise it to at least ${providers.length}`,
  );
}
