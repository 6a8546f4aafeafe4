/**
 * Revokes an installation token from its journal handle alone (a restarted daemon has no policy
 * and no app key): DELETE {apiUrl}/installation/token authenticated by the token itself.
 * Uses plain fetch, so revoking at shutdown or recovery does not load Octokit.
 */
import { BrokerError } from "../errors.js";
import type { RevokeHandle, Revoker } from "./provider.js";
import { githubMessageOf, toBrokerError, UpstreamFailure } from "./github-errors.js";
import { normaliseApiUrl } from "./github-host.js";
import { GITHUB_HEADERS } from "./github-client.js";
import { DEFAULT_RETRY, withRetries, type RetryOptions } from "./github-retry.js";

export interface GithubRevokeHandle extends RevokeHandle {
  provider: "github";
  apiUrl: string;
  token: string;
  /** Epoch ms (an ISO string is accepted too). */
  expiresAt: number | string;
}

export interface GithubRevokerOptions extends Partial<RetryOptions> {
  now?: () => number;
}

export function createGithubRevoker(options: GithubRevokerOptions = {}): Revoker {
  const now = options.now ?? Date.now;
  const retry: RetryOptions = { ...DEFAULT_RETRY, ...options, now };
  return async (handle) => {
    const { apiUrl, token, expiresAt } = checkHandle(handle);
    // An expired token is as dead as a revoked one; asking GitHub would only earn a 401.
    if (expiresAt !== null && expiresAt <= now()) return;
    try {
      await withRetries((signal) => deleteToken(apiUrl, token, signal), retry);
    } catch (error) {
      if (!(error instanceof UpstreamFailure)) throw error;
      // 401: already revoked or expired; 404: GitHub no longer knows it. Either way it no longer works.
      if (error.status === 401 || error.status === 404) return;
      throw toBrokerError(error, { action: "revoking an installation token", apiUrl, now: now() });
    }
  };
}

/** The Revoker the daemon registers for `provider: "github"` handles. */
export const revokeGithubToken: Revoker = createGithubRevoker();

async function deleteToken(apiUrl: string, token: string, signal: AbortSignal): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${apiUrl}/installation/token`, {
      method: "DELETE",
      headers: { ...GITHUB_HEADERS, authorization: `token ${token}` },
      signal,
    });
  } catch (error) {
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    throw new UpstreamFailure(0, {}, typeof code === "string" ? code : "connection failed");
  }
  if (response.status === 204) {
    await response.body?.cancel();
    return;
  }
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  const text = await response.text().catch(() => "");
  // GitHub answers a revocation 204 with no body. A 2xx with a body (a proxy's or captive portal's
  // page) never reached GitHub: the token still works, so it is a failure to retry, not a success.
  if (response.ok) {
    if (text === "") return;
    throw new UpstreamFailure(response.status, headers, "answered with a body where GitHub sends none; a proxy may have answered instead");
  }
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON: githubMessageOf summarises text
  }
  throw new UpstreamFailure(response.status, headers, githubMessageOf(data));
}

function checkHandle(handle: RevokeHandle): { apiUrl: string; token: string; expiresAt: number | null } {
  const h = handle as Partial<GithubRevokeHandle>;
  if (h.provider !== "github" || typeof h.apiUrl !== "string" || typeof h.token !== "string" || h.token.length === 0) {
    throw new BrokerError("ERR_INTERNAL", "not a GitHub revoke handle (needs provider, apiUrl, token)");
  }
  const expiresAt = typeof h.expiresAt === "number" ? h.expiresAt : typeof h.expiresAt === "string" ? Date.parse(h.expiresAt) : NaN;
  return { apiUrl: normaliseApiUrl(h.apiUrl), token: h.token, expiresAt: Number.isNaN(expiresAt) ? null : expiresAt };
}
