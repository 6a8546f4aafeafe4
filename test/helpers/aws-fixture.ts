/**
 * An STS stand-in and a daemon whose aws policies point `endpoint:` at it, with a root key
 * (generated now, never committed) stored as the `aws` secret `aws-root`; plus an environment
 * that keeps the AWS CLI and SDKs away from the operator's own profile, files and metadata.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startStsStub, type StsStub, type StsStubOptions } from "../stubs/sts-stub.js";
import { startTestDaemon, type TestDaemon, type TestDaemonOptions } from "./daemon.js";
import { tempDir } from "./tmp.js";

export const ROLE_ARN = "arn:aws:iam::111122223333:role/report-reader";
export const EXTERNAL_ID = "broker-ext-7d1f";
export const REGION = "us-east-1";

export interface AwsKey {
  accessKeyId: string;
  secretAccessKey: string;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** A fresh AKIA-shaped key id and a 40-character secret, as IAM issues them. */
export function randomAwsKey(): AwsKey {
  const id = Array.from(randomBytes(16), (b) => BASE32[b % 32]).join("");
  const secret = randomBytes(30).toString("base64").slice(0, 40);
  return { accessKeyId: `AKIA${id}`, secretAccessKey: secret };
}

/** A policy whose aws section uses the stored root key against `endpoint`; `aws` is extra lines under `aws:`. */
export function awsPolicy(task: string, endpoint: string, options: { ttl?: string; maxTtl?: string; aws?: string; roleArn?: string | null } = {}): string {
  const role = options.roleArn === null ? "" : `  role_arn: ${options.roleArn ?? ROLE_ARN}\n`;
  return (
    `task: ${task}\nttl: ${options.ttl ?? "1h"}\nmax_ttl: ${options.maxTtl ?? "2h"}\n` +
    `aws:\n  source: aws-root\n${role}  region: ${REGION}\n  endpoint: ${endpoint}\n${options.aws ?? ""}`
  );
}

export interface AwsFixture {
  stub: StsStub;
  daemon: TestDaemon;
  /** The stored root key (secret: tests check it never shows up). */
  rootKey: AwsKey;
  /** A private HOME with an empty `.aws`, standing in for the operator's. */
  home: string;
  root: string;
  /**
   * The daemon's CLI environment with the operator's AWS settings replaced: HOME and the AWS
   * config/credentials files point at `home`, metadata lookups and retries are off.
   */
  awsEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  audit(): Record<string, unknown>[];
  auditText(): string;
  cleanup(): Promise<void>;
}

/** Variables of the test runner's own environment that must not reach an AWS client. */
function withoutOperatorAws(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (!name.startsWith("AWS_")) out[name] = value;
  return out;
}

export async function startAwsFixture(
  policies: (endpoint: string) => Record<string, string>,
  stubOptions: StsStubOptions = {},
  daemonOptions: Partial<TestDaemonOptions> = {},
): Promise<AwsFixture> {
  const rootKey = randomAwsKey();
  const dir = tempDir("broker-aws-");
  const home = join(dir.path, "home");
  mkdirSync(join(home, ".aws"), { recursive: true });
  const stub = await startStsStub({ region: REGION, roles: { [ROLE_ARN]: { externalId: EXTERNAL_ID } }, ...stubOptions });
  stub.addRootKey(rootKey.accessKeyId, rootKey.secretAccessKey, { userName: "broker-root" });
  const daemon = await startTestDaemon({ ...daemonOptions, policies: policies(stub.url) });
  const set = await daemon.cli(["secret", "set", "aws-root", "--type", "aws"], { input: JSON.stringify(rootKey) });
  if (set.code !== 0) {
    await daemon.cleanup();
    await stub.close();
    throw new Error(`storing the root key failed: ${set.stderr}`);
  }
  const auditPath = join(daemon.stateDir, "audit.jsonl");
  const auditText = () => {
    try {
      return readFileSync(auditPath, "utf8");
    } catch {
      return "";
    }
  };
  return {
    stub,
    daemon,
    rootKey,
    home,
    root: dir.path,
    awsEnv: (extra = {}) => ({
      ...withoutOperatorAws(daemon.env),
      HOME: home,
      AWS_CONFIG_FILE: join(home, ".aws", "config"),
      AWS_SHARED_CREDENTIALS_FILE: join(home, ".aws", "credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_MAX_ATTEMPTS: "1",
      AWS_PAGER: "",
      ...extra,
    }),
    auditText,
    audit: () =>
      auditText()
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async cleanup() {
      await daemon.cleanup();
      await stub.close();
      dir.cleanup();
    },
  };
}

/** `broker-<task>-<first 8 of the session id>`, as docs/interface.md names STS sessions. */
export const sessionName = (task: string, sessionId: string) => `broker-${task}-${sessionId.slice(0, 8)}`;

/** The assumed-role ARN GetCallerIdentity answers for a session of the fixture's role. */
export const assumedRoleArn = (task: string, sessionId: string) =>
  `arn:aws:sts::111122223333:assumed-role/report-reader/${sessionName(task, sessionId)}`;
