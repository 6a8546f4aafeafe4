/**
 * AWS injection end to end at the proxy level, with the real clients a box runs: Debian's awscli
 * and python3-boto3 (and a newer botocore when one is installed) hold placeholder STS
 * credentials, go through the intercepting egress proxy (its Unix socket bridged to TCP), and a
 * TLS stand-in for STS and S3 on 127.0.0.2 accepts only requests signed with the REAL
 * credentials. Uploads of 50 MiB in each payload mode (and multipart) must arrive whole, downloads
 * (whole, ranged, a presigned URL fetched by curl) come back whole, and no real value may reach
 * the clients' output or the audit.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsInjectHandler } from "../../src/egress/aws-inject-handler.js";
import { startEgressProxy, type EgressAuditEntry, type EgressProxy } from "../../src/egress/forward-proxy.js";
import type { Injection } from "../../src/egress/inject-types.js";
import { createSessionCa } from "../../src/egress/session-ca.js";
import { waitFor } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";
import { clientEnv, run, stsShapedCreds, tcpBridge, type Run } from "./aws-clients.js";
import { signedChunkPut } from "./aws-signed-chunk-client.js";
import { STAND_IN_ARN, startAwsTlsStandIn, type AwsTlsStandIn, type StandInRequest } from "./aws-tls-stand-in.js";

const DEBIAN_AWS = "/usr/bin/aws";
const DEBIAN_PYTHON = "/usr/bin/python3";
/** A newer awscli/botocore besides Debian's (pyenv's here), whose default is an aws-chunked body with a CRC32 trailer. */
const NEWER = existsSync("/root/.pyenv/shims/aws") ? { aws: "/root/.pyenv/shims/aws", python: "/root/.pyenv/shims/python3" } : undefined;
const BOTO3 = fileURLToPath(new URL("./boto3-client.py", import.meta.url));
const SIZE = 50 * 1024 * 1024;

const dir = tempDir("broker-aws-intercept-");
const placeholder = stsShapedCreds();
const real = stsShapedCreds();
let standIn: AwsTlsStandIn;
let proxy: EgressProxy;
let bridge: { port: number; close(): Promise<void> };
const audit: EgressAuditEntry[] = [];
const leaks: unknown[] = [];
const outputs: string[] = [];
/** Requests the stand-in got straight, not through the proxy (its own checks). */
let direct = 0;
let sessionCaFile: string;
let objectFile: string;
let objectSha256: string;

beforeAll(async () => {
  standIn = await startAwsTlsStandIn({ dir: dir.path, real: () => real });
  const ca = await createSessionCa({ label: "aws-test" });
  sessionCaFile = join(dir.path, "session-ca.pem");
  writeFileSync(sessionCaFile, ca.certPem);
  const injection: Injection = {
    intercepts: (host, port) => host === standIn.host && port === standIn.port,
    handle: awsInjectHandler({ placeholder, real: () => real }),
    onLeak: (leak) => leaks.push(leak),
  };
  const socketPath = join(dir.path, "egress.sock");
  proxy = await startEgressProxy({
    socketPath,
    decide: (host, port) => (host === standIn.host && port === standIn.port ? { allowed: true, exact: true } : { allowed: false, exact: false }),
    denyHint: () => "not in this test's egress",
    audit: (entry) => audit.push(entry),
    injection,
    ca,
    upstreamCa: [standIn.caCert],
  });
  bridge = await tcpBridge(socketPath);
  const object = randomBytes(SIZE);
  objectSha256 = createHash("sha256").update(object).digest("hex");
  objectFile = join(dir.path, "object.bin");
  writeFileSync(objectFile, object);
}, 60_000);

afterAll(async () => {
  await bridge?.close();
  await proxy?.close();
  await standIn?.close();
  dir.cleanup();
});

/** A client through the proxy with the placeholder credentials; its output is kept for the leak check. */
async function boxRun(name: string, command: string, args: string[], s3: Record<string, string> = {}): Promise<Run> {
  const { env } = clientEnv(dir.path, name, { creds: placeholder, caFile: sessionCaFile, proxyPort: bridge.port, s3 });
  const result = await run(command, args, env);
  outputs.push(result.stdout, result.stderr);
  return result;
}

