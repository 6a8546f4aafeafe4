/**
 * AWS credentials injected at the egress proxy, end to end: in the box `broker run` makes, the
 * AWS CLI and boto3 hold only placeholder keys. They call STS GetCallerIdentity and put 50 MiB
 * objects (UNSIGNED-PAYLOAD, and the streaming CRC32-trailer form) through the session's proxy,
 * which verifies their signatures against the placeholder and re-signs with the STS credentials
 * the daemon minted. The TLS stand-in on 127.0.0.2 accepts only those. After the session, the
 * placeholder keys are worth nothing anywhere.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsPolicy, EXTERNAL_ID, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { bwrapWorks } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { makeTestCa, type TestCa } from "../helpers/test-ca.js";
import { tempDir } from "../helpers/tmp.js";
import type { IssuedCredentials } from "../stubs/sts-stub.js";
import type { Creds } from "./aws-sigv4-check.js";
import { newS3Store, serveAwsRequest, type StandInRequest } from "./aws-tls-stand-in.js";
import { boxReport, occurrences } from "./inject-stand-in.js";

const MIB50 = 50 * 1024 * 1024;
const BOTO3 = join(import.meta.dirname, "boto3-client.py");
/** Debian's awscli (what CI installs), whatever else PATH holds; it sends UNSIGNED-PAYLOAD unless asked for a checksum. */
const AWS = "/usr/bin/aws";
const NOBODY: Creds = { accessKeyId: "none", secretAccessKey: "none", sessionToken: "none" };

/** The access key a request is signed with, from its Authorization header or presigned query. */
function signingKey(req: IncomingMessage): string | undefined {
  const header = /Credential=([A-Z0-9]+)\//.exec(String(req.headers.authorization ?? ""))?.[1];
  return header ?? new URL(req.url ?? "/", "https://stand-in.invalid").searchParams.get("X-Amz-Credential")?.split("/")[0];
}

