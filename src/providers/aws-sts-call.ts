/**
 * One STS call with bounded patience: a timeout per attempt, retries with exponential backoff
 * and full jitter for throttling, 5xx and dropped connections, and a deadline for the whole
 * thing. The SDK is imported here, lazily, so loading the provider costs nothing until a mint.
 * A provider keeps its clients (`StsClients`), so later mints reuse a client and its connection.
 */
import { createHash } from "node:crypto";
import type {
  AssumeRoleCommandInput,
  Credentials,
  GetFederationTokenCommandInput,
  GetSessionTokenCommandInput,
  STSClient,
} from "@aws-sdk/client-sts";
import type { AwsSecretValue } from "../store/secret-store.js";
import { classifyStsError, upstreamError, type StsCallContext, type UpstreamFailure } from "./aws-sts-errors.js";
import { createPromiseCache } from "../util/promise-cache.js";

export type StsRequest =
  | { action: "AssumeRole"; input: AssumeRoleCommandInput }
  | { action: "GetFederationToken"; input: GetFederationTokenCommandInput }
  | { action: "GetSessionToken"; input: GetSessionTokenCommandInput };

export interface StsCallLimits {
  /** Per attempt. */
  timeoutMs: number;
  maxAttempts: number;
  /** For all attempts and the waits between them. */
  deadlineMs: number;
}

export const DEFAULT_LIMITS: StsCallLimits = { timeoutMs: 3_000, maxAttempts: 3, deadlineMs: 10_000 };

/** The SDK's standard-mode bases: throttling waits longer than a transient error. */
const BASE_DELAY_MS = 100;
const THROTTLE_BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 3_000;

function backoffMs(attempt: number, failure: UpstreamFailure): number {
  const base = failure.throttled ? THROTTLE_BASE_DELAY_MS : BASE_DELAY_MS;
  return Math.random() * Math.min(MAX_DELAY_MS, base * 2 ** (attempt - 1));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function createClient(region: string, endpoint: string | undefined, key: AwsSecretValue, limits: StsCallLimits) {
  const sts = await import("@aws-sdk/client-sts");
  const client: STSClient = new sts.STSClient({
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    credentials: {
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
      ...(key.sessionToken === undefined ? {} : { sessionToken: key.sessionToken }),
    },
    // Retries are ours (bounded by the deadline); the SDK makes one attempt per send.
    maxAttempts: 1,
    // Only the policy decides where the stored key is sent, not AWS_ENDPOINT_URL* or ~/.aws/config.
    ignoreConfiguredEndpointUrls: true,
    requestHandler: { connectionTimeout: limits.timeoutMs, requestTimeout: limits.timeoutMs, throwOnRequestTimeout: true },
  });
  const send = (request: StsRequest, abortSignal: AbortSignal) => {
    switch (request.action) {
      case "AssumeRole":
        return client.send(new sts.AssumeRoleCommand(request.input), { abortSignal });
      case "GetFederationToken":
        return client.send(new sts.GetFederationTokenCommand(request.input), { abortSignal });
      case "GetSessionToken":
        return client.send(new sts.GetSessionTokenCommand(request.input), { abortSignal });
    }
  };
  return { send, destroy: () => client.destroy() };
}

type StsSender = Awaited<ReturnType<typeof createClient>>;

/** STS clients by everything they were made with; idle connections do not keep the daemon alive (the agent unrefs them). */
export interface StsClients {
  get(target: StsCallTarget, limits: StsCallLimits): Promise<StsSender>;
}

/** Building a client and connecting cost each mint about half a millisecond; the few distinct ones are kept (at most `max`). */
export function createStsClients(max = 16): StsClients {
  const clients = createPromiseCache<StsSender>(max, (dropped) => dropped.destroy());
  return {
    get(target, limits) {
      const { key } = target;
      // A digest of the secret half, so the cache's ids hold no secret.
      const secret = createHash("sha256").update(`${key.secretAccessKey}\0${key.sessionToken ?? ""}`).digest("base64");
      const id = JSON.stringify([target.region, target.endpoint ?? null, key.accessKeyId, secret, limits.timeoutMs]);
      return clients.get(id, () => createClient(target.region, target.endpoint, key, limits));
    },
  };
}

export interface StsCallTarget {
  region: string;
  endpoint: string | undefined;
  key: AwsSecretValue;
}

/**
 * Sends `request`; resolves with the credentials STS returned (possibly undefined if STS answered
 * without any), or throws a BrokerError (ERR_UPSTREAM_AWS / ERR_UPSTREAM_TIMEOUT).
 */
export async function callSts(
  request: StsRequest,
  target: StsCallTarget,
  limits: StsCallLimits,
  context: Omit<StsCallContext, "action" | "attempts" | "timeoutMs">,
  clients?: StsClients,
): Promise<{ credentials: Credentials | undefined; attempts: number }> {
  const client = await (clients ? clients.get(target, limits) : createClient(target.region, target.endpoint, target.key, limits));
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  try {
    for (let attempt = 1; ; attempt += 1) {
      const controller = new AbortController();
      const budget = Math.max(1, Math.min(limits.timeoutMs, limits.deadlineMs - elapsed()));
      const timer = setTimeout(() => controller.abort(), budget);
      try {
        const output = await client.send(request, controller.signal);
        return { credentials: output.Credentials, attempts: attempt };
      } catch (error) {
        const failure = classifyStsError(error, controller.signal.aborted);
        const delay = backoffMs(attempt, failure);
        // Another try only if it can still get a fair share of the deadline.
        const worthAnother = elapsed() + delay + Math.min(limits.timeoutMs, 500) < limits.deadlineMs;
        if (!failure.retryable || attempt >= limits.maxAttempts || !worthAnother) {
          throw upstreamError(failure, { ...context, action: request.action, attempts: attempt, timeoutMs: limits.timeoutMs });
        }
        await sleep(delay);
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    if (!clients) client.destroy();
  }
}
