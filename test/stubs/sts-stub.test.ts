import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  GetFederationTokenCommand,
  GetSessionTokenCommand,
  type AssumeRoleCommandInput,
  type STSClient,
} from "@aws-sdk/client-sts";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findAwsCli, runAwsCli, stubClient, type KeyPair } from "./sts-clients.js";
import { startStsStub, type StsStub } from "./sts-stub.js";

const ROOT: KeyPair = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const ROLE = "arn:aws:iam::111122223333:role/report-reader";

/** The STS error code, message and HTTP status a call failed with. */
async function stsErrorOf(promise: Promise<unknown>): Promise<{ code: string; message: string; status: number | undefined }> {
  try {
    await promise;
  } catch (error) {
    // `Code` is the code on the wire; the SDK's class name may add "Exception".
    const e = error as { Code?: string; name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { code: e.Code ?? e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error("expected the call to fail");
}

let stub: StsStub;
let root: STSClient;

beforeEach(async () => {
  stub = await startStsStub();
  stub.addRootKey(ROOT.accessKeyId, ROOT.secretAccessKey);
  root = stubClient(stub.url, ROOT);
});

afterEach(async () => {
  root.destroy();
  await stub.close();
});

const assumeRole = (client: STSClient, input: Partial<AssumeRoleCommandInput> = {}) =>
  client.send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: "broker-test-1", ...input }));

describe("SigV4 verification", () => {
  it("accepts the SDK's signature for a known key and answers with the caller's ARN", async () => {
    const identity = await root.send(new GetCallerIdentityCommand({}));
    expect(identity).toMatchObject({ Account: "123456789012", Arn: "arn:aws:iam::123456789012:user/broker-test" });
    expect(stub.calls).toMatchObject([{ action: "GetCallerIdentity", accessKeyId: ROOT.accessKeyId, outcome: "ok", status: 200 }]);
  });

  it("rejects a wrong secret with SignatureDoesNotMatch", async () => {
    const wrong = stubClient(stub.url, { ...ROOT, secretAccessKey: `${ROOT.secretAccessKey.slice(0, -1)}X` });
    expect(await stsErrorOf(wrong.send(new GetCallerIdentityCommand({})))).toMatchObject({ code: "SignatureDoesNotMatch", status: 403 });
    expect(stub.calls[0]?.outcome).toBe("SignatureDoesNotMatch");
  });

  it("rejects an unknown key with InvalidClientTokenId", async () => {
    const unknown = stubClient(stub.url, { accessKeyId: "AKIAUNKNOWNKEY000000", secretAccessKey: ROOT.secretAccessKey });
    expect(await stsErrorOf(unknown.send(new GetCallerIdentityCommand({})))).toMatchObject({
      code: "InvalidClientTokenId",
      message: "The security token included in the request is invalid.",
      status: 403,
    });
  });

  it("rejects a body changed after signing", async () => {
    const tampering = stubClient(stub.url, ROOT);
    // Runs after the signer, just before the request goes on the wire.
    tampering.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body: string };
        request.body = request.body.replace("broker-test-1", "broker-test-2");
        return next(args);
      },
      { step: "deserialize", priority: "low" },
    );
    expect(await stsErrorOf(assumeRole(tampering))).toMatchObject({ code: "SignatureDoesNotMatch" });
  });

  it("rejects a signature older than 15 minutes, as AWS words it", async () => {
    const skewed = stubClient(stub.url, ROOT);
    skewed.config.systemClockOffset = -20 * 60 * 1000;
    const error = await stsErrorOf(skewed.send(new GetCallerIdentityCommand({})));
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.message).toMatch(/^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
  });

  it("rejects an unsigned request with MissingAuthenticationToken", async () => {
    const response = await fetch(stub.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "Action=GetCallerIdentity&Version=2011-06-15",
    });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain("<Code>MissingAuthenticationToken</Code>");
  });
});

