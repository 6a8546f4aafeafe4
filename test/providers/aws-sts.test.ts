import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { GetCallerIdentityCommand, GetSessionTokenCommand } from "@aws-sdk/client-sts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors.js";
import type { AwsPolicy, SessionPlan } from "../../src/policy/types.js";
import { createAwsProvider, durationAudit, durationSeconds, type AwsProviderDeps } from "../../src/providers/aws-sts.js";
import type { AwsCredentials, MintRequest } from "../../src/providers/provider.js";
import type { StoredSecret } from "../../src/store/secret-store.js";
import { memoryStore } from "../helpers/memory-store.js";
import { findAwsCli, runAwsCli, stubClient, type KeyPair } from "../stubs/sts-clients.js";
import { startStsStub, type StsStub } from "../stubs/sts-stub.js";

const ROOT: KeyPair = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const ROLE = "arn:aws:iam::111122223333:role/report-reader";
const SESSION_ID = "0123456789abcdef";
const SESSION_POLICY = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] };

/** The AWS CLI test is skipped only when `aws` is not on PATH. */
const awsCli = await findAwsCli();

let stub: StsStub;
/** Every secret value a test handled: none may appear in any error. */
let secrets: string[];

beforeEach(async () => {
  stub = await startStsStub();
  stub.addRootKey(ROOT.accessKeyId, ROOT.secretAccessKey);
  secrets = [ROOT.secretAccessKey];
});
afterEach(() => stub.close());

const awsSecret = (key: KeyPair): StoredSecret => ({ type: "aws", value: JSON.stringify(key) });

function provider(options: Partial<AwsProviderDeps> = {}, source: StoredSecret = awsSecret(ROOT)) {
  return createAwsProvider({ store: memoryStore({ "aws-root": source }), now: Date.now, ...options });
}

function mintRequest(aws: Partial<AwsPolicy> = {}, ttlSeconds = 900, url = stub.url): MintRequest {
  const plan: SessionPlan = {
    task: "report",
    ttlSeconds,
    aws: { source: "aws-root", region: "us-east-1", endpoint: url, ...aws },
    env: {},
  };
  return { sessionId: SESSION_ID, plan, sessionExpiresAt: Date.now() + ttlSeconds * 1000 };
}

/** Mints, expecting a BrokerError with `code`, and checks that it carries no secret. */
async function failure(promise: Promise<unknown>, code: string): Promise<BrokerError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BrokerError);
  const brokerError = error as BrokerError;
  expect(brokerError.code).toBe(code);
  const visible = JSON.stringify({ ...brokerError.toJSON(), details: brokerError.details, cause: String(brokerError.cause) });
  for (const secret of secrets) expect(visible).not.toContain(secret);
  return brokerError;
}

/** A real STSClient signing with minted credentials (no expiration given: the stub decides when they stop working). */
const clientFor = (c: AwsCredentials) =>
  stubClient(stub.url, { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken });

