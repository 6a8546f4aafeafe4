/**
 * What an approver is shown and what an approval binds to: why the narrowed plan needs approval
 * (the policy's `approval:` conditions that hold), a summary written by the daemon (never by the
 * requester) of what the session would get, and a digest of the whole plan.
 */
import { createHash } from "node:crypto";
import type { ApprovalPolicy, SessionPlan } from "../policy/types.js";

export interface PlanSummary {
  task: string;
  ttlSeconds: number;
  /** GitHub repositories of the token; null when it reaches every repository of the installation. */
  repositories: string[] | null;
  /** GitHub permissions of the token. */
  permissions: Record<string, string>;
  /** Providers the session gets credentials from. */
  providers: string[];
  /** The approval conditions that held (`required`, `github_write`, `ttl_over`, `repositories`). */
  reasons: string[];
}

/** The conditions of `approval` that hold for `plan`; empty when no approval is needed. */
export function approvalReasons(approval: ApprovalPolicy | undefined, plan: SessionPlan): string[] {
  if (!approval) return [];
  if (approval.required) return ["required"];
  const when = approval.when ?? {};
  const reasons: string[] = [];
  const levels = Object.values(plan.github?.permissions ?? {});
  if (when.githubWrite === true && levels.some((l) => l === "write" || l === "admin")) reasons.push("github_write");
  if (when.ttlOverSeconds !== undefined && plan.ttlSeconds > when.ttlOverSeconds) reasons.push("ttl_over");
  if (when.repositories && plan.github) {
    // Without a repository list the token reaches every repository, the listed ones included.
    const reached = plan.github.repositories?.map((r) => r.toLowerCase());
    if (!reached || when.repositories.some((r) => reached.includes(r.toLowerCase()))) reasons.push("repositories");
  }
  return reasons;
}

export function planSummary(plan: SessionPlan, reasons: string[]): PlanSummary {
  const providers = [...(plan.aws ? ["aws"] : []), ...(plan.github ? ["github"] : []), ...(Object.keys(plan.env).length > 0 ? ["env"] : [])];
  return {
    task: plan.task,
    ttlSeconds: plan.ttlSeconds,
    repositories: plan.github ? (plan.github.repositories ? [...plan.github.repositories] : null) : [],
    permissions: { ...(plan.github?.permissions ?? {}) },
    providers,
    reasons,
  };
}

/** SHA-256 of the plan: equal plans of one policy version serialise alike (keys in the policy's order). */
export function planDigest(plan: SessionPlan): string {
  return createHash("sha256").update(JSON.stringify(plan)).digest("hex");
}
