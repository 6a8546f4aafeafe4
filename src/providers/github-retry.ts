/**
 * The one retry policy for calls to GitHub, bounded in attempts and in time:
 * 5xx and dropped connections back off exponentially; 403/429 rate limits wait what GitHub asks
 * (`retry-after`, or `x-ratelimit-reset` when the quota is spent) only if that is short; a hung call
 * is cut at `timeoutMs` and not retried, so a mint never waits much longer than one timeout.
 * 401/404/422 are answers, not accidents, and are never retried here.
 */
import { isRateLimited, rateLimitWaitMs, UpstreamFailure } from "./github-errors.js";

export interface RetryOptions {
  /** Attempts in all, including the first. */
  maxAttempts: number;
  /** Per attempt. */
  timeoutMs: number;
  /** First back-off after a 5xx; doubled each time, capped at 4 s. */
  backoffMs: number;
  /** Longest rate-limit wait we sit out; beyond it we give up at once. */
  maxRetryAfterMs: number;
  now: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY = { maxAttempts: 4, timeoutMs: 10_000, backoffMs: 250, maxRetryAfterMs: 10_000 } as const;

const MAX_BACKOFF_MS = 4_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `attempt` until it succeeds or a failure is final; throws the last UpstreamFailure. */
export async function withRetries<T>(attempt: (signal: AbortSignal) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts));
  for (let n = 1; ; n++) {
    try {
      return await runWithTimeout(attempt, options.timeoutMs);
    } catch (error) {
      if (!(error instanceof UpstreamFailure)) throw error;
      error.attempts = n;
      const delay = n < maxAttempts ? retryDelayMs(error, n, options) : null;
      if (delay === null) throw error;
      await sleep(delay);
    }
  }
}

/** null: do not retry this failure. */
export function retryDelayMs(failure: UpstreamFailure, attempt: number, options: RetryOptions): number | null {
  if (failure.timedOut) return null;
  const backoff = Math.min(MAX_BACKOFF_MS, options.backoffMs * 2 ** (attempt - 1));
  if (failure.status === 0 || failure.status >= 500) return backoff;
  if (isRateLimited(failure)) {
    const asked = rateLimitWaitMs(failure, options.now());
    if (asked === null) return failure.status === 429 ? backoff : null;
    return asked <= options.maxRetryAfterMs ? asked : null;
  }
  return null;
}

async function runWithTimeout<T>(attempt: (signal: AbortSignal) => Promise<T>, timeoutMs: number): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await attempt(controller.signal);
  } catch (error) {
    // Whatever the client threw on abort (AbortError, a wrapped 500), it was our timer.
    if (controller.signal.aborted) throw new UpstreamFailure(0, {}, `no answer within ${timeoutMs} ms`, true);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
