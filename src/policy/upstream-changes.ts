/**
 * Where each task's credentials are minted: the upstream URLs a policy names. A reload that moves
 * one (to a stand-in, or to a host that collects GitHub App JWTs) is worth a line in the log.
 */
import type { Policy } from "./types.js";

export interface UpstreamChange {
  task: string;
  field: "aws.endpoint" | "github.api_url";
  /** "default" where the policy names none (the regional STS endpoint); null where the section is absent. */
  old: string | null;
  new: string | null;
}

function upstreams(policy: Policy | undefined): Record<UpstreamChange["field"], string | null> {
  return {
    "aws.endpoint": policy?.aws ? (policy.aws.endpoint ?? "default") : null,
    "github.api_url": policy?.github ? policy.github.apiUrl : null,
  };
}

/** Upstream URLs that differ between two sets, for tasks in both (a new task's URLs are in its policy; the reload line lists the tasks). */
export function upstreamChanges(before: Map<string, Policy>, after: Map<string, Policy>): UpstreamChange[] {
  const changes: UpstreamChange[] = [];
  for (const [task, policy] of after) {
    const previous = before.get(task);
    if (!previous) continue;
    const was = upstreams(previous);
    const now = upstreams(policy);
    for (const field of ["aws.endpoint", "github.api_url"] as const) {
      if (was[field] !== now[field]) changes.push({ task, field, old: was[field], new: now[field] });
    }
  }
  return changes;
}
