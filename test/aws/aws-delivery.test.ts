/**
 * The real AWS CLI, run through each way the broker delivers AWS credentials, asks the STS
 * stand-in who it is: the answer must be the role session named after the broker session.
 */
import { execFile, execSync, spawnSync } from "node:child_process";
import { existsSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assumedRoleArn, awsPolicy, EXTERNAL_ID, randomAwsKey, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { CLI } from "../helpers/cli.js";

// These runs test delivery to the AWS CLI on the host's loopback: unconfined (--no-sandbox). The box's own
// run of the same clients, through the egress proxy, is test/run/box-clients.test.ts.

const TASK = "report";
/** One live session at most: what a session kept per `aws` command would run into. */
const CP_TASK = "cp-report";
const policies = (endpoint: string) => ({
  [TASK]: awsPolicy(TASK, endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` }),
  [CP_TASK]: `max_sessions: 1\n${awsPolicy(CP_TASK, endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` })}`,
});

/** The operator's own credentials, which must never reach the command. */
const decoy = randomAwsKey();
const OPERATOR_AWS = { AWS_ACCESS_KEY_ID: decoy.accessKeyId, AWS_SECRET_ACCESS_KEY: decoy.secretAccessKey, AWS_PROFILE: "operator" };

/** A Python that has boto3 (Debian's python3-boto3), or null. */
const BOTO3_PYTHON = ["python3", "/usr/bin/python3"].find((py) => spawnSync(py, ["-c", "import boto3"], { stdio: "ignore" }).status === 0) ?? null;
const BOTO3_SCRIPT = 'import boto3, json, sys; print(json.dumps({"Arn": boto3.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1").get_caller_identity()["Arn"]}))';

/** The CLI on PATH (here v1), and Debian's v2 too when it is installed apart from it. */
const AWS_CLIS = ["aws", ...(existsSync("/usr/bin/aws") && realpathSync(execSync("command -v aws", { encoding: "utf8", shell: "/bin/sh" }).trim()) !== "/usr/bin/aws" ? ["/usr/bin/aws"] : [])];

interface Identity {
  session: string;
  arn: string;
  lines: Map<string, string>;
}

/** Reads `name=value` lines the script printed, then the CLI's JSON answer. */
function parseIdentity(stdout: string): Identity {
  const lines = new Map<string, string>();
  const jsonStart = stdout.indexOf("{");
  for (const line of stdout.slice(0, jsonStart < 0 ? undefined : jsonStart).split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) lines.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const answer = JSON.parse(stdout.slice(jsonStart)) as { Arn: string };
  return { session: lines.get("session") ?? "", arn: answer.Arn, lines };
}

describe("the AWS CLI gets the session's role through every delivery", () => {
  let f: AwsFixture;
  beforeAll(async () => {
    f = await startAwsFixture(policies);
  });
  afterAll(async () => {
    await f?.cleanup();
  });

  const aws = (cli = "aws") => `${cli} --endpoint-url ${f.stub.url} --output json sts get-caller-identity`;
  /** awsEnv's guards (no metadata lookups, no retries, no pager) are not on broker run's allowlist: passed on purpose. */
  const passGuards = ["AWS_EC2_METADATA_DISABLED", "AWS_MAX_ATTEMPTS", "AWS_PAGER"].flatMap((name) => ["--pass-env", name]);
  const runScript = (flags: string[], script: string) =>
    f.daemon.cli(["run", "--no-sandbox", ...passGuards, "--task", TASK, ...flags, "--", "sh", "-c", `echo "session=$BROKER_SESSION"\n${script}`], { env: f.awsEnv(OPERATOR_AWS) });

  /** The key that signed the last GetCallerIdentity, and the key the broker minted for `session`. */
  function signerAndMinted(session: string): { signer: string | null | undefined; minted: unknown } {
    const signer = f.stub.calls.filter((c) => c.action === "GetCallerIdentity").at(-1)?.accessKeyId;
    const minted = f.audit().find((e) => e.event === "mint" && e.session === session && e.provider === "aws")?.credential;
    return { signer, minted };
  }

  it("env: `broker run -- aws` signs with the session's keys, not the operator's", async () => {
    const result = await runScript([], `echo "expiration=$AWS_CREDENTIAL_EXPIRATION"\nexec ${aws()}`);
    expect(result.code, result.stderr).toBe(0);
    const id = parseIdentity(result.stdout);
    expect(id.arn).toBe(assumedRoleArn(TASK, id.session));
    expect(Date.parse(id.lines.get("expiration") ?? "")).toBeGreaterThan(Date.now());
    const { signer, minted } = signerAndMinted(id.session);
    expect(signer).toMatch(/^ASIA/);
    expect(signer).toBe(minted);
  });

  it("sandbox files alone (--no-env): the CLI reads aws/credentials and aws/config", async () => {
    const script =
      'echo "envkey=${AWS_ACCESS_KEY_ID:-none}" "envregion=${AWS_REGION:-none}"\n' +
      `AWS_SHARED_CREDENTIALS_FILE="$BROKER_SANDBOX_DIR/aws/credentials" AWS_CONFIG_FILE="$BROKER_SANDBOX_DIR/aws/config" exec ${aws()}`;
    const result = await runScript(["--sandbox-tmp", "--no-env"], script);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("envkey=none envregion=none");
    const id = parseIdentity(result.stdout);
    expect(id.arn).toBe(assumedRoleArn(TASK, id.session));
    const { signer, minted } = signerAndMinted(id.session);
    expect(signer).toBe(minted);
  });

  it.each(AWS_CLIS)("--aws-endpoint: the CLI (%s) fetches the keys from the container-credentials endpoint", async (cli) => {
    const script =
      'echo "envkey=${AWS_ACCESS_KEY_ID:-none}" "uri=${AWS_CONTAINER_CREDENTIALS_FULL_URI%%/aws-credentials/*}"\n' +
      '[ -n "$AWS_CONTAINER_AUTHORIZATION_TOKEN" ] && echo "token=set"\n' +
      `exec ${aws(cli)}`;
    const result = await runScript(["--aws-endpoint"], script);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^envkey=none uri=http:\/\/127\.0\.0\.1:\d+$/m);
    expect(result.stdout).toContain("token=set");
    const id = parseIdentity(result.stdout);
    expect(id.arn).toBe(assumedRoleArn(TASK, id.session));
    const { signer, minted } = signerAndMinted(id.session);
    expect(signer).toBe(minted);
  });

  // boto3 (botocore), a second client with its own credential chain: each delivery it can read.
  it.skipIf(BOTO3_PYTHON === null).each([
    ["env", []],
    ["sandbox files alone (--sandbox-tmp --no-env, the variables broker run sets)", ["--sandbox-tmp", "--no-env"]],
    ["--aws-endpoint", ["--aws-endpoint"]],
  ])("boto3 gets the session's role: %s", async (_, flags) => {
    const script = `echo "envkey=\${AWS_ACCESS_KEY_ID:-none}"\nexec ${BOTO3_PYTHON} -c '${BOTO3_SCRIPT}' ${f.stub.url}`;
    const result = await runScript(flags as string[], script);
    expect(result.code, result.stderr).toBe(0);
    if (flags.length > 0) expect(result.stdout).toContain("envkey=none");
    const id = parseIdentity(result.stdout);
    expect(id.arn).toBe(assumedRoleArn(TASK, id.session));
    const { signer, minted } = signerAndMinted(id.session);
    expect(signer).toMatch(/^ASIA/);
    expect(signer).toBe(minted);
  });

  function credentialProcessConfig(name: string, task = TASK): string {
    const path = join(f.root, name);
    writeFileSync(path, `[default]\nregion = us-east-1\ncredential_process = ${process.execPath} ${CLI} credential-process --task ${task}\n`);
    return path;
  }

  function runAwsCli(env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile("aws", ["--endpoint-url", f.stub.url, "--output", "json", "sts", "get-caller-identity"], { env, timeout: 20_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
      );
    });
  }

  it("credential_process in an AWS config file, outside any session, uses a session it ends at once", async () => {
    const config = credentialProcessConfig("config-plain", CP_TASK);
    const opened = new Set(f.audit().filter((e) => e.event === "session.open").map((e) => e.session));
    // Three `aws` commands against a task allowing one live session: none may be refused.
    for (let i = 0; i < 3; i += 1) {
      const result = await runAwsCli(f.awsEnv({ AWS_CONFIG_FILE: config }));
      expect(result.code, result.stderr).toBe(0);
      const session = f.audit().find((e) => e.event === "session.open" && !opened.has(e.session))!.session as string;
      opened.add(session);
      expect((JSON.parse(result.stdout) as { Arn: string }).Arn).toBe(assumedRoleArn(CP_TASK, session));
      const { signer, minted } = signerAndMinted(session);
      expect(signer).toBe(minted);
      // STS keeps the credentials valid until their expiry; the session itself is gone.
      const revoked = f.audit().find((e) => e.event === "revoke" && e.session === session);
      expect(revoked).toMatchObject({ outcome: "not-revocable", credential: minted });
      expect(Date.parse(String(revoked!.validUntil))).toBeGreaterThan(Date.now() + 10 * 60_000);
    }
    expect(await f.daemon.client.listSessions()).toEqual([]);
  });

  it("credential_process inside `broker run` answers with the run's session instead of opening another", async () => {
    const config = credentialProcessConfig("config-in-session");
    const assumesBefore = f.stub.calls.filter((c) => c.action === "AssumeRole").length;
    // AWS_CONFIG_FILE is not on the allowlist: passed on purpose.
    const result = await f.daemon.cli(["run", "--no-sandbox", "--task", TASK, "--no-env", "--keep-socket", "--pass-env", "AWS_CONFIG_FILE", ...passGuards, "--", "sh", "-c", `echo "session=$BROKER_SESSION"\nexec ${aws()}`], {
      env: f.awsEnv({ AWS_CONFIG_FILE: config }),
    });
    expect(result.code, result.stderr).toBe(0);
    const id = parseIdentity(result.stdout);
    expect(id.arn).toBe(assumedRoleArn(TASK, id.session));
    expect(f.stub.calls.filter((c) => c.action === "AssumeRole").length).toBe(assumesBefore + 1);
    expect(await f.daemon.client.listSessions()).toEqual([]);
  });
});
