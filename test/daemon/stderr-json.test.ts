import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { awsPolicy, EXTERNAL_ID, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";

// Issue 16, item 13: whatever prints into the daemon's stderr, a log reader gets JSON lines.
describe("the daemon's stderr", () => {
  let fx: AwsFixture;
  beforeAll(async () => {
    delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    fx = await startAwsFixture((endpoint) => ({ report: awsPolicy("report", endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` }) }));
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it("is JSON lines only, the AWS SDK's Node version warning included, after minting AWS credentials", async () => {
    const minted = await fx.daemon.cli(["mint", "--task", "report", "--format", "json"]);
    expect(minted.code, minted.stderr).toBe(0);
    expect(JSON.parse(minted.stdout).credentials.aws.accessKeyId).toMatch(/^ASIA/);
    expect(await fx.daemon.stop("SIGTERM")).toBe(0);
    const lines = fx.daemon.stderr().split("\n").filter((line) => line !== "");
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    const parsed = lines.map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(parsed.map((l) => l.msg)).toContain("daemon stopped");
    // The SDK warns on Node below 22; there, its text is one "warn" record.
    if (Number(process.versions.node.split(".")[0]) < 22) {
      expect(parsed.filter((l) => l.msg.includes("NodeVersionSupportWarning")).map((l) => l.level)).toEqual(["warn"]);
    }
  });

  it("is JSON lines with the code and the fix when the daemon cannot start: a state dir it cannot use", async () => {
    const tmp = tempDir();
    try {
      // Not a directory: the daemon cannot keep its audit log and journal there.
      const state = join(tmp.path, "state");
      writeFileSync(state, "");
      const env = { ...process.env, BROKER_SOCKET: join(tmp.path, "run", "broker.sock"), BROKER_STATE_DIR: state, BROKER_POLICIES: tmp.path, BROKER_STORE: "file", BROKER_STORE_PASSPHRASE: "x-passphrase" };
      const result = await runCli(["daemon"], { env, timeoutMs: 10_000 });
      expect(result.code).toBe(1);
      const lines = result.stderr.split("\n").filter((line) => line !== "");
      for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
      const failed = lines.map((line) => JSON.parse(line) as Record<string, string>).find((l) => l.level === "error");
      expect(failed?.code).toBe("ERR_STATE_DIR");
      expect(failed?.msg).toContain(state);
      expect(failed?.fix).toContain("--state-dir");
    } finally {
      tmp.cleanup();
    }
  });
});