const awsArgs = (...args: string[]) => ["--endpoint-url", standIn.url, "--output", "json", ...args];
const putArgs = (key: string) => awsArgs("s3api", "put-object", "--bucket", "box-bucket", "--key", key, "--body", objectFile);
const boto3Args = (spec: Record<string, unknown>) => [BOTO3, JSON.stringify({ endpoint: standIn.url, ...spec })];
const lastSeen = (path: string): StandInRequest | undefined => standIn.seen.filter((r) => r.path === path).at(-1);

function expectWholeObject(path: string, result: Run): StandInRequest {
  expect(result.code, result.stderr).toBe(0);
  const seen = lastSeen(path)!;
  expect(seen).toMatchObject({ service: "s3", status: 200, outcome: "ok", credential: "real", signature: "valid", objectBytes: SIZE, objectSha256 });
  return seen;
}

describe("AWS injection through the intercepting proxy, real clients", () => {
  it("the stand-in refuses the placeholder credentials and accepts the real ones (direct, no proxy)", async () => {
    direct += 2;
    const straight = (creds: typeof real) => run(DEBIAN_AWS, awsArgs("sts", "get-caller-identity"), clientEnv(dir.path, "direct", { creds, caFile: standIn.caFile }).env);
    const refused = await straight(placeholder);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("InvalidClientTokenId");
    expect(standIn.seen.at(-1)).toMatchObject({ service: "sts", status: 403, credential: "other" });
    const accepted = await straight(real);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(standIn.seen.at(-1)).toMatchObject({ service: "sts", status: 200, credential: "real", signature: "valid" });
  }, 60_000);

  it("aws sts get-caller-identity (Debian awscli) succeeds with the real credentials upstream", async () => {
    const result = await boxRun("aws-sts", DEBIAN_AWS, awsArgs("sts", "get-caller-identity"));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ Arn: STAND_IN_ARN });
    expect(standIn.seen.at(-1)).toMatchObject({ service: "sts", status: 200, credential: "real", signature: "valid" });
  }, 60_000);

  it("boto3 sts.get_caller_identity() (Debian python3-boto3) succeeds", async () => {
    const result = await boxRun("boto3-sts", DEBIAN_PYTHON, boto3Args({ service: "sts", op: "get_caller_identity" }));
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).answer).toMatchObject({ Arn: STAND_IN_ARN });
    expect(standIn.seen.at(-1)).toMatchObject({ service: "sts", status: 200, credential: "real" });
  }, 60_000);

  it("aws s3api put-object of 50 MiB (Debian awscli): default UNSIGNED-PAYLOAD, signed payload (hex), CRC32 trailer", async () => {
    const unsigned = expectWholeObject("/box-bucket/aws-default", await boxRun("aws-put", DEBIAN_AWS, putArgs("aws-default")));
    expect(unsigned).toMatchObject({ payload: "UNSIGNED-PAYLOAD", bytesReceived: SIZE });
    const hex = expectWholeObject("/box-bucket/aws-signed", await boxRun("aws-put-signed", DEBIAN_AWS, putArgs("aws-signed"), { payload_signing_enabled: "true" }));
    expect(hex).toMatchObject({ payload: "hex", payloadHashChecked: true, bytesReceived: SIZE });
    const crc = expectWholeObject("/box-bucket/aws-crc32", await boxRun("aws-put-crc32", DEBIAN_AWS, [...putArgs("aws-crc32"), "--checksum-algorithm", "CRC32"]));
    expect(crc).toMatchObject({ payload: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", trailer: true, checksums: ["crc32"] });
  }, 180_000);

  it("boto3 put_object of 50 MiB (Debian python3-boto3): default UNSIGNED-PAYLOAD, and signed payload (hex)", async () => {
    const base = { service: "s3", op: "put_object", bucket: "box-bucket", file: objectFile };
    const unsigned = expectWholeObject("/box-bucket/boto3-default", await boxRun("boto3-put", DEBIAN_PYTHON, boto3Args({ ...base, key: "boto3-default" })));
    expect(unsigned).toMatchObject({ payload: "UNSIGNED-PAYLOAD", bytesReceived: SIZE });
    const hex = expectWholeObject("/box-bucket/boto3-signed", await boxRun("boto3-put-s", DEBIAN_PYTHON, boto3Args({ ...base, key: "boto3-signed", payload_signing_enabled: true })));
    expect(hex).toMatchObject({ payload: "hex", payloadHashChecked: true });
  }, 120_000);

  it.runIf(NEWER)("a newer awscli and boto3 (botocore ≥ 1.36) by default: aws-chunked with a trailing CRC32", async () => {
    for (const [key, command, args] of [
      ["newer-aws", NEWER!.aws, putArgs("newer-aws")],
      ["newer-boto3", NEWER!.python, boto3Args({ service: "s3", op: "put_object", bucket: "box-bucket", file: objectFile, key: "newer-boto3" })],
    ] as const) {
      const seen = expectWholeObject(`/box-bucket/${key}`, await boxRun(key, command, [...args]));
      expect(seen).toMatchObject({ payload: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", trailer: true, checksums: ["crc32"] });
      expect(seen.bytesReceived).toBeGreaterThan(SIZE);
    }
  }, 120_000);

  it("aws s3 cp of 50 MiB (multipart: create, parts in parallel, complete), Debian's and a newer awscli", async () => {
    for (const [key, command] of [["cp-debian", DEBIAN_AWS], ...(NEWER ? [["cp-newer", NEWER.aws]] : [])] as const) {
      const result = await boxRun(key, command, ["--endpoint-url", standIn.url, "s3", "cp", objectFile, `s3://box-bucket/${key}`]);
      const complete = expectWholeObject(`/box-bucket/${key}`, result);
      expect(complete.operation).toBe("CompleteMultipartUpload");
      const parts = standIn.seen.filter((r) => r.path === `/box-bucket/${key}` && r.operation === "UploadPart");
      expect(parts.length).toBeGreaterThan(1);
      expect(parts.every((p) => p.status === 200 && p.credential === "real" && p.signature === "valid")).toBe(true);
      expect(parts.reduce((n, p) => n + p.objectBytes!, 0)).toBe(SIZE);
      expect(parts[0]).toMatchObject(key === "cp-debian" ? { payload: "UNSIGNED-PAYLOAD" } : { payload: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", checksums: ["crc32"] });
    }
  }, 180_000);

  it("downloads: aws s3api get-object, aws s3 cp (HEAD, then ranged GETs), and aws s3 presign's URL fetched by curl", async () => {
    const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
    const path = "/box-bucket/aws-default";
    const whole = join(dir.path, "get-whole.bin");
    const got = await boxRun("aws-get", DEBIAN_AWS, awsArgs("s3api", "get-object", "--bucket", "box-bucket", "--key", "aws-default", whole));
    expect(got.code, got.stderr).toBe(0);
    expect(sha(whole)).toBe(objectSha256);
    expect(lastSeen(path)).toMatchObject({ operation: "GetObject", status: 200, credential: "real", signature: "valid", objectBytes: SIZE });
    const before = standIn.seen.length;
    const parts = join(dir.path, "get-parts.bin");
    const copied = await boxRun("aws-cp-get", DEBIAN_AWS, ["--endpoint-url", standIn.url, "s3", "cp", "s3://box-bucket/aws-default", parts]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(sha(parts)).toBe(objectSha256);
    const ranged = standIn.seen.slice(before).filter((r) => r.operation === "GetObject");
    expect(ranged.length).toBeGreaterThan(1);
    expect(ranged.every((r) => r.status === 206 && r.credential === "real" && r.signature === "valid")).toBe(true);
    const presigned = await boxRun("aws-presign", DEBIAN_AWS, ["--endpoint-url", standIn.url, "s3", "presign", "s3://box-bucket/aws-default"]);
    expect(presigned.code, presigned.stderr).toBe(0);
    const fetched = join(dir.path, "get-presigned.bin");
    const curl = await run("curl", ["-sS", "--proxy", `http://127.0.0.1:${bridge.port}`, "--cacert", sessionCaFile, "-o", fetched, "-w", "%{http_code}", presigned.stdout.trim()], { PATH: process.env.PATH ?? "/usr/bin", HOME: dir.path });
    outputs.push(curl.stdout, curl.stderr);
    expect(curl.stdout, curl.stderr).toBe("200");
    expect(sha(fetched)).toBe(objectSha256);
    expect(lastSeen(path)).toMatchObject({ operation: "GetObject", presigned: true, status: 200, credential: "real", signature: "valid" });
  }, 120_000);

  it("signed aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, smithy-signed headers): every chunk re-signed", async () => {
    const result = await signedChunkPut({ proxyPort: bridge.port, target: standIn, ca: sessionCaFile, creds: placeholder, path: "/box-bucket/signed-chunks", file: objectFile, chunkBytes: 64 * 1024 });
    outputs.push(result.body);
    expect(result.status, result.body).toBe(200);
    const seen = expectWholeObject("/box-bucket/signed-chunks", { code: 0, stdout: "", stderr: "", ms: 0 });
    expect(seen.chunksChecked).toBe(SIZE / (64 * 1024) + 1);
  }, 120_000);

  it("the stand-in checks chunk signatures: a chunk changed after signing is refused 403 (direct, real credentials)", async () => {
    direct += 2;
    const spec = { target: standIn, ca: standIn.caFile, creds: real, file: objectFile, chunkBytes: 1024 * 1024 };
    expect((await signedChunkPut({ ...spec, path: "/box-bucket/direct-ok" })).status).toBe(200);
    expect((await signedChunkPut({ ...spec, path: "/box-bucket/direct-tampered", tamper: true })).status).toBe(403);
    expect(lastSeen("/box-bucket/direct-tampered")).toMatchObject({ status: 403, outcome: "SignatureDoesNotMatch", credential: "real", signature: "valid" });
  }, 60_000);

  it("a placeholder the client puts where it does not belong (S3 metadata) is a leak: refused, never sent upstream", async () => {
    writeFileSync(join(dir.path, "small.txt"), "hello\n");
    const before = standIn.seen.length;
    const args = awsArgs("s3api", "put-object", "--bucket", "box-bucket", "--key", "leak", "--body", join(dir.path, "small.txt"), "--metadata", `note=${placeholder.secretAccessKey}`);
    const result = await boxRun("aws-leak", DEBIAN_AWS, args);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("403");
    expect(standIn.seen.length).toBe(before);
    expect(leaks).toEqual([{ credential: "aws", where: "header", host: standIn.host }]);
    await waitFor(() => audit.find((e) => e.reason === "leak (header)"), 5_000, 20);
  }, 60_000);

  it("no real value reached the clients' output or the audit; the access key id only as the audit's fingerprint", async () => {
    const proxied = standIn.seen.length - direct;
    const forwarded = () => audit.filter((e) => e.intercepted && e.outcome === "ok");
    await waitFor(() => (forwarded().length >= proxied ? true : undefined), 5_000, 20);
    expect(forwarded().length).toBe(proxied);
    const said = outputs.join("\n");
    for (const value of [real.accessKeyId, real.secretAccessKey, real.sessionToken]) expect(said.split(value).length - 1).toBe(0);
    const lines = JSON.stringify(audit);
    for (const value of [real.secretAccessKey, real.sessionToken, ...Object.values(placeholder)]) expect(lines).not.toContain(value);
    const fingerprinted = audit.filter((e) => e.fingerprint === real.accessKeyId).length;
    expect(lines.split(real.accessKeyId).length - 1).toBe(fingerprinted);
    expect(forwarded().every((e) => e.rule === "aws" && (e.status === 200 || e.status === 206))).toBe(true);
    expect(audit.filter((e) => e.intercepted && e.outcome !== "ok")).toMatchObject([{ outcome: "denied", reason: "leak (header)", status: 403 }]);
  });
});
