/**
 * Turns a request into a session plan. A request may narrow (shorter TTL, fewer repositories,
 * lower permissions) and never widen: anything beyond the policy is a denial that says what
 * was asked beyond it, never a silent cut.
 */
import { BrokerError } from "../errors.js";
import { formatDuration } from "../util/duration.js";
import { levelsFor, levelWithin, PERMISSION_NAMES, permissionProblem } from "./github-permissions.js";
import { MAX_TOKEN_REPOSITORIES, repositoryNameProblem } from "./github-names.js";
import { closest } from "./closest.js";
import type { GithubPolicy, PermissionLevel, Policy, RequestScope, SessionPlan } from "./types.js";

export interface NarrowRequest {
  ttlSeconds?: number;
  scope?: RequestScope;
}

type GithubScope = NonNullable<RequestScope["github"]>;

export function narrowRequest(policy: Policy, request: NarrowRequest): SessionPlan {
  const ttlSeconds = narrowTtl(policy, request.ttlSeconds);
  const scope = checkScopeShape(request.scope);
  const github = narrowGithub(policy, scope?.github);
  return {
    task: policy.task,
    ttlSeconds,
    // A policy is deep-frozen when parsed (validate-policy.ts), so its parts are shared, not copied.
    ...(policy.aws ? { aws: policy.aws } : {}),
    ...(github ? { github } : {}),
    env: policy.env,
    sandbox: policy.sandbox,
    ...(policy.egress ? { egress: policy.egress } : {}),
  };
}

function narrowTtl(policy: Policy, asked: number | undefined): number {
  if (asked === undefined) return policy.ttlSeconds;
  if (!Number.isSafeInteger(asked) || asked < 1) {
    throw new BrokerError("ERR_BAD_REQUEST", `ttl must be a whole number of seconds, at least 1s; got ${String(asked)}`);
  }
  if (asked > policy.maxTtlSeconds) {
    throw new BrokerError(
      "ERR_POLICY_DENIED",
      `task ${policy.task} allows sessions of at most ${formatDuration(policy.maxTtlSeconds)} (max_ttl); the request asked for ${formatDuration(asked)}`,
      {
        fix: `ask for ${formatDuration(policy.maxTtlSeconds)} or less, or raise max_ttl in ${policy.file}`,
        details: { task: policy.task, maxTtlSeconds: policy.maxTtlSeconds, requestedTtlSeconds: asked },
      },
    );
  }
  return asked;
}

/** Unknown scope keys would be ignored, which reads as narrowing that did not happen: refuse them. */
function checkScopeShape(scope: RequestScope | undefined): RequestScope | undefined {
  if (scope === undefined) return undefined;
  if (!isRecord(scope)) throw badScope("scope must be an object");
  for (const key of Object.keys(scope)) if (key !== "github") throw badScope(`scope.${key} is not something a request can narrow`);
  if (scope.github === undefined) return scope;
  if (!isRecord(scope.github)) throw badScope("scope.github must be an object");
  for (const key of Object.keys(scope.github)) {
    if (key !== "repositories" && key !== "permissions") throw badScope(`scope.github.${key} is not something a request can narrow`);
  }
  return scope;
}

function narrowGithub(policy: Policy, scope: GithubScope | undefined): GithubPolicy | undefined {
  const granted = policy.github;
  if (scope === undefined) return granted;
  if (!granted) {
    throw new BrokerError("ERR_POLICY_DENIED", `task ${policy.task} grants no GitHub access; the request asked for a github scope`, {
      fix: `leave out the github scope, or add a github section to ${policy.file}`,
      details: { task: policy.task },
    });
  }
  const beyond: string[] = [];
  const repositories = scope.repositories === undefined ? granted.repositories : narrowRepositories(granted, scope.repositories, beyond);
  const permissions = scope.permissions === undefined ? granted.permissions : narrowPermissions(granted, scope.permissions, beyond);
  if (beyond.length > 0) {
    throw new BrokerError("ERR_POLICY_DENIED", `the request goes beyond task ${policy.task}'s policy: ${beyond.join("; ")}`, {
      fix: `ask for no more than the policy grants, or widen it in ${policy.file}`,
      details: { task: policy.task },
    });
  }
  return { ...granted, ...(repositories !== undefined ? { repositories: [...repositories] } : {}), permissions: { ...permissions } };
}

