/**
 * POST /app/installations/{id}/access_tokens, narrowed to the plan's repositories and permissions.
 * GitHub's 422 says only that *something* is beyond the installation; we ask GitHub what the
 * installation has and name exactly what is missing.
 */
import { BrokerError } from "../errors.js";
import type { GithubAppClient } from "./github-client.js";
import { toBrokerError, UpstreamFailure } from "./github-errors.js";
import { notInstalled } from "./github-installation.js";

export interface TokenRequest {
  installationId: number;
  /** Known when the policy names the owner; otherwise read from the installation when needed. */
  owner?: string;
  /** Names within the owner; undefined = every repository the installation can see. */
  repositories?: string[];
  permissions: Record<string, string>;
}

export interface TokenAnswer {
  token: string;
  expiresAt: string;
  permissions: Record<string, string>;
  /** Names; empty when the token covers all the installation's repositories and GitHub did not list them. */
  repositories: string[];
}

const LEVELS: Record<string, number> = { read: 1, write: 2, admin: 3 };
/** Diagnosing a 422 checks each repository with one call; past this many we say "some of". */
const MAX_REPOSITORY_CHECKS = 20;

export async function createInstallationToken(client: GithubAppClient, request: TokenRequest, now: () => number): Promise<TokenAnswer> {
  const body: Record<string, unknown> = { installation_id: request.installationId, permissions: request.permissions };
  if (request.repositories) body.repositories = request.repositories;
  let data: unknown;
  try {
    data = await client.call("POST /app/installations/{installation_id}/access_tokens", body);
  } catch (error) {
    if (!(error instanceof UpstreamFailure)) throw error;
    const id = request.installationId;
    if (error.status === 404) {
      const forOwner = request.owner ? ` (for "${request.owner}")` : "";
      throw notInstalled(client, `as installation ${id}${forOwner}: GitHub does not know that installation`, { installationId: id });
    }
    if (error.status === 422) throw await scopeError(client, request, error);
    const action = `creating a token for installation ${id}`;
    throw toBrokerError(error, { action, appId: client.appId, apiUrl: client.apiUrl, now: now() });
  }
  return parseAnswer(data);
}

function parseAnswer(data: unknown): TokenAnswer {
  const d = (data ?? {}) as { token?: unknown; expires_at?: unknown; permissions?: unknown; repositories?: unknown };
  if (typeof d.token !== "string" || d.token.length === 0 || typeof d.expires_at !== "string" || Number.isNaN(Date.parse(d.expires_at))) {
    throw new BrokerError("ERR_UPSTREAM_GITHUB", "GitHub's answer to the token request has no token or no valid expires_at");
  }
  const permissions: Record<string, string> = {};
  if (d.permissions && typeof d.permissions === "object") {
    for (const [k, v] of Object.entries(d.permissions)) if (typeof v === "string") permissions[k] = v;
  }
  const repositories = Array.isArray(d.repositories)
    ? d.repositories.map((r) => (r as { name?: unknown })?.name).filter((n): n is string => typeof n === "string")
    : [];
  return { token: d.token, expiresAt: d.expires_at, permissions, repositories };
}

async function scopeError(client: GithubAppClient, request: TokenRequest, failure: UpstreamFailure): Promise<BrokerError> {
  const missing = await findMissingScope(client, request).catch(() => null);
  const parts: string[] = [];
  if (missing?.repositories.length) parts.push(`repositories ${missing.repositories.join(", ")}`);
  if (missing?.permissions.length) parts.push(`permissions ${missing.permissions.join(", ")}`);
  const asked = [
    request.repositories ? `repositories ${request.repositories.join(", ")}` : "",
    `permissions ${Object.entries(request.permissions).map(([k, v]) => `${k}=${v}`).join(", ")}`,
  ].filter(Boolean).join("; ");
  const what = parts.length ? `the installation lacks ${parts.join("; ")}` : `some of ${asked} is beyond the installation`;
  const details: Record<string, string | number> = { upstreamStatus: 422, installationId: request.installationId };
  if (missing?.repositories.length) details.missingRepositories = missing.repositories.join(",");
  if (missing?.permissions.length) details.missingPermissions = missing.permissions.join(",");
  const installation = `installation ${request.installationId}${missing?.owner ? ` (${missing.owner})` : ""}`;
  return new BrokerError("ERR_UPSTREAM_GITHUB", `GitHub refused a token for ${installation}: ${what} (GitHub: ${failure.githubMessage})`, {
    fix:
      "grant the app those repositories/permissions in the installation's settings, " +
      "or narrow github.repositories / github.permissions in the task's policy",
    details,
  });
}

interface MissingScope {
  owner: string | undefined;
  repositories: string[];
  /** `name=wanted (granted: level)` or `name=wanted (not granted)`. */
  permissions: string[];
}

async function findMissingScope(client: GithubAppClient, request: TokenRequest): Promise<MissingScope> {
  const installation = (await client.call("GET /app/installations/{installation_id}", { installation_id: request.installationId })) as {
    account?: { login?: unknown };
    permissions?: Record<string, unknown>;
  };
  const owner = request.owner ?? (typeof installation.account?.login === "string" ? installation.account.login : undefined);
  const granted = installation.permissions ?? {};
  const permissions = Object.entries(request.permissions)
    .filter(([name, level]) => (LEVELS[String(granted[name])] ?? 0) < (LEVELS[level] ?? Infinity))
    .map(([name, level]) => `${name}=${level} (${typeof granted[name] === "string" ? `granted: ${String(granted[name])}` : "not granted"})`);
  const repositories: string[] = [];
  for (const repo of (owner && request.repositories ? request.repositories : []).slice(0, MAX_REPOSITORY_CHECKS)) {
    if (!(await repositoryIsCovered(client, owner!, repo, request.installationId))) repositories.push(repo);
  }
  return { owner, repositories, permissions };
}

async function repositoryIsCovered(client: GithubAppClient, owner: string, repo: string, installationId: number): Promise<boolean> {
  try {
    const answer = (await client.call("GET /repos/{owner}/{repo}/installation", { owner, repo })) as { id?: unknown };
    return answer.id === installationId;
  } catch (error) {
    if (error instanceof UpstreamFailure && error.status === 404) return false;
    throw error;
  }
}
