/**
 * The AWS provider: turns a session's plan into short-lived STS credentials, signed with the
 * long-lived key kept in the store. `role_arn` → AssumeRole; a session policy alone →
 * GetFederationToken; neither → GetSessionToken. STS credentials cannot be revoked one by one,
 * so the lease carries no revoke handle and lives until STS's own expiration.
 */
import type { Credentials } from "@aws-sdk/client-sts";
import { BrokerError } from "../errors.js";
import { DEFAULT_AWS_MAX_DURATION_SECONDS, type AwsPolicy } from "../policy/types.js";
import type { AwsSecretValue, SecretStore } from "../store/secret-store.js";
import { formatDuration } from "../util/duration.js";
import { callSts, createStsClients, DEFAULT_LIMITS, type StsCallLimits, type StsRequest } from "./aws-sts-call.js";
import type { AwsCredentials, Lease, MintRequest, Provider, ProviderDeps } from "./provider.js";

export interface AwsProviderDeps extends ProviderDeps {
  /** Per STS attempt (default 3000 ms). */
  timeoutMs?: number;
  /** Attempts per mint, retrying throttling, 5xx and dropped connections (default 3). */
  maxAttempts?: number;
  /** All attempts of one mint together (default 10000 ms). */
  deadlineMs?: number;
}

/** STS's bounds for DurationSeconds; role chaining (a temporary source key) is held to one hour. */
export const MIN_DURATION_SECONDS = 900;
export const MAX_DURATION_SECONDS = 43_200;
export const CHAINED_MAX_DURATION_SECONDS = 3_600;

/** Characters STS allows in RoleSessionName, SourceIdentity and a federated user's Name. */
const STS_NAME_UNSAFE = /[^\w+=,.@-]/g;

const stsName = (text: string, maxLength: number) => text.replace(STS_NAME_UNSAFE, "-").slice(0, maxLength);

/** `broker-<task>-<first 8 of the session id>`, as CloudTrail will show it. */
export function roleSessionName(task: string, sessionId: string): string {
  return stsName(`broker-${task}-${sessionId.slice(0, 8)}`, 64);
}

export function isTemporaryKey(key: AwsSecretValue): boolean {
  return key.sessionToken !== undefined || key.accessKeyId.startsWith("ASIA");
}

/** Which bound set DurationSeconds, as the audit line names it. */
export type DurationLimit = "session" | "max_duration" | "role-chaining" | "sts-minimum";

export interface DurationChoice {
  seconds: number;
  limit: DurationLimit;
}

/**
 * What is left of the session, capped at the policy's `max_duration` (default 1h, a role's own
 * default MaxSessionDuration; a longer session refreshes within itself) and at role chaining's 1h,
 * then raised to STS's 15-minute minimum: a credential never asks to outlive its session by more
 * than STS forces.
 */
export function durationSeconds(request: MintRequest, now: number, temporarySource: boolean): DurationChoice {
  const left = Math.ceil((request.sessionExpiresAt - now) / 1000);
  const policyCap = Math.min(MAX_DURATION_SECONDS, request.plan.aws?.maxDurationSeconds ?? DEFAULT_AWS_MAX_DURATION_SECONDS);
  const chained = temporarySource && CHAINED_MAX_DURATION_SECONDS < policyCap;
  const cap = chained ? CHAINED_MAX_DURATION_SECONDS : policyCap;
  if (left > cap) return { seconds: cap, limit: chained ? "role-chaining" : "max_duration" };
  if (left < MIN_DURATION_SECONDS) return { seconds: MIN_DURATION_SECONDS, limit: "sts-minimum" };
  return { seconds: left, limit: "session" };
}

/** The duration's part of the mint or refresh audit line: what was asked, and what bounded it. */
export function durationAudit(choice: DurationChoice, request: MintRequest, now: number): Record<string, string | number> {
  const audit: Record<string, string | number> = { durationSeconds: choice.seconds, durationLimit: choice.limit };
  if (choice.limit === "sts-minimum") {
    const past = Math.max(0, Math.round(now / 1000 + choice.seconds - request.sessionExpiresAt / 1000));
    audit.durationNote = `raised to STS's 15-minute minimum: valid about ${formatDuration(past)} past the session's end`;
  }
  return audit;
}

/** Chooses the STS action for a plan and fills in its input. */
export function stsRequestFor(request: MintRequest, aws: AwsPolicy, key: AwsSecretValue, duration: DurationChoice): StsRequest {
  const task = request.plan.task;
  const policy = aws.sessionPolicy === undefined ? {} : { Policy: JSON.stringify(aws.sessionPolicy) };
  const policyArns = aws.policyArns?.length ? { PolicyArns: aws.policyArns.map((arn) => ({ arn })) } : {};
  const tags = aws.tags && Object.keys(aws.tags).length > 0 ? { Tags: Object.entries(aws.tags).map(([Key, Value]) => ({ Key, Value })) } : {};
  if (aws.roleArn !== undefined) {
    return {
      action: "AssumeRole",
      input: {
        RoleArn: aws.roleArn,
        RoleSessionName: roleSessionName(task, request.sessionId),
        DurationSeconds: duration.seconds,
        ...policy,
        ...policyArns,
        ...tags,
        ...(aws.externalId === undefined ? {} : { ExternalId: aws.externalId }),
        // Names the broker and the task in CloudTrail for everything done with these credentials.
        SourceIdentity: stsName(`broker-${task}`, 64),
      },
    };
  }
  const DurationSeconds = duration.seconds;
  if (aws.sessionPolicy !== undefined) {
    return { action: "GetFederationToken", input: { Name: stsName(`broker-${task}`, 32), DurationSeconds, ...policy, ...policyArns, ...tags } };
  }
  return { action: "GetSessionToken", input: { DurationSeconds } };
}