describe("AssumeRole", () => {
  it("is signed with the stored key and sends the policy's narrowing, with a 900 s floor for a short TTL", async () => {
    const lease = await provider().mint(
      mintRequest(
        { roleArn: ROLE, sessionPolicy: SESSION_POLICY, policyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"], tags: { team: "data" }, externalId: "ext-123" },
        300,
      ),
    );
    expect(stub.calls).toHaveLength(1);
    expect(stub.calls[0]).toMatchObject({
      action: "AssumeRole",
      accessKeyId: ROOT.accessKeyId,
      outcome: "ok",
      params: {
        RoleArn: ROLE,
        RoleSessionName: "broker-report-01234567",
        DurationSeconds: 900,
        Policy: JSON.stringify(SESSION_POLICY),
        PolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        Tags: [{ Key: "team", Value: "data" }],
        ExternalId: "ext-123",
        SourceIdentity: "broker-report",
      },
    });
    const c = lease.credentials;
    expect(c.accessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(c.region).toBe("us-east-1");
    expect(lease).toMatchObject({ fingerprint: c.accessKeyId, secrets: [c.secretAccessKey, c.sessionToken], revoke: null });
    expect(lease.expiresAt).toBe(Date.parse(c.expiration));
    expect(lease.expiresAt! - Date.now()).toBeGreaterThan(890_000);
  });

  it("asks for the whole session up to aws.max_duration (default 1 h), and at most 1 h when the source key is itself temporary", async () => {
    await provider().mint(mintRequest({ roleArn: ROLE }, 20 * 3600));
    expect(stub.calls[0]?.params.DurationSeconds).toBe(3600);

    const root = stubClient(stub.url, ROOT);
    const temp = (await root.send(new GetSessionTokenCommand({}))).Credentials!;
    const source = { accessKeyId: temp.AccessKeyId!, secretAccessKey: temp.SecretAccessKey!, sessionToken: temp.SessionToken! };
    secrets.push(source.secretAccessKey, source.sessionToken);
    await provider({}, awsSecret(source)).mint(mintRequest({ roleArn: ROLE, maxDurationSeconds: 43200 }, 2 * 3600));
    expect(stub.calls[2]).toMatchObject({ action: "AssumeRole", accessKeyId: source.accessKeyId, outcome: "ok", params: { DurationSeconds: 3600 } });
  });

  it("names what bounded DurationSeconds: the session, max_duration, role chaining or STS's 15-minute floor", () => {
    const now = Date.now();
    const at = (ttlSeconds: number, aws: Partial<AwsPolicy> = {}) => ({ ...mintRequest({ roleArn: ROLE, ...aws }, ttlSeconds), sessionExpiresAt: now + ttlSeconds * 1000 });
    expect(durationSeconds(at(1200), now, false)).toEqual({ seconds: 1200, limit: "session" });
    expect(durationSeconds(at(7200), now, false)).toEqual({ seconds: 3600, limit: "max_duration" });
    expect(durationSeconds(at(20 * 3600, { maxDurationSeconds: 43200 }), now, false)).toEqual({ seconds: 43200, limit: "max_duration" });
    expect(durationSeconds(at(7200, { maxDurationSeconds: 43200 }), now, true)).toEqual({ seconds: 3600, limit: "role-chaining" });
    expect(durationSeconds(at(300), now, false)).toEqual({ seconds: 900, limit: "sts-minimum" });
    expect(durationAudit(durationSeconds(at(300), now, false), at(300), now)).toEqual({ durationSeconds: 900, durationLimit: "sts-minimum", durationNote: "raised to STS's 15-minute minimum: valid about 10m past the session's end" });
  });

  it("mints credentials that sign later calls as the assumed role, until STS says they expired", async () => {
    stub.setCredentialLifetime(1);
    const lease = await provider().mint(mintRequest({ roleArn: ROLE }));
    const client = clientFor(lease.credentials);
    const identity = await client.send(new GetCallerIdentityCommand({}));
    expect(identity.Arn).toBe("arn:aws:sts::111122223333:assumed-role/report-reader/broker-report-01234567");
    await new Promise((r) => setTimeout(r, lease.expiresAt! - Date.now() + 50));
    await expect(client.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({ Code: "ExpiredToken" });
  });
});

describe("choosing the action", () => {
  it("uses GetFederationToken for a session policy without a role", async () => {
    const lease = await provider().mint(mintRequest({ sessionPolicy: SESSION_POLICY, tags: { team: "data" } }, 1800));
    expect(stub.calls[0]).toMatchObject({
      action: "GetFederationToken",
      params: { Name: "broker-report", DurationSeconds: 1800, Policy: JSON.stringify(SESSION_POLICY), Tags: [{ Key: "team", Value: "data" }] },
    });
    expect((await clientFor(lease.credentials).send(new GetCallerIdentityCommand({}))).Arn).toBe(
      "arn:aws:sts::123456789012:federated-user/broker-report",
    );
  });

  it("uses GetSessionToken when the policy names neither", async () => {
    const lease = await provider().mint(mintRequest({}, 600));
    expect(stub.calls[0]).toMatchObject({ action: "GetSessionToken", params: { DurationSeconds: 900 } });
    expect(lease.credentials.sessionToken).not.toBe("");
  });
});

describe("the stored source key", () => {
  it("is missing: ERR_SECRET_NOT_FOUND with the command that fixes it", async () => {
    const p = createAwsProvider({ store: memoryStore(), now: Date.now });
    const error = await failure(p.mint(mintRequest({ roleArn: ROLE })), "ERR_SECRET_NOT_FOUND");
    expect(error.message).toContain('"aws-root"');
    expect(error.fix).toContain("broker secret set aws-root --type aws");
    expect(stub.calls).toHaveLength(0);
  });

  it("has the wrong type or shape", async () => {
    await failure(provider({}, { type: "generic", value: ROOT.secretAccessKey }).mint(mintRequest()), "ERR_SECRET_TYPE");
    await failure(provider({}, { type: "aws", value: `{"secretAccessKey":"${ROOT.secretAccessKey}"}` }).mint(mintRequest()), "ERR_INVALID_SECRET");
  });
});

describe("upstream failures", () => {
  it("retries throttling with backoff: throttled twice, then served", async () => {
    stub.fault("throttle", { times: 2 });
    const lease = await provider().mint(mintRequest({ roleArn: ROLE }));
    expect(lease.fingerprint).toMatch(/^ASIA/);
    expect(stub.calls.map((c) => c.outcome)).toEqual(["fault:throttle", "fault:throttle", "ok"]);
  });

  it.each([
    ["500", "InternalFailure", 3],
    ["drop", "ECONNRESET", 3],
    ["garbage", "MalformedResponse", 1],
  ] as const)("gives up on a permanent %s within bounds, with a coded error", async (kind, upstreamCode, attempts) => {
    stub.fault(kind, { times: Infinity });
    const started = Date.now();
    const error = await failure(provider().mint(mintRequest({ roleArn: ROLE })), "ERR_UPSTREAM_AWS");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error.details).toMatchObject({ upstreamCode, attempts, action: "AssumeRole" });
    expect(stub.calls).toHaveLength(attempts);
  });

  it("times out a hung endpoint: ERR_UPSTREAM_TIMEOUT after bounded attempts", async () => {
    stub.fault("hang", { times: Infinity });
    const started = Date.now();
    const error = await failure(provider({ timeoutMs: 1000 }).mint(mintRequest({ roleArn: ROLE })), "ERR_UPSTREAM_TIMEOUT");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error.message).toContain("did not answer within 1s (3 attempts)");
    expect(stub.calls).toHaveLength(3);
  });

  it("says so clearly when nothing listens at the endpoint", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const error = await failure(provider().mint(mintRequest({ roleArn: ROLE }, 900, `http://127.0.0.1:${port}`)), "ERR_UPSTREAM_AWS");
    expect(error.message).toMatch(new RegExp(`^could not reach AWS STS at http://127.0.0.1:${port}: .*ECONNREFUSED`));
    expect(error.details).toMatchObject({ upstreamCode: "ECONNREFUSED" });
  });

  it("surfaces AWS's own code and message for AccessDenied, without retrying", async () => {
    const strict = await startStsStub({ roles: {} });
    strict.addRootKey(ROOT.accessKeyId, ROOT.secretAccessKey);
    try {
      const error = await failure(provider().mint(mintRequest({ roleArn: ROLE }, 900, strict.url)), "ERR_UPSTREAM_AWS");
      expect(error.message).toBe(
        `AWS STS AssumeRole failed: AccessDenied: User: arn:aws:iam::123456789012:user/broker-test is not authorized to perform: sts:AssumeRole on resource: ${ROLE}`,
      );
      expect(error.details).toMatchObject({ upstreamCode: "AccessDenied", upstreamStatus: 403, attempts: 1, requestId: strict.calls[0]?.requestId });
      expect(error.fix).toContain("trust policy");
      expect(strict.calls).toHaveLength(1);
    } finally {
      await strict.close();
    }
  });

  it.each([
    ["ValidationError", { roleArn: ROLE, tags: { "bad,key": "x" } }],
    ["ExpiredToken", null],
    ["RegionDisabledException", null],
  ] as const)("surfaces %s with AWS's wording", async (code, aws) => {
    if (aws === null) stub.fault({ status: code === "ExpiredToken" ? 400 : 403, code, message: `${code} said by AWS` });
    const error = await failure(provider().mint(mintRequest(aws ?? { roleArn: ROLE })), "ERR_UPSTREAM_AWS");
    expect(error.message).toMatch(new RegExp(`^AWS STS AssumeRole failed: ${code}: `));
    expect(error.details?.upstreamCode).toBe(code);
    expect(error.fix).toBeTruthy();
  });

  it("corrects a skewed local clock from STS's Date header and tries again", async () => {
    const ahead = await startStsStub({ now: () => Date.now() + 20 * 60 * 1000 });
    ahead.addRootKey(ROOT.accessKeyId, ROOT.secretAccessKey);
    try {
      await provider().mint(mintRequest({ roleArn: ROLE }, 900, ahead.url));
      expect(ahead.calls.map((c) => c.outcome)).toEqual(["SignatureDoesNotMatch", "ok"]);
    } finally {
      await ahead.close();
    }
  });

  it("never repeats a secret value, even one an upstream echoes back", async () => {
    stub.fault({ status: 403, code: "AccessDenied", message: `key ${ROOT.secretAccessKey} is not allowed` });
    const error = await failure(provider().mint(mintRequest({ roleArn: ROLE })), "ERR_UPSTREAM_AWS");
    expect(error.message).toContain("key <concealed> is not allowed");
  });
});

