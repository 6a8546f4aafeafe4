/**
 * A caller that can use only some providers says so (`requires`), and a task lacking one is
 * refused before anything is minted: `broker mint --format credential-process` for a task
 * without AWS used to open a session, fail to print it, and leave it (and its GitHub token) live.
 */
import { BrokerError } from "../errors.js";
import type { Policy } from "../policy/types.js";

export function missingProvider(policy: Policy, requires: readonly ("aws" | "github")[] | undefined): BrokerError | null {
  const missing = requires?.find((name) => !policy[name]);
  if (!missing) return null;
  const what = missing === "aws" ? "AWS credentials" : "GitHub token";
  return new BrokerError("ERR_POLICY_DENIED", `task "${policy.task}" gives no ${what}`, { fix: `add a ${missing}: block to its policy, or use a task that has one` });
}