/** Reads and checks the stored source key; never says anything about its value. */
export async function readAwsSource(store: SecretStore, name: string): Promise<AwsSecretValue> {
  const fix = `store it with \`broker secret set ${name} --type aws\` (JSON {"accessKeyId","secretAccessKey"} on stdin)`;
  const stored = await store.get(name);
  if (stored === null) {
    throw new BrokerError("ERR_SECRET_NOT_FOUND", `the AWS source secret "${name}" is not in the store`, { fix });
  }
  if (stored.type !== "aws") {
    throw new BrokerError("ERR_SECRET_TYPE", `secret "${name}" has type ${stored.type}, but aws.source needs a secret of type aws`, {
      fix: `point aws.source at a secret of type aws, or ${fix}`,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(stored.value);
  } catch {
    value = null;
  }
  const v = value as Partial<Record<keyof AwsSecretValue, unknown>> | null;
  const text = (x: unknown): x is string => typeof x === "string" && x !== "";
  if (!v || !text(v.accessKeyId) || !text(v.secretAccessKey) || !(v.sessionToken === undefined || text(v.sessionToken))) {
    throw new BrokerError("ERR_INVALID_SECRET", `secret "${name}" is not an AWS key: it needs accessKeyId and secretAccessKey`, { fix });
  }
  return { accessKeyId: v.accessKeyId, secretAccessKey: v.secretAccessKey, ...(text(v.sessionToken) ? { sessionToken: v.sessionToken } : {}) };
}

/** The endpoint as messages show it (origin only: no user info, path or query). */
function displayEndpoint(aws: AwsPolicy): string {
  if (aws.endpoint === undefined) return `https://sts.${aws.region}.amazonaws.com`;
  let url: URL | null = null;
  try {
    url = new URL(aws.endpoint);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw new BrokerError("ERR_POLICY_INVALID", `aws.endpoint is not an http(s) URL: ${aws.endpoint}`, {
      fix: "set aws.endpoint to the STS URL, e.g. https://sts.us-east-1.amazonaws.com, or remove it",
    });
  }
  return url.origin;
}

function toLease(credentials: Credentials | undefined, region: string, endpoint: string, action: string): Lease<AwsCredentials> {
  const c = credentials;
  const expiresAt = c?.Expiration instanceof Date ? c.Expiration.getTime() : Number.NaN;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || Number.isNaN(expiresAt)) {
    throw new BrokerError("ERR_UPSTREAM_AWS", `AWS STS ${action} at ${endpoint} answered without complete credentials`, {
      details: { upstreamCode: "MissingCredentials", action },
      fix: `check that ${endpoint} is an AWS STS endpoint`,
    });
  }
  return {
    credentials: {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: new Date(expiresAt).toISOString(),
      region,
    },
    expiresAt,
    fingerprint: c.AccessKeyId,
    secrets: [c.SecretAccessKey, c.SessionToken],
    revoke: null,
  };
}

export function createAwsProvider(deps: AwsProviderDeps): Provider<"aws"> {
  const limits: StsCallLimits = {
    timeoutMs: deps.timeoutMs ?? DEFAULT_LIMITS.timeoutMs,
    maxAttempts: Math.max(1, deps.maxAttempts ?? DEFAULT_LIMITS.maxAttempts),
    deadlineMs: deps.deadlineMs ?? DEFAULT_LIMITS.deadlineMs,
  };
  const clients = createStsClients();
  return {
    name: "aws",
    applies: (plan) => plan.aws !== undefined,
    async mint(request) {
      const aws = request.plan.aws;
      if (aws === undefined) {
        throw new BrokerError("ERR_INTERNAL", `task "${request.plan.task}" has no aws section, yet AWS credentials were asked for`);
      }
      const endpoint = displayEndpoint(aws);
      const key = await readAwsSource(deps.store, aws.source);
      const now = deps.now();
      // GetSessionToken and GetFederationToken cannot be called with temporary keys at all.
      const duration = durationSeconds(request, now, aws.roleArn !== undefined && isTemporaryKey(key));
      const stsRequest = stsRequestFor(request, aws, key, duration);
      const { credentials } = await callSts(stsRequest, { region: aws.region, endpoint: aws.endpoint, key }, limits, {
        endpoint,
        region: aws.region,
        source: aws.source,
        task: request.plan.task,
        roleArn: aws.roleArn,
        secrets: [key.secretAccessKey, ...(key.sessionToken === undefined ? [] : [key.sessionToken])],
      }, clients);
      return { ...toLease(credentials, aws.region, endpoint, stsRequest.action), audit: durationAudit(duration, request, now) };
    },
  };
}
