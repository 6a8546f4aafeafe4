/**
 * Policies may already say `inject:` (github, aws, env entries), and `broker policy check`
 * validates it, but this daemon does not yet terminate TLS at the egress proxy to put the real
 * value on the wire. Serving such a task would hand the real credential to the box while its
 * author believes it never gets there, so it fails closed until injection is wired in.
 */
import { BrokerError } from "../errors.js";
import type { SessionPlan } from "../policy/types.js";

export function injectionRequested(plan: Pick<SessionPlan, "github" | "aws" | "env">): boolean {
  return plan.github?.inject === true || plan.aws?.inject === true || Object.values(plan.env).some((entry) => entry.inject !== undefined);
}

export function injectionUnavailableError(task: string): BrokerError {
  return new BrokerError("ERR_POLICY_DENIED", `task "${task}" asks for credentials injected at the egress proxy (inject:), which this version of the daemon does not do yet`, {
    fix: `remove inject: from ${task}.yaml to hand the credential to the command itself, or wait for a version with injection`,
  });
}