function narrowRepositories(granted: GithubPolicy, asked: unknown, beyond: string[]): string[] {
  if (!Array.isArray(asked) || asked.length === 0 || asked.length > MAX_TOKEN_REPOSITORIES) {
    throw badScope(`scope.github.repositories must list 1 to ${MAX_TOKEN_REPOSITORIES} repository names`);
  }
  const allowed = new Map((granted.repositories ?? []).map((name) => [name.toLowerCase(), name]));
  const result = new Map<string, string>();
  const outside: string[] = [];
  for (const name of asked) {
    const problem = typeof name === "string" ? repositoryNameProblem(name) : "must be text";
    if (problem) throw badScope(`scope.github.repositories: ${JSON.stringify(name)} ${problem}`);
    const key = (name as string).toLowerCase();
    if (granted.repositories && !allowed.has(key)) outside.push(name as string);
    else result.set(key, allowed.get(key) ?? (name as string));
  }
  if (outside.length > 0) {
    beyond.push(`repositories ${outside.join(", ")} (the policy allows only ${granted.repositories?.join(", ")})`);
  }
  return [...result.values()];
}

function narrowPermissions(granted: GithubPolicy, asked: unknown, beyond: string[]): Record<string, PermissionLevel> {
  if (!isRecord(asked) || Object.keys(asked).length === 0) {
    throw badScope("scope.github.permissions must name at least one permission, e.g. { contents: read }");
  }
  const result: Record<string, PermissionLevel> = {};
  for (const [name, level] of Object.entries(asked)) {
    const problem = permissionProblem(name, level);
    if (problem) throw badScope(`scope.github.permissions.${name} ${problem}`);
    const mine = Object.hasOwn(granted.permissions, name) ? granted.permissions[name] : undefined;
    const wanted = level as PermissionLevel;
    if (mine === undefined) beyond.push(`${name}=${wanted} (the policy grants no ${name})`);
    else if (!levelWithin(wanted, mine)) beyond.push(`${name}=${wanted} (the policy grants ${name}=${mine})`);
    else result[name] = wanted;
  }
  return result;
}

/** `--permissions contents=read,issues=write` → `{ contents: "read", issues: "write" }`. */
export function parseRequestedPermissions(text: string): Record<string, PermissionLevel> {
  const result: Record<string, PermissionLevel> = {};
  for (const item of splitList(text, "--permissions", "contents=read,issues=write")) {
    const match = /^([a-z_]+)\s*=\s*([a-z]+)$/.exec(item);
    if (!match) throw usage(`--permissions: "${item}" is not name=level`, "write --permissions contents=read,issues=write");
    const [, name = "", level = ""] = match;
    if (!levelsFor(name)) {
      const near = closest(name, PERMISSION_NAMES);
      throw usage(`--permissions: ${name} is not a GitHub App permission`, near ? `did you mean ${near}?` : `known: ${PERMISSION_NAMES.join(", ")}`);
    }
    const problem = permissionProblem(name, level);
    if (problem) throw usage(`--permissions: ${name} ${problem}`, `write ${levelsFor(name)!.map((l) => `${name}=${l}`).join(" or ")}: the levels GitHub allows for ${name}`);
    if (Object.hasOwn(result, name)) throw usage(`--permissions: ${name} is given twice`, "name each permission once");
    result[name] = level as PermissionLevel;
  }
  return result;
}

/** `--repositories a,b` → `["a", "b"]` (names within the policy's owner). */
export function parseRequestedRepositories(text: string): string[] {
  const result: string[] = [];
  const seen = new Set<string>();
  for (const name of splitList(text, "--repositories", "reports,website")) {
    const problem = repositoryNameProblem(name);
    if (problem) throw usage(`--repositories: "${name}" ${problem}`, "write --repositories name1,name2");
    if (seen.has(name.toLowerCase())) throw usage(`--repositories: ${name} is given twice`, "name each repository once");
    seen.add(name.toLowerCase());
    result.push(name);
  }
  if (result.length > MAX_TOKEN_REPOSITORIES) {
    throw usage(`--repositories: at most ${MAX_TOKEN_REPOSITORIES} repositories per token`, "leave it out to get every repository the policy allows");
  }
  return result;
}

function splitList(text: string, flag: string, example: string): string[] {
  const items = text.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) throw usage(`${flag} needs a comma-separated list without empty items`, `e.g. ${flag} ${example}`);
  return items;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function badScope(message: string): BrokerError {
  return new BrokerError("ERR_BAD_REQUEST", message, { fix: "a scope may only name repositories and permissions to narrow the policy's github access" });
}

function usage(message: string, fix: string): BrokerError {
  return new BrokerError("ERR_USAGE", message, { fix });
}
