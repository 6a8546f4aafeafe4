/**
 * GitHub's failures, in two steps: a transport-neutral `UpstreamFailure` (what GitHub answered,
 * used by the retry policy) and the coded BrokerError a person reads. Messages carry GitHub's own
 * text, status and ids, never a token, JWT or key.
 */
import { BrokerError } from "../errors.js";

/** What one failed call to GitHub looked like. status 0: no HTTP answer (connection failed or timed out). */
export class UpstreamFailure extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly githubMessage: string;
  readonly timedOut: boolean;
  /** How many attempts were made when this failure was given up on; set by the retry loop. */
  attempts = 1;

  constructor(status: number, headers: Record<string, string>, githubMessage: string, timedOut = false) {
    super(status === 0 ? `no answer from GitHub: ${githubMessage}` : `GitHub answered ${status}: ${githubMessage}`);
    this.name = "UpstreamFailure";
    this.status = status;
    this.headers = headers;
    this.githubMessage = githubMessage;
    this.timedOut = timedOut;
  }
}

/** GitHub's JSON error body carries `message`; anything else is summarised, not echoed. */
export function githubMessageOf(data: unknown): string {
  if (data && typeof data === "object" && typeof (data as { message?: unknown }).message === "string") {
    return (data as { message: string }).message.slice(0, 300);
  }
  if (typeof data === "string" && data.trim() && !data.trimStart().startsWith("<")) return data.trim().slice(0, 300);
  return "(no message)";
}

/** 403/429 answers that mean "slow down" rather than "not allowed". */
export function isRateLimited(failure: UpstreamFailure): boolean {
  if (failure.status === 429) return true;
  if (failure.status !== 403) return false;
  return (
    failure.headers["x-ratelimit-remaining"] === "0" ||
    failure.headers["retry-after"] !== undefined ||
    /rate limit/i.test(failure.githubMessage)
  );
}

/** How long GitHub asks us to wait, from `retry-after` or `x-ratelimit-reset`; null when it does not say. */
export function rateLimitWaitMs(failure: UpstreamFailure, now: number): number | null {
  const retryAfter = failure.headers["retry-after"];
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = Number(failure.headers["x-ratelimit-reset"]);
  if (failure.headers["x-ratelimit-remaining"] === "0" && Number.isFinite(reset) && reset > 0) {
    return Math.max(0, reset * 1000 - now);
  }
  return null;
}

export interface FailureContext {
  /** What was being done, e.g. `creating an installation token for installation 42`. */
  action: string;
  /** The app whose JWT made the call; absent for calls made with an installation token. */
  appId?: string;
  apiUrl: string;
  now: number;
}

const CLOCK_FIX =
  "check this machine's clock first (GitHub refuses app JWTs from a clock that is off by more than a few seconds: " +
  "enable NTP, e.g. `timedatectl set-ntp true`); if the clock is right, store the app's current key again: " +
  "broker secret set NAME --type github-app --app-id ID --private-key-file KEY.pem";

/** Maps a failure nobody handled more specifically (401, rate limit, 5xx, timeout, anything else). */
export function toBrokerError(failure: UpstreamFailure, ctx: FailureContext): BrokerError {
  const details = { upstreamStatus: failure.status, attempts: failure.attempts };
  if (failure.timedOut) {
    return new BrokerError("ERR_UPSTREAM_TIMEOUT", `GitHub (${ctx.apiUrl}) did not answer in time while ${ctx.action}`, {
      fix: "check the network path to GitHub and https://www.githubstatus.com, then try again",
      details,
    });
  }
  if (failure.status === 0) {
    return new BrokerError("ERR_UPSTREAM_GITHUB", `could not reach GitHub (${ctx.apiUrl}) while ${ctx.action}: ${failure.githubMessage}`, {
      fix: "check github.api_url in the task's policy and the network path to it",
      details,
    });
  }
  const caller = ctx.appId ? `app ${ctx.appId}` : "the request";
  if (failure.status === 401) {
    return new BrokerError(
      "ERR_UPSTREAM_GITHUB",
      `GitHub refused the credentials of ${caller} (401: ${failure.githubMessage}) while ${ctx.action}: ` +
        "this machine's clock may be off, or the private key does not belong to this app",
      { fix: CLOCK_FIX, details },
    );
  }
  if (isRateLimited(failure)) {
    const wait = rateLimitWaitMs(failure, ctx.now);
    const when = wait === null ? "" : `; GitHub asks to wait ${Math.ceil(wait / 1000)} s`;
    return new BrokerError("ERR_UPSTREAM_GITHUB", `GitHub rate-limited ${caller} while ${ctx.action}${when}`, {
      fix: "try again later; many sessions minting at once share the app's rate limit",
      details: wait === null ? details : { ...details, retryAfterSeconds: Math.ceil(wait / 1000) },
    });
  }
  if (failure.status >= 500) {
    return new BrokerError(
      "ERR_UPSTREAM_GITHUB",
      `GitHub failed (${failure.status}: ${failure.githubMessage}) while ${ctx.action}, ${failure.attempts} attempt(s)`,
      { fix: "GitHub may be having an outage (https://www.githubstatus.com); try again later", details },
    );
  }
  return new BrokerError("ERR_UPSTREAM_GITHUB", `GitHub answered ${failure.status} (${failure.githubMessage}) while ${ctx.action}`, {
    details,
  });
}
