/**
 * A GitHub client authenticated as the app (RS256 JWT), built on demand: Octokit is imported here
 * lazily so that loading the daemon does not load it.
 *
 * We use @octokit/auth-app only for its request hook (the app JWT on /app routes, plus its one
 * retry of a clock-skew 401 using GitHub's `Date` header), with our own `createJwt` that signs the
 * JWT once and reuses it for minutes (github-app-jwt.ts). We never use `auth({type: "installation"})`:
 * that path caches tokens for 59 minutes and shares one in-flight mint between callers with the same
 * installation/repositories/permissions, so two sessions could receive the same token and ending
 * one would revoke the other's. Each mint here asks GitHub for a fresh token.
 *
 * A client holds its app's private key (for signing) for as long as it is kept: see
 * github-client-cache.ts.
 */
import { BrokerError } from "../errors.js";
import { createAppJwtSource } from "./github-app-jwt.js";
import { githubMessageOf, UpstreamFailure } from "./github-errors.js";
import { withRetries, type RetryOptions } from "./github-retry.js";

export interface GithubAppClient {
  readonly apiUrl: string;
  readonly appId: string;
  /** One JWT-authenticated call (`"GET /app/installations/{installation_id}"` style), retried; resolves with GitHub's JSON. */
  call(route: string, params?: Record<string, unknown>): Promise<unknown>;
}

export interface GithubAppClientOptions {
  apiUrl: string;
  appId: string;
  privateKey: string;
  /** Its `now` also dates the app JWTs. */
  retry: RetryOptions;
}

export const GITHUB_HEADERS = {
  accept: "application/vnd.github+json",
  "x-github-api-version": "2022-11-28",
  "user-agent": "broker",
} as const;

export async function createGithubAppClient(options: GithubAppClientOptions): Promise<GithubAppClient> {
  const [{ createAppAuth }, { request }] = await Promise.all([import("@octokit/auth-app"), import("@octokit/request")]);
  const base = request.defaults({ baseUrl: options.apiUrl, headers: { ...GITHUB_HEADERS } });
  const auth = createAppAuth({
    appId: options.appId,
    // Instead of `privateKey` (they exclude each other): the hook would otherwise sign a JWT per call.
    createJwt: createAppJwtSource({ appId: options.appId, privateKey: options.privateKey, now: options.retry.now }),
    request: base,
    // Its warnings are about skew retries we already account for; a daemon must not write to the console at random.
    log: { warn: () => undefined },
  });
  const authed = base.defaults({ request: { hook: auth.hook } });

  return {
    apiUrl: options.apiUrl,
    appId: options.appId,
    call(route, params = {}) {
      return withRetries(async (signal) => {
        try {
          const answer = await authed(route, { ...params, request: { signal } });
          return answer.data as unknown;
        } catch (error) {
          throw toUpstreamFailure(error);
        }
      }, options.retry);
    },
  };
}

/** Octokit's RequestError → UpstreamFailure; a RequestError without a response is a failed connection. */
export function toUpstreamFailure(error: unknown): UpstreamFailure | BrokerError {
  if (error instanceof UpstreamFailure || error instanceof BrokerError) return error;
  const e = error as { status?: unknown; response?: { headers?: Record<string, unknown>; data?: unknown }; cause?: unknown };
  if (typeof e?.status === "number") {
    if (!e.response) return new UpstreamFailure(0, {}, connectionProblem(error));
    return new UpstreamFailure(e.status, stringHeaders(e.response.headers ?? {}), githubMessageOf(e.response.data));
  }
  // Not an HTTP failure: signing the JWT or building the request failed. Its text stays out, in case it quotes input.
  const name = error instanceof Error ? error.name : typeof error;
  return new BrokerError("ERR_UPSTREAM_GITHUB", `could not prepare the request to GitHub (${name})`, {
    fix: "check the stored github-app secret: broker secret set NAME --type github-app --app-id ID --private-key-file KEY.pem",
  });
}

function connectionProblem(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; cause?: { code?: unknown } } }).cause;
  const code = cause?.code ?? cause?.cause?.code;
  return typeof code === "string" ? code : error instanceof Error ? error.message.slice(0, 200) : "connection failed";
}

function stringHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name.toLowerCase()] = String(value);
  return out;
}
