/** The live policy set; a reload that finds any problem is refused and the old set kept. */
import { BrokerError } from "../errors.js";
import { loadPolicies } from "../policy/load-policies.js";
import type { Policy } from "../policy/types.js";
import { upstreamChanges } from "../policy/upstream-changes.js";
import { formatProblem } from "../policy/validate-policy.js";
import type { Logger } from "./logger.js";

export interface PolicyHolder {
  current: () => Map<string, Policy>;
  /** Returns true when the new set was taken. */
  reload: () => Promise<boolean>;
}

async function loadStrict(dir: string): Promise<Map<string, Policy>> {
  const { policies, problems } = await loadPolicies(dir);
  if (problems.length > 0) {
    throw new BrokerError("ERR_POLICY_INVALID", `${problems.length} problem(s) in ${dir}:\n${problems.map(formatProblem).join("\n")}`, {
      fix: `fix them (broker policy check ${dir}) and start again`,
    });
  }
  return policies;
}

export async function loadPolicyHolder(dir: string, logger: Logger): Promise<PolicyHolder> {
  let policies = await loadStrict(dir);
  return {
    current: () => policies,
    async reload() {
      try {
        const next = await loadStrict(dir);
        for (const change of upstreamChanges(policies, next)) {
          logger.log("warn", "policy reload changes a task's upstream URL", { dir, task: change.task, field: change.field, old: change.old, new: change.new });
        }
        policies = next;
        logger.log("info", "policies reloaded", { dir, tasks: [...policies.keys()] });
        return true;
      } catch (error) {
        const { problems } = await loadPolicies(dir).catch(() => ({ problems: [] }));
        logger.log("error", "policy reload refused; keeping the old set", { dir, problems: problems.map(formatProblem), code: (error as BrokerError).code });
        return false;
      }
    },
  };
}
