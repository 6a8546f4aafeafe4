/**
 * The `approval:` section: a person approves a session before anything is minted, always
 * (`required: true`) or when one of the `when:` conditions holds for the narrowed request.
 * Durations below a minute are allowed (a test, or an operator who sits at the terminal).
 */
import { boolean, duration, fields, listOf, text } from "./field-checks.js";
import { MAX_TOKEN_REPOSITORIES, REPOSITORY_NAME, repositoryNameProblem } from "./github-names.js";
import type { ApprovalPolicy } from "./types.js";
import type { At, Rules, Walk } from "./yaml-reader.js";
import { report } from "./yaml-reader.js";

export const DEFAULT_APPROVAL_TIMEOUT_SECONDS = 5 * 60;
/** A request waits at most a day: a pending open holds a connection. */
export const MAX_APPROVAL_TIMEOUT_SECONDS = 86_400;
export const MAX_APPROVAL_REUSE_SECONDS = 7 * 86_400;

const repositoryName = text({ pattern: REPOSITORY_NAME, max: 100, shape: "a repository name within the owner", explain: repositoryNameProblem });

export const APPROVAL_WHEN_RULES = {
  github_write: { check: boolean },
  ttl_over: { check: duration(1, MAX_APPROVAL_REUSE_SECONDS) },
  repositories: { check: listOf(repositoryName, { min: 1, max: MAX_TOKEN_REPOSITORIES, identity: (name) => name.toLowerCase() }) },
} satisfies Rules;

export const APPROVAL_RULES = {
  required: { check: boolean },
  when: { check: fields(APPROVAL_WHEN_RULES) },
  timeout: { check: duration(1, MAX_APPROVAL_TIMEOUT_SECONDS) },
  reuse: { check: duration(0, MAX_APPROVAL_REUSE_SECONDS) },
} satisfies Rules;

export function readApproval(walk: Walk, node: unknown, at: At): ApprovalPolicy | undefined {
  const before = walk.problems.length;
  const values = fields(APPROVAL_RULES)(walk, node, at);
  if (!values || walk.problems.length > before) return undefined;
  const when = values.when;
  const conditions = when ? Object.keys(when).length : 0;
  if (values.required !== true && conditions === 0) {
    report(walk, at, "asks for approval in no case: add required: true, or when: { github_write: true, ttl_over: 30m, repositories: [NAME] }");
    return undefined;
  }
  if (values.required === true && conditions > 0) {
    report(walk, at, "has required: true and when: conditions; every request waits with required: true, so drop when: (or set required: false)");
    return undefined;
  }
  return {
    required: values.required === true,
    ...(when && conditions > 0
      ? {
          when: {
            ...(when.github_write !== undefined ? { githubWrite: when.github_write } : {}),
            ...(when.ttl_over !== undefined ? { ttlOverSeconds: when.ttl_over } : {}),
            ...(when.repositories !== undefined ? { repositories: when.repositories } : {}),
          },
        }
      : {}),
    timeoutSeconds: values.timeout ?? DEFAULT_APPROVAL_TIMEOUT_SECONDS,
    reuseSeconds: values.reuse ?? 0,
  };
}