describe("outside the daemon", () => {
  it("does not load the AWS SDK when the module is imported (only inside mint)", async () => {
    for (const file of ["aws-sts.ts", "aws-sts-call.ts", "aws-sts-errors.ts"]) {
      const source = await readFile(new URL(`../../src/providers/${file}`, import.meta.url), "utf8");
      const valueImports = source.match(/^import (?!type )[^;]*from "@aws-sdk\/[^"]+";/gm) ?? [];
      expect(valueImports, file).toEqual([]);
    }
  });

  it.skipIf(awsCli === null)("mints credentials the AWS CLI uses: the stub verifies its SigV4", async () => {
    const lease = await provider().mint(mintRequest({ roleArn: ROLE }));
    const c = lease.credentials;
    const result = await runAwsCli(stub.url, ["sts", "get-caller-identity"], {
      AWS_ACCESS_KEY_ID: c.accessKeyId,
      AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
      AWS_SESSION_TOKEN: c.sessionToken,
      AWS_DEFAULT_REGION: c.region,
    });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout).Arn).toBe("arn:aws:sts::111122223333:assumed-role/report-reader/broker-report-01234567");
    expect(stub.calls[1]).toMatchObject({ action: "GetCallerIdentity", accessKeyId: c.accessKeyId, outcome: "ok" });
    expect(stub.calls[1]?.userAgent).toMatch(/^aws-cli\//);
  });
});