describe("issued credentials", () => {
  it("issues ASIA keys that sign later calls, as the assumed role", async () => {
    const out = await assumeRole(root, { DurationSeconds: 900 });
    const creds = out.Credentials!;
    expect(creds.AccessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(out.AssumedRoleUser?.Arn).toBe("arn:aws:sts::111122223333:assumed-role/report-reader/broker-test-1");
    expect(creds.Expiration!.getTime() - Date.now()).toBeGreaterThan(890_000);
    const temp = stubClient(stub.url, { accessKeyId: creds.AccessKeyId!, secretAccessKey: creds.SecretAccessKey!, sessionToken: creds.SessionToken! });
    expect((await temp.send(new GetCallerIdentityCommand({}))).Arn).toBe(out.AssumedRoleUser?.Arn);
    const noToken = stubClient(stub.url, { accessKeyId: creds.AccessKeyId!, secretAccessKey: creds.SecretAccessKey! });
    expect((await stsErrorOf(noToken.send(new GetCallerIdentityCommand({})))).code).toBe("InvalidClientTokenId");
  });

  it("answers ExpiredToken once the credential lifetime has passed", async () => {
    stub.setCredentialLifetime(1);
    const creds = (await root.send(new GetSessionTokenCommand({}))).Credentials!;
    const temp = stubClient(stub.url, { accessKeyId: creds.AccessKeyId!, secretAccessKey: creds.SecretAccessKey!, sessionToken: creds.SessionToken! });
    await new Promise((r) => setTimeout(r, creds.Expiration!.getTime() - Date.now() + 50));
    expect(await stsErrorOf(temp.send(new GetCallerIdentityCommand({})))).toMatchObject({
      code: "ExpiredToken",
      message: "The security token included in the request is expired",
      status: 400,
    });
  });

  it("limits role chaining to one hour and refuses user-only actions to temporary credentials", async () => {
    const creds = (await assumeRole(root)).Credentials!;
    const temp = stubClient(stub.url, { accessKeyId: creds.AccessKeyId!, secretAccessKey: creds.SecretAccessKey!, sessionToken: creds.SessionToken! });
    expect(await stsErrorOf(assumeRole(temp, { DurationSeconds: 3601 }))).toMatchObject({
      code: "ValidationError",
      message: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    });
    await expect(assumeRole(temp, { DurationSeconds: 3600 })).resolves.toBeDefined();
    expect((await stsErrorOf(temp.send(new GetFederationTokenCommand({ Name: "x1" })))).code).toBe("AccessDenied");
    expect((await stsErrorOf(temp.send(new GetSessionTokenCommand({})))).code).toBe("AccessDenied");
  });

  it("issues federated-user credentials for GetFederationToken", async () => {
    const out = await root.send(new GetFederationTokenCommand({ Name: "broker-report", Policy: "{}" }));
    expect(out.FederatedUser?.Arn).toBe("arn:aws:sts::123456789012:federated-user/broker-report");
    expect(stub.calls[0]?.params).toEqual({ Name: "broker-report", Policy: "{}" });
  });
});

describe("validation", () => {
  it.each([
    [{ DurationSeconds: 899 }, "ValidationError", "Member must have value greater than or equal to 900"],
    [{ DurationSeconds: 43201 }, "ValidationError", "Member must have value less than or equal to 43200"],
    [{ RoleSessionName: "has space" }, "ValidationError", "at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern"],
    [{ RoleSessionName: "x".repeat(65) }, "ValidationError", "Member must have length less than or equal to 64"],
    [{ Policy: `{"a":"${"x".repeat(2045)}"}` }, "ValidationError", "at 'policy' failed to satisfy constraint: Member must have length less than or equal to 2048"],
    [{ Policy: "{not json" }, "MalformedPolicyDocument", "The policy is not in the valid JSON format."],
    [{ SourceIdentity: "broker task" }, "ValidationError", "at 'sourceIdentity'"],
    [{ Tags: [{ Key: "team", Value: "a" }, { Key: "TEAM", Value: "b" }] }, "InvalidParameterValue", "Duplicate tag keys"],
    [{ RoleArn: "arn:aws:iam::111122223333:user/not-a-role" }, "ValidationError", "is invalid"],
  ] as const)("rejects %j with %s", async (input, code, message) => {
    const error = await stsErrorOf(assumeRole(root, input as Partial<AssumeRoleCommandInput>));
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });

  it("limits GetFederationToken names to 32 characters", async () => {
    const error = await stsErrorOf(root.send(new GetFederationTokenCommand({ Name: "n".repeat(33) })));
    expect(error.message).toContain("at 'name' failed to satisfy constraint: Member must have length less than or equal to 32");
  });

  it("records every member it was sent", async () => {
    await assumeRole(root, {
      DurationSeconds: 1800,
      Policy: '{"Version":"2012-10-17"}',
      PolicyArns: [{ arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }],
      Tags: [{ Key: "team", Value: "data" }],
      ExternalId: "ext-123",
      SourceIdentity: "broker-report",
    });
    expect(stub.calls[0]).toMatchObject({
      action: "AssumeRole",
      accessKeyId: ROOT.accessKeyId,
      region: "us-east-1",
      params: {
        RoleArn: ROLE,
        RoleSessionName: "broker-test-1",
        DurationSeconds: 1800,
        Policy: '{"Version":"2012-10-17"}',
        PolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        Tags: [{ Key: "team", Value: "data" }],
        ExternalId: "ext-123",
        SourceIdentity: "broker-report",
      },
    });
  });
});

describe("roles", () => {
  it("holds a role nobody configured to IAM's default MaxSessionDuration of 1 h", async () => {
    expect((await stsErrorOf(assumeRole(root, { DurationSeconds: 3601 }))).message).toBe("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
    await expect(assumeRole(root, { DurationSeconds: 3600 })).resolves.toBeDefined();
  });

  it("denies roles it does not know and a wrong external id, with AWS's wording", async () => {
    const strict = await startStsStub({ roles: { [ROLE]: { externalId: "ext-1", maxSessionDurationSeconds: 3600 } } });
    strict.addRootKey(ROOT.accessKeyId, ROOT.secretAccessKey);
    const client = stubClient(strict.url, ROOT);
    try {
      expect(await stsErrorOf(assumeRole(client, { RoleArn: "arn:aws:iam::111122223333:role/other" }))).toMatchObject({
        code: "AccessDenied",
        message: "User: arn:aws:iam::123456789012:user/broker-test is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/other",
        status: 403,
      });
      expect((await stsErrorOf(assumeRole(client, { ExternalId: "wrong" }))).code).toBe("AccessDenied");
      expect((await stsErrorOf(assumeRole(client, { ExternalId: "ext-1", DurationSeconds: 7200 }))).message).toContain("MaxSessionDuration");
      await expect(assumeRole(client, { ExternalId: "ext-1" })).resolves.toBeDefined();
    } finally {
      client.destroy();
      await strict.close();
    }
  });
});

describe("faults", () => {
  it("throttles as STS does, for the next N calls of one action only", async () => {
    stub.fault("throttle", { times: 2, action: "AssumeRole" });
    await expect(root.send(new GetCallerIdentityCommand({}))).resolves.toBeDefined();
    expect(await stsErrorOf(assumeRole(root))).toMatchObject({ code: "Throttling", message: "Rate exceeded", status: 400 });
    expect((await stsErrorOf(assumeRole(root))).code).toBe("Throttling");
    await expect(assumeRole(root)).resolves.toBeDefined();
    expect(stub.calls.map((c) => c.outcome)).toEqual(["ok", "fault:throttle", "fault:throttle", "ok"]);
  });

  it("answers 500, garbage, a dropped connection, or any STS error", async () => {
    stub.fault("500");
    expect(await stsErrorOf(root.send(new GetCallerIdentityCommand({})))).toMatchObject({ code: "InternalFailure", status: 500 });
    stub.fault("garbage");
    await expect(root.send(new GetCallerIdentityCommand({}))).rejects.toThrow();
    stub.fault("drop");
    await expect(root.send(new GetCallerIdentityCommand({}))).rejects.toThrow(/socket hang up|ECONNRESET/);
    stub.fault({ status: 403, code: "RegionDisabledException", message: "STS is not activated in this region for account:123456789012." });
    expect((await stsErrorOf(root.send(new GetCallerIdentityCommand({})))).code).toBe("RegionDisabledException");
    expect(stub.calls.map((c) => c.status)).toEqual([500, 200, 0, 403]);
  });

  it("hangs until the client gives up", async () => {
    stub.fault("hang");
    const client = new (root.constructor as typeof STSClient)({
      region: "us-east-1",
      endpoint: stub.url,
      credentials: ROOT,
      maxAttempts: 1,
      requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true },
    });
    expect((await stsErrorOf(client.send(new GetCallerIdentityCommand({})))).code).toBe("TimeoutError");
    client.destroy();
  });
});

describe("the AWS CLI", async () => {
  const cli = await findAwsCli();
  it.skipIf(cli === null)("is verified too: its SigV4 passes with the right key and fails with a wrong one", async () => {
    const keys = { AWS_ACCESS_KEY_ID: ROOT.accessKeyId, AWS_SECRET_ACCESS_KEY: ROOT.secretAccessKey };
    const ok = await runAwsCli(stub.url, ["sts", "get-caller-identity"], keys);
    expect(ok.stderr).toBe("");
    expect(JSON.parse(ok.stdout)).toMatchObject({ Arn: "arn:aws:iam::123456789012:user/broker-test" });
    const assumed = await runAwsCli(
      stub.url,
      ["sts", "assume-role", "--role-arn", ROLE, "--role-session-name", "cli", "--tags", "Key=team,Value=data", "--policy-arns", "arn=arn:aws:iam::aws:policy/ReadOnlyAccess"],
      keys,
    );
    expect(JSON.parse(assumed.stdout).Credentials.AccessKeyId).toMatch(/^ASIA/);
    expect(stub.calls[1]?.params).toMatchObject({ Tags: [{ Key: "team", Value: "data" }], PolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"] });
    const bad = await runAwsCli(stub.url, ["sts", "get-caller-identity"], { ...keys, AWS_SECRET_ACCESS_KEY: "wrong" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("SignatureDoesNotMatch");
  });
});