describe.skipIf(!bwrapWorks())("AWS credentials injected at the egress proxy", () => {
  const dir = tempDir("broker-inject-aws-", "/var/tmp");
  let ca: TestCa;
  let f: AwsFixture;
  const s3Seen: StandInRequest[] = [];
  beforeAll(async () => {
    ca = makeTestCa(dir.path);
    const store = newS3Store();
    // S3 on the STS stand-in's own host: the box reaches both through the one endpoint its proxy intercepts.
    const otherService = (req: IncomingMessage, res: Parameters<typeof serveAwsRequest>[1], issued: (key: string) => IssuedCredentials | undefined) => {
      const key = signingKey(req);
      const found = key === undefined ? undefined : issued(key);
      const real: Creds = found?.sessionToken !== undefined ? { ...found, sessionToken: found.sessionToken } : NOBODY;
      serveAwsRequest(req, res, () => real, store, s3Seen);
    };
    f = await startAwsFixture(
      (url) => ({ s3job: awsPolicy("s3job", url, { ttl: "10m", aws: `  external_id: ${EXTERNAL_ID}\n  inject: true\n` }) }),
      { listenHost: "127.0.0.2", tls: ca.server, otherService },
      { parent: "/var/tmp", env: { NODE_EXTRA_CA_CERTS: ca.certFile } },
    );
  }, 60_000);
  afterAll(async () => {
    await f?.cleanup();
    dir.cleanup();
  });

  it("the AWS CLI and boto3 in the box hold placeholder keys; the stand-in sees only the minted ones; nothing works after the end", async () => {
    const ep = f.stub.url;
    const put = (key: string, extra = "") => `AWS_REQUEST_CHECKSUM_CALCULATION=when_required ${AWS} --endpoint-url ${ep} s3api put-object --bucket box-bucket --key ${key} --body /tmp/object ${extra} --query ETag --output text`;
    const boto3 = (spec: Record<string, unknown>) => `/usr/bin/python3 ${BOTO3} '${JSON.stringify({ endpoint: ep, ...spec })}'`;
    const script = `
      export HOME=/tmp/home AWS_CONFIG_FILE=/tmp/home/config AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=1
      mkdir -p /tmp/home && printf '[default]\\ns3 =\\n  addressing_style = path\\n' > /tmp/home/config
      echo "session=$BROKER_SESSION"
      echo "cli_sts=$(${AWS} --endpoint-url ${ep} sts get-caller-identity --query Arn --output text 2>&1 | tail -1)"
      echo "boto3_sts=$(${boto3({ service: "sts", op: "get_caller_identity" })} 2>&1 | tail -1)"
      head -c ${MIB50} /dev/urandom > /tmp/object
      echo "sha=$(sha256sum /tmp/object | cut -d' ' -f1)"
      echo "cli_unsigned=$(${put("cli-unsigned")} 2>&1 | tail -1)"
      echo "cli_streaming=$(${put("cli-streaming", "--checksum-algorithm CRC32")} 2>&1 | tail -1)"
      echo "boto3_unsigned=$(${boto3({ service: "s3", op: "put_object", bucket: "box-bucket", key: "boto3-unsigned", file: "/tmp/object" })} 2>&1 | tail -1)"
      echo "boto3_streaming=$(${boto3({ service: "s3", op: "put_object", bucket: "box-bucket", key: "boto3-streaming", file: "/tmp/object", checksum_algorithm: "CRC32" })} 2>&1 | tail -1)"
      rm -f /tmp/object
      echo "process_b64=$(${process.execPath} ${CLI} credential-process --task s3job | base64 -w0)"
      echo "endpoint_b64=$(curl -sS -H "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" "$AWS_CONTAINER_CREDENTIALS_FULL_URI" | base64 -w0)"
      echo "files_b64=$(cat "$BROKER_SANDBOX_DIR"/aws/credentials | base64 -w0)"
      echo "env_b64=$(env | base64 -w0)"`;
    const result = await f.daemon.cli(["run", "--task", "s3job", "--sandbox-tmp", "--aws-endpoint", "--", "sh", "-c", script], { env: f.awsEnv(), timeoutMs: 240_000 });
    expect(result.code, result.stderr).toBe(0);
    const seen = boxReport(result.stdout);
    expect(seen.cli_sts).toMatch(/^arn:aws:sts::\d{12}:assumed-role\//);
    expect(JSON.parse(seen.boto3_sts!).answer.Arn).toBe(seen.cli_sts);

    // The box held placeholders, never the keys the daemon minted.
    // With --aws-endpoint the clients take their keys from the container endpoint, not the environment.
    const endpoint = JSON.parse(seen.endpoint!) as { AccessKeyId: string; SecretAccessKey: string; Token: string };
    const ph = { accessKeyId: endpoint.AccessKeyId, secretAccessKey: endpoint.SecretAccessKey, sessionToken: endpoint.Token };
    const mint = f.audit().find((l) => l.event === "mint" && l.session === seen.session && l.provider === "aws")!;
    const real = f.stub.issued(String(mint.credential))!;
    expect(real.sessionToken).toBeDefined();
    expect(ph.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(ph.accessKeyId).not.toBe(real.accessKeyId);
    // Every way the box is handed credentials gives the placeholders: the files, credential_process, the container endpoint.
    expect(JSON.parse(seen.process!)).toMatchObject({ AccessKeyId: ph.accessKeyId, SecretAccessKey: ph.secretAccessKey, SessionToken: ph.sessionToken });
    expect(seen.files).toContain(`aws_access_key_id = ${ph.accessKeyId}`);
    for (const value of [real.accessKeyId, real.secretAccessKey, real.sessionToken!]) {
      for (const text of [result.stdout, result.stderr, seen.env!, seen.process!, seen.endpoint!, seen.files!]) expect(occurrences(text, value)).toBe(0);
    }
    // STS saw the minted key on both GetCallerIdentity calls.
    const identities = f.stub.calls.filter((c) => c.action === "GetCallerIdentity");
    expect(identities.map((c) => [c.accessKeyId, c.outcome])).toEqual([
      [real.accessKeyId, "ok"],
      [real.accessKeyId, "ok"],
    ]);
    // Each 50 MiB object arrived whole, signed with the minted key, in the payload mode its client chose.
    const puts = Object.fromEntries(s3Seen.filter((r) => r.method === "PUT").map((r) => [r.path, r]));
    for (const [key, payload] of [
      ["cli-unsigned", "UNSIGNED-PAYLOAD"],
      ["cli-streaming", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"],
      ["boto3-unsigned", "UNSIGNED-PAYLOAD"],
      ["boto3-streaming", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"],
    ] as const) {
      expect(puts[`/box-bucket/${key}`], key).toMatchObject({ credential: "real", signature: "valid", status: 200, payload, objectBytes: MIB50, objectSha256: seen.sha });
    }
    // Audited per request, with the minted key's id as fingerprint and no secret.
    const lines = f.audit().filter((l) => l.event === "egress" && l.session === seen.session && l.intercepted === true);
    expect(lines.filter((l) => l.rule === "aws" && l.status === 200).length).toBeGreaterThanOrEqual(6);
    for (const value of [real.secretAccessKey, real.sessionToken!, ph.secretAccessKey, ph.sessionToken]) expect(occurrences(f.auditText(), value)).toBe(0);

    // The session is over: its placeholder keys, used straight against the endpoint, are refused.
    // Asynchronously: the stand-in answers from this very process.
    const after = await promisify(execFile)(AWS, ["--endpoint-url", ep, "sts", "get-caller-identity"], {
      env: f.awsEnv({ AWS_ACCESS_KEY_ID: ph.accessKeyId, AWS_SECRET_ACCESS_KEY: ph.secretAccessKey, AWS_SESSION_TOKEN: ph.sessionToken, AWS_CA_BUNDLE: ca.certFile, AWS_REGION: "us-east-1" }),
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code?: number; stderr?: string }) => ({ code: error.code ?? -1, stderr: String(error.stderr) }),
    );
    expect(after.code).not.toBe(0);
    expect(after.stderr).toContain("InvalidClientTokenId");
  }, 300_000);
});
