/**
 * issue 15 item 7, masking against an STS stand-in: `aws s3 presign` output carries the session
 * token URL-encoded, and a refreshed credential is masked from the first moment the command can
 * read it (the daemon hands it out only after broker run's masker took it in; no poll).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsPolicy, EXTERNAL_ID, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { runCli } from "../helpers/cli.js";
import { waitFor } from "../helpers/daemon.js";

const MASK = "<concealed by broker>";
const TASK = "long-job";
/** STS's answers live this long; the broker refreshes at two thirds. */
const LIFETIME_S = 6;

/** CMD: watches the sandbox's credentials file and prints it the moment it changes, then exits. */
const WATCHER = `
const fs = require("node:fs");
const file = process.env.BROKER_SANDBOX_DIR + "/aws/credentials";
const first = fs.readFileSync(file, "utf8");
const look = () => {
  let now;
  try { now = fs.readFileSync(file, "utf8"); } catch { return setTimeout(look, 1); }
  if (now === first) return setTimeout(look, 1);
  process.stdout.write("changed\\n" + now);
};
look();
`;

describe("broker run: masking AWS credentials", () => {
  let f: AwsFixture;
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({ [TASK]: awsPolicy(TASK, endpoint, { ttl: "30m", aws: `  external_id: ${EXTERNAL_ID}\n` }) }), { credentialLifetimeSeconds: LIFETIME_S });
  });
  afterAll(async () => f?.cleanup());

  it("conceals the URL-encoded session token in `aws s3 presign` output", { timeout: 30_000 }, async () => {
    const result = await runCli(["run", "--task", TASK, "--no-sandbox", "--", "sh", "-c", 'printf "%s\\n" "$AWS_SESSION_TOKEN"; aws s3 presign s3://bucket/key'], { env: f.awsEnv() });
    expect(result.code, result.stderr).toBe(0);
    const [token = "", url = ""] = result.stdout.trim().split("\n");
    expect(token).toBe(MASK);
    expect(url.toLowerCase()).toContain(`x-amz-security-token=${MASK}`);
    // The token the command really had, as the audit log's mint line names its key: nowhere whole or encoded.
    const mint = f.audit().find((e) => e.event === "mint" && e.provider === "aws" && e.outcome === "ok")!;
    expect(url).not.toContain(String(mint.credential));
    expect(url).not.toMatch(/x-amz-security-token=[^&<]/i);
  });

  it("conceals a refreshed credential that the command reads the moment it is written", { timeout: 30_000 }, async () => {
    const script = join(f.root, "watch-credentials.cjs");
    writeFileSync(script, WATCHER);
    const result = await runCli(["run", "--task", TASK, "--no-sandbox", "--sandbox-tmp", "--", process.execPath, script], { env: f.awsEnv(), timeoutMs: 25_000 });
    expect(result.code, result.stderr).toBe(0);
    // The refresh's audit line follows the file the command saw change: on a loaded machine it may land after the run's exit.
    const refreshed = await waitFor(() => f.audit().find((e) => e.event === "refresh" && e.outcome === "ok"), 5_000);
    expect(result.stdout).toBe(
      `changed\n[default]\naws_access_key_id = ${MASK}\naws_secret_access_key = ${MASK}\naws_session_token = ${MASK}\n`,
    );
    expect(result.stdout).not.toContain(String(refreshed!.credential));
  });
});
