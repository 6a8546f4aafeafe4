import { request } from "node:http";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { fromHttp } from "@aws-sdk/credential-provider-http";
import { fromContainerMetadata } from "@smithy/credential-provider-imds";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AwsCredentials } from "../../src/providers/provider.js";
import { createAwsProvider } from "../../src/providers/aws-sts.js";
import { startAwsEndpoint, type AwsEndpoint } from "../../src/sinks/aws-endpoint.js";
import { memoryStore } from "../helpers/memory-store.js";
import { findAwsCli, runAwsCli } from "../stubs/sts-clients.js";
import { startStsStub, type StsStub } from "../stubs/sts-stub.js";

/** Skipped only when `aws` is not on PATH. */
const awsCli = await findAwsCli();

const CREDS: AwsCredentials = {
  accessKeyId: "ASIAEXAMPLEEXAMPLE01",
  secretAccessKey: "secret/with+chars=",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE+token/==",
  expiration: "2030-01-02T03:04:05.000Z",
  region: "us-east-1",
};

let current: AwsCredentials | null;
let fetched: number;
let endpoint: AwsEndpoint;

beforeEach(async () => {
  current = CREDS;
  fetched = 0;
  endpoint = await startAwsEndpoint(async () => {
    fetched += 1;
    return current;
  });
});
afterEach(() => endpoint.close());

/** A GET as the SDKs make it, with whatever Authorization and Host we choose. */
function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the container-credentials endpoint", () => {
  it("listens on 127.0.0.1 with a random path and a random token of at least 32 bytes", async () => {
    expect(endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/aws-credentials\/[0-9a-f]{32}$/);
    expect(Buffer.from(endpoint.token, "base64url").length).toBeGreaterThanOrEqual(32);
    const other = await startAwsEndpoint(async () => null);
    expect(other.url).not.toBe(endpoint.url);
    expect(other.token).not.toBe(endpoint.token);
    await other.close();
  });

  it("is read by the SDK's fromHttp, with the token sent as AWS_CONTAINER_AUTHORIZATION_TOKEN", async () => {
    const provider = fromHttp({ awsContainerCredentialsFullUri: endpoint.url, awsContainerAuthorizationToken: endpoint.token });
    const identity = await provider();
    expect(identity).toMatchObject({ accessKeyId: CREDS.accessKeyId, secretAccessKey: CREDS.secretAccessKey, sessionToken: CREDS.sessionToken });
    expect(identity.expiration?.toISOString()).toBe(CREDS.expiration);
  });

  it("is read by fromContainerMetadata, from the environment variables broker run sets", async () => {
    const saved = { uri: process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI, token: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN };
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = endpoint.url;
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = endpoint.token;
    try {
      const identity = await fromContainerMetadata({ maxRetries: 0 })();
      expect(identity).toMatchObject({ accessKeyId: CREDS.accessKeyId, sessionToken: CREDS.sessionToken });
    } finally {
      for (const [name, value] of [["AWS_CONTAINER_CREDENTIALS_FULL_URI", saved.uri], ["AWS_CONTAINER_AUTHORIZATION_TOKEN", saved.token]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  it("asks for the session's current credentials on every request, so refreshes reach the SDK", async () => {
    const provider = fromHttp({ awsContainerCredentialsFullUri: endpoint.url, awsContainerAuthorizationToken: endpoint.token });
    await provider();
    current = { ...CREDS, accessKeyId: "ASIAEXAMPLEEXAMPLE02", expiration: "2030-01-02T04:04:05.000Z" };
    expect((await provider()).accessKeyId).toBe("ASIAEXAMPLEEXAMPLE02");
    expect(fetched).toBe(2);
  });

  it("answers 401 without the token or with a wrong one, before asking for anything", async () => {
    expect((await get(endpoint.url)).status).toBe(401);
    expect((await get(endpoint.url, { Authorization: `${endpoint.token}x` })).status).toBe(401);
    expect((await get(endpoint.url, { Authorization: `Bearer ${endpoint.token}` })).status).toBe(401);
    expect(fetched).toBe(0);
    const ok = await get(endpoint.url, { Authorization: endpoint.token });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({
      AccessKeyId: CREDS.accessKeyId,
      SecretAccessKey: CREDS.secretAccessKey,
      Token: CREDS.sessionToken,
      Expiration: "2030-01-02T03:04:05Z",
    });
  });

  it("answers 404 once the session has ended", async () => {
    current = null;
    const answer = await get(endpoint.url, { Authorization: endpoint.token });
    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ Code: "SessionEnded" });
    const provider = fromHttp({ awsContainerCredentialsFullUri: endpoint.url, awsContainerAuthorizationToken: endpoint.token, maxRetries: 0 });
    await expect(provider()).rejects.toThrow(/status: 404/);
  });

  it("serves only GET on its path, only to loopback host names", async () => {
    const auth = { Authorization: endpoint.token };
    expect((await get(endpoint.url, auth, "POST")).status).toBe(405);
    expect((await get(endpoint.url.replace(/[0-9a-f]{32}$/, "0".repeat(32)), auth)).status).toBe(404);
    expect((await get(endpoint.url, { ...auth, Host: "attacker.example:80" })).status).toBe(403);
    expect(fetched).toBe(0);
  });

  it("stops listening on close", async () => {
    await endpoint.close();
    await endpoint.close();
    await expect(get(endpoint.url, { Authorization: endpoint.token })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe("end to end with the STS stand-in", () => {
  let stub: StsStub;
  let minted: AwsCredentials;

  beforeEach(async () => {
    stub = await startStsStub();
    stub.addRootKey("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    const store = memoryStore({
      root: { type: "aws", value: JSON.stringify({ accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" }) },
    });
    const lease = await createAwsProvider({ store, now: Date.now }).mint({
      sessionId: "fedcba9876543210",
      plan: { task: "agent", ttlSeconds: 900, aws: { source: "root", region: "us-east-1", endpoint: stub.url, roleArn: "arn:aws:iam::111122223333:role/agent" }, env: {} },
      sessionExpiresAt: Date.now() + 900_000,
    });
    current = minted = lease.credentials;
  });
  afterEach(() => stub.close());

  it("an STSClient signs with what the endpoint serves", async () => {
    const client = new STSClient({
      region: "us-east-1",
      endpoint: stub.url,
      credentials: fromHttp({ awsContainerCredentialsFullUri: endpoint.url, awsContainerAuthorizationToken: endpoint.token }),
    });
    expect((await client.send(new GetCallerIdentityCommand({}))).Arn).toBe("arn:aws:sts::111122223333:assumed-role/agent/broker-agent-fedcba98");
    expect(stub.calls.at(-1)?.accessKeyId).toBe(minted.accessKeyId);
    client.destroy();
  });

  it.skipIf(awsCli === null)("the AWS CLI reads it from AWS_CONTAINER_CREDENTIALS_FULL_URI", async () => {
    const result = await runAwsCli(stub.url, ["sts", "get-caller-identity"], {
      AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: endpoint.token,
    });
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout).Arn).toBe("arn:aws:sts::111122223333:assumed-role/agent/broker-agent-fedcba98");
    expect(stub.calls.at(-1)).toMatchObject({ accessKeyId: minted.accessKeyId, outcome: "ok" });
  });
});
