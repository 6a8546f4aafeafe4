/**
 * A long-running SDK client inside `broker run --aws-endpoint` outlives the credentials STS
 * issued: the daemon refreshes them at two thirds of their life, the endpoint serves the new
 * ones, and the sandbox file is replaced in one step.
 */
import { spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assumedRoleArn, awsPolicy, EXTERNAL_ID, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { CLI } from "../helpers/cli.js";
import { waitFor } from "../helpers/daemon.js";

// Unconfined (--no-sandbox): the SDK reaches the STS stand-in on the host's loopback.

const TASK = "long-job";
/** STS's answer lives this long, whatever was asked; the broker refreshes at two thirds. */
const LIFETIME_S = 6;
/** How long the child keeps calling: one and a half lifetimes. */
const RUN_MS = 9_000;
const REPO_PACKAGE = fileURLToPath(new URL("../../package.json", import.meta.url));

/** The child: GetCallerIdentity in a loop with the SDK's default credential chain, one line per call. */
const CHILD = `
const { createRequire } = require("node:module");
const { STSClient, GetCallerIdentityCommand } = createRequire(process.argv[2])("@aws-sdk/client-sts");
const [endpoint, runMs] = [process.argv[3], Number(process.argv[4])];
console.log("start " + process.env.BROKER_SESSION + " " + process.env.BROKER_SANDBOX_DIR);
const client = new STSClient({ region: process.env.AWS_REGION, endpoint, maxAttempts: 1 });
(async () => {
  const until = Date.now() + runMs;
  let ok = 0, failed = 0;
  while (Date.now() < until) {
    try {
      const answer = await client.send(new GetCallerIdentityCommand({}));
      ok += 1;
      console.log("ok " + answer.Arn);
    } catch (error) {
      failed += 1;
      console.log("fail " + error.name + ": " + error.message);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  console.log("done ok=" + ok + " failed=" + failed);
  process.exitCode = failed === 0 ? 0 : 1;
})();
`;

const CREDENTIALS_FILE = /^\[default\]\naws_access_key_id = (ASIA\w+)\naws_secret_access_key = (\S+)\naws_session_token = (\S+)\n$/;

describe("AWS credentials refreshed under a running command", () => {
  let f: AwsFixture;
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({ [TASK]: awsPolicy(TASK, endpoint, { ttl: "30m", aws: `  external_id: ${EXTERNAL_ID}\n` }) }), {
      credentialLifetimeSeconds: LIFETIME_S,
    });
  });
  afterAll(async () => {
    await f?.cleanup();
  });

  it("an SDK client keeps working across a refresh; the endpoint and the sandbox file carry the new key", { timeout: 30_000 }, async () => {
    const script = join(f.root, "caller-loop.cjs");
    writeFileSync(script, CHILD);
    const child = spawn(process.execPath, [CLI, "run", "--no-sandbox", "--task", TASK, "--aws-endpoint", "--sandbox-tmp", "--", process.execPath, script, REPO_PACKAGE, f.stub.url, String(RUN_MS)], {
      env: f.awsEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));

    const [, session = "", dir = ""] = (await waitFor(() => /^start (\S+) (\S+)$/m.exec(stdout) ?? undefined, 10_000)) as RegExpExecArray;
    const file = join(dir, "aws", "credentials");

    // Read the file over and over while the refresh happens: every read must be whole.
    const reads: string[] = [];
    const torn: string[] = [];
    const reader = setInterval(() => {
      try {
        const text = readFileSync(file, "utf8");
        if (CREDENTIALS_FILE.test(text)) reads.push(text);
        else torn.push(text);
      } catch (error) {
        torn.push(String((error as NodeJS.ErrnoException).code));
      }
    }, 3);
    const before = { text: readFileSync(file, "utf8"), ino: statSync(file).ino };
    const refreshed = await waitFor(() => f.audit().find((e) => e.event === "refresh" && e.session === session && e.outcome === "ok"), 15_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = { text: readFileSync(file, "utf8"), ino: statSync(file).ino, mode: statSync(file).mode & 0o777 };
    clearInterval(reader);

    const code = await exited;
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    const calls = stdout.split("\n").filter((l) => l.startsWith("ok ") || l.startsWith("fail "));
    expect(calls.filter((l) => l.startsWith("fail "))).toEqual([]);
    expect(new Set(calls)).toEqual(new Set([`ok ${assumedRoleArn(TASK, session)}`]));
    expect(calls.length).toBeGreaterThanOrEqual(10);

    // The refresh replaced the key, and calls were signed by the old and the new one.
    const minted = f.audit().find((e) => e.event === "mint" && e.session === session && e.provider === "aws")!;
    expect(refreshed).toMatchObject({ provider: "aws", replaces: minted.credential });
    expect(refreshed.credential).not.toBe(minted.credential);
    const signers = [...new Set(f.stub.calls.filter((c) => c.action === "GetCallerIdentity" && c.outcome === "ok").map((c) => c.accessKeyId))];
    expect(signers.slice(0, 2)).toEqual([minted.credential, refreshed.credential]);
    expect(f.stub.calls.filter((c) => c.action === "GetCallerIdentity" && c.outcome !== "ok")).toEqual([]);

    // The sandbox file: a new inode (renamed into place), whole at every read, now holding the new key.
    expect(CREDENTIALS_FILE.exec(before.text)?.[1]).toBe(minted.credential);
    expect(CREDENTIALS_FILE.exec(after.text)?.[1]).toBe(refreshed.credential);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode).toBe(0o600);
    expect(torn).toEqual([]);
    expect(new Set(reads.map((t) => CREDENTIALS_FILE.exec(t)?.[1])).size).toBeGreaterThanOrEqual(2);

    // No secret of either generation reached the daemon's log or the audit file.
    const secrets = [f.rootKey.secretAccessKey, ...new Set(reads.flatMap((t) => CREDENTIALS_FILE.exec(t)!.slice(2, 4)))];
    for (const secret of secrets) {
      expect(f.daemon.stderr().includes(secret)).toBe(false);
      expect(f.auditText().includes(secret)).toBe(false);
    }
  });
});
