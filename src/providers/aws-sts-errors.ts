/**
 * What can go wrong talking to STS, sorted into what is worth retrying and what the user should
 * read: AWS's own code and message for service errors, a plain sentence for the network.
 * Messages are scrubbed of every secret value the call carried.
 */
import { BrokerError } from "../errors.js";

export type StsCallAction = "AssumeRole" | "GetFederationToken" | "GetSessionToken";

export interface UpstreamFailure {
  kind: "service" | "network" | "timeout" | "malformed";
  /** AWS's error code (`AccessDenied`), a Node error code (`ECONNREFUSED`), or `Timeout` / `MalformedResponse`. */
  code: string;
  message: string;
  status: number | undefined;
  requestId: string | undefined;
  retryable: boolean;
  throttled: boolean;
}

const THROTTLING_CODES = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "PriorRequestNotComplete",
  "SlowDown",
]);
/** Connection-level failures worth another try (ENOTFOUND is not: a wrong host stays wrong). */
const TRANSIENT_NETWORK_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "ECONNABORTED", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $fault?: unknown;
  $response?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string; clockSkewCorrected?: boolean };
}

/** Sorts whatever the SDK threw. `aborted`: our own per-attempt timer fired. */
export function classifyStsError(error: unknown, aborted: boolean): UpstreamFailure {
  const e = (typeof error === "object" && error !== null ? error : {}) as SdkErrorShape;
  const message = typeof e.message === "string" ? e.message : String(error);
  const status = e.$metadata?.httpStatusCode;
  const requestId = e.$metadata?.requestId;
  const base = { message, status, requestId, throttled: false };
  const nodeCode = typeof e.code === "string" ? e.code : undefined;
  if (aborted || e.name === "AbortError" || nodeCode === "ETIMEDOUT") {
    return { ...base, kind: "timeout", code: "Timeout", retryable: true };
  }
  // The SDK names a reset connection `TimeoutError`; the Node code says what happened.
  if (nodeCode !== undefined && /^E[A-Z_]+$/.test(nodeCode)) {
    return { ...base, kind: "network", code: nodeCode, retryable: TRANSIENT_NETWORK_CODES.has(nodeCode) };
  }
  if (e.name === "TimeoutError") return { ...base, kind: "timeout", code: "Timeout", retryable: true };
  // `Code` is the code STS put on the wire; the SDK's class name may differ (…Exception).
  const awsCode = typeof e.Code === "string" ? e.Code : e.$fault !== undefined && typeof e.name === "string" ? e.name : undefined;
  if (awsCode !== undefined) {
    const throttled = THROTTLING_CODES.has(awsCode) || status === 429;
    const serverSide = status !== undefined && status >= 500;
    const skewFixed = e.$metadata?.clockSkewCorrected === true;
    return { ...base, kind: "service", code: awsCode, throttled, retryable: throttled || serverSide || skewFixed };
  }
  if (e.$response !== undefined || status !== undefined) {
    return { ...base, kind: "malformed", code: "MalformedResponse", retryable: status !== undefined && status >= 500 };
  }
  return { ...base, kind: "network", code: typeof e.name === "string" ? e.name : "Error", retryable: false };
}

export interface StsCallContext {
  action: StsCallAction;
  /** Where the call went, for messages (origin only). */
  endpoint: string;
  region: string;
  /** Name of the stored source secret. */
  source: string;
  task: string;
  roleArn: string | undefined;
  attempts: number;
  timeoutMs: number;
  /** Every secret value of the call, removed from anything upstream says. */
  secrets: string[];
}

export function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 8) out = out.split(secret).join("<concealed>");
  return out;
}

function fixFor(failure: UpstreamFailure, ctx: StsCallContext): string | undefined {
  const reset = `store a working key with \`broker secret set ${ctx.source} --type aws\``;
  const policy = `check the aws section of the policy of task "${ctx.task}"`;
  switch (failure.code) {
    case "AccessDenied":
      if (/with session credentials/.test(failure.message)) {
        return `secret "${ctx.source}" holds temporary credentials, which can only assume a role: set role_arn in the policy, or ${reset}`;
      }
      // The broker always sets a source identity (and tags when the policy has them), which the
      // trust policy must allow besides AssumeRole itself.
      return ctx.roleArn
        ? `let the key in secret "${ctx.source}" assume ${ctx.roleArn}: its trust policy must allow ` +
            "sts:AssumeRole, sts:SetSourceIdentity and (with tags) sts:TagSession"
        : `give the key in secret "${ctx.source}" permission for sts:${ctx.action}`;
    case "ExpiredToken":
      return `the temporary key in secret "${ctx.source}" has expired: ${reset}`;
    case "InvalidClientTokenId":
      return `AWS does not know the key in secret "${ctx.source}": ${reset}`;
    case "SignatureDoesNotMatch":
      return /Signature (expired|not yet current)/.test(failure.message)
        ? "this machine's clock is more than 15 minutes off: synchronise it (NTP)"
        : `the secret access key in secret "${ctx.source}" does not match its key id: ${reset}`;
    case "RegionDisabledException":
      return `activate STS for region ${ctx.region} (IAM → Account settings), or set another region in the policy of task "${ctx.task}"`;
    case "ValidationError":
    case "MalformedPolicyDocument":
    case "PackedPolicyTooLarge":
      return `${policy} (role_arn, session_policy, policy_arns, tags, ttl)`;
  }
  if (failure.throttled) return "AWS STS is throttling this account: try again in a moment";
  if (failure.kind === "timeout" || failure.kind === "network") {
    return `check the network path to ${ctx.endpoint}, or the endpoint in the policy of task "${ctx.task}"`;
  }
  if (failure.status !== undefined && failure.status >= 500) return "AWS STS is failing: try again later";
  return undefined;
}

export function upstreamError(failure: UpstreamFailure, ctx: StsCallContext): BrokerError {
  const tries = ctx.attempts === 1 ? "1 attempt" : `${ctx.attempts} attempts`;
  const awsText = scrub(failure.message, ctx.secrets);
  const message =
    // After retries, say so: "Throttling" alone reads as if nobody tried again.
    failure.kind === "service" ? `AWS STS ${ctx.action} failed: ${failure.code}: ${awsText}${ctx.attempts > 1 ? ` (${tries})` : ""}`
    : failure.kind === "timeout" ? `AWS STS ${ctx.action} at ${ctx.endpoint} did not answer within ${ctx.timeoutMs / 1000}s (${tries})`
    : failure.kind === "network" ? `could not reach AWS STS at ${ctx.endpoint}: ${awsText} (${tries})`
    : `AWS STS ${ctx.action} at ${ctx.endpoint} answered HTTP ${failure.status ?? "?"} with something that is not an STS response (${tries})`;
  const details: Record<string, string | number> = { upstreamCode: failure.code, action: ctx.action, attempts: ctx.attempts };
  if (failure.status !== undefined) details.upstreamStatus = failure.status;
  if (failure.requestId !== undefined) details.requestId = failure.requestId;
  const fix = fixFor(failure, ctx);
  // No `cause`: the SDK's error object is not ours to vouch for, and nothing of it may leak a secret.
  return new BrokerError(failure.kind === "timeout" ? "ERR_UPSTREAM_TIMEOUT" : "ERR_UPSTREAM_AWS", message, {
    details,
    ...(fix === undefined ? {} : { fix }),
  });
}
