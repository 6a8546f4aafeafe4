/**
 * The GitHub provider: turns a plan's `github` section into one installation token, narrowed to
 * the plan's repositories and permissions, from the app key in the store. Loading this module
 * loads no Octokit; the first mint does. The app's client (and its JWT) is reused across mints.
 */
import { BrokerError } from "../errors.js";
import type { GithubPolicy, SessionPlan } from "../policy/types.js";
import { tokenFingerprint } from "../util/fingerprint.js";
import type { GithubCredentials, Lease, Provider, ProviderDeps } from "./provider.js";
import { readGithubAppSecret } from "./github-app-secret.js";
import { createGithubClientCache } from "./github-client-cache.js";
import { githubWebOrigin, normaliseApiUrl } from "./github-host.js";
import { createInstallationCache } from "./github-installation.js";
import { DEFAULT_RETRY, type RetryOptions } from "./github-retry.js";
import type { GithubRevokeHandle } from "./github-revoke.js";
import { createInstallationToken } from "./github-token.js";

export { githubWebOrigin, normaliseApiUrl } from "./github-host.js";
export { createGithubRevoker, revokeGithubToken, type GithubRevokeHandle } from "./github-revoke.js";

export interface GithubProviderOptions extends ProviderDeps {
  /** Attempts per GitHub call, including the first (default 4). */
  maxAttempts?: number;
  /** Per attempt, in ms (default 10 000). */
  timeoutMs?: number;
  /** First back-off after a 5xx, doubled each retry (default 250 ms). */
  backoffMs?: number;
  /** Longest rate-limit wait sat out before giving up (default 10 000 ms). */
  maxRetryAfterMs?: number;
}

export function createGithubProvider(deps: GithubProviderOptions): Provider<"github"> {
  const retry: RetryOptions = {
    maxAttempts: deps.maxAttempts ?? DEFAULT_RETRY.maxAttempts,
    timeoutMs: deps.timeoutMs ?? DEFAULT_RETRY.timeoutMs,
    backoffMs: deps.backoffMs ?? DEFAULT_RETRY.backoffMs,
    maxRetryAfterMs: deps.maxRetryAfterMs ?? DEFAULT_RETRY.maxRetryAfterMs,
    now: deps.now,
  };
  const installations = createInstallationCache();
  const clients = createGithubClientCache(retry);

  return {
    name: "github",
    applies: (plan: SessionPlan) => plan.github !== undefined,
    async mint({ plan }): Promise<Lease<GithubCredentials>> {
      const policy = plan.github;
      if (!policy) throw new BrokerError("ERR_INTERNAL", `task ${plan.task} has no github section to mint from`);
      const apiUrl = normaliseApiUrl(policy.apiUrl);
      const origin = githubWebOrigin(apiUrl);
      const scope = tokenScope(policy, plan.task);
      const app = await readGithubAppSecret(deps.store, policy.app, plan.task);
      const client = await clients.get({ apiUrl, appId: app.appId, privateKey: app.privateKey });

      const owner = policy.owner;
      const installationId = policy.installationId ?? (owner ? await installations.resolve(client, owner, deps.now) : undefined);
      if (installationId === undefined) {
        throw new BrokerError("ERR_POLICY_INVALID", `task ${plan.task}: github needs owner or installation_id`);
      }
      const answer = await createInstallationToken(client, { installationId, owner, ...scope }, deps.now).catch((error: unknown) => {
        // The cached id may be stale (the app was reinstalled): look it up afresh next time.
        if (owner && policy.installationId === undefined && error instanceof BrokerError && error.details?.upstreamStatus === 404) {
          installations.forget(client, owner);
        }
        throw error;
      });

      const expiresAt = Date.parse(answer.expiresAt);
      const revoke: GithubRevokeHandle = { provider: "github", apiUrl, token: answer.token, expiresAt };
      return {
        credentials: {
          token: answer.token,
          expiresAt: answer.expiresAt,
          host: origin.host,
          scheme: origin.scheme,
          repositories: answer.repositories,
          permissions: answer.permissions,
        },
        expiresAt,
        fingerprint: tokenFingerprint(answer.token),
        secrets: [answer.token],
        revoke,
      };
    },
  };
}

/**
 * What to ask GitHub for. GitHub reads an empty `repositories` list or `permissions` object as
 * "everything the installation has", so neither may reach it empty: that would widen, never narrow.
 */
function tokenScope(policy: GithubPolicy, task: string): { repositories?: string[]; permissions: Record<string, string> } {
  if (policy.repositories !== undefined && policy.repositories.length === 0) {
    throw new BrokerError("ERR_POLICY_DENIED", `task ${task}: an empty github.repositories list would grant every repository`, {
      fix: "name at least one repository, or leave github.repositories out to mean all the installation's repositories",
    });
  }
  const permissions: Record<string, string> = { ...policy.permissions };
  // metadata:read comes with every token; asking for it alone is the narrowest token there is.
  if (Object.keys(permissions).length === 0) permissions.metadata = "read";
  return { ...(policy.repositories ? { repositories: [...policy.repositories] } : {}), permissions };
}
