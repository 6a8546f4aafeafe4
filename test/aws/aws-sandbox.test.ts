/**
 * A real agent sandbox: bubblewrap with a private tmpfs HOME, no network, a cleared environment
 * and the session directory bound read-only at /run/broker. The AWS CLI inside finds the
 * session's key through /run/broker/env and the files it points at, and nothing of the operator's.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsPolicy, EXTERNAL_ID, randomAwsKey, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { bwrapWorks, inBrokerSandbox, parseReport as report } from "../helpers/bwrap.js";

// The test brings its own bwrap sandbox, as a wrapper would: broker run itself is --no-sandbox (bwrap does not nest).

const TASK = "report";
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** `key=value` lines the script printed. */
/** `aws configure list`'s access_key row: "<masked value> <type> [location]". */
const ACCESS_KEY_ROW = /^\s*access_key\s+\*+(\w{4})\s+(\S+)\s*(\S*)\s*$/m;

describe.skipIf(!bwrapWorks())("the AWS CLI in a bubblewrap sandbox reads the session's files", () => {
  let f: AwsFixture;
  const operatorKey = randomAwsKey();
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({ [TASK]: awsPolicy(TASK, endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` }) }));
    // The operator's own AWS files, which the sandbox must not see.
    writeFileSync(join(f.home, ".aws", "credentials"), `[default]\naws_access_key_id = ${operatorKey.accessKeyId}\naws_secret_access_key = ${operatorKey.secretAccessKey}\n`);
    writeFileSync(join(f.home, ".aws", "config"), "[default]\nregion = eu-west-3\n");
  });
  afterAll(async () => {
    await f?.cleanup();
  });

  it("`aws configure` shows the session's key from /run/broker alone, and the operator's HOME is not there", async () => {
    const script = `
      echo "home=$HOME"
      echo "home_entries=[$(ls -A "$HOME")]"
      echo "operator_home=[$(ls -A '${f.home}' 2>/dev/null || echo absent)]"
      echo "key_before=[$AWS_ACCESS_KEY_ID]"
      set -a; . /run/broker/env; set +a
      echo "session=$BROKER_SESSION"
      echo "files=$AWS_SHARED_CREDENTIALS_FILE $AWS_CONFIG_FILE"
      echo "get_sha=$(aws configure get aws_access_key_id | tr -d '\\n' | sha256sum | cut -d' ' -f1)"
      echo "region=$(aws configure get region)"
      aws configure list | grep access_key | sed 's/^/with_env: /'
      unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_REGION AWS_DEFAULT_REGION
      aws configure list | grep -E 'access_key|region' | sed 's/^/files_only: /'
      if (: > /run/broker/aws/planted) 2>/dev/null; then echo write=allowed; else echo write=refused; fi
    `;
    const cmd = inBrokerSandbox({ at: "/run/broker" }, ["sh", "-c", script]);
    const result = await f.daemon.cli(["run", "--no-sandbox", "--task", TASK, "--sandbox-tmp", "--sandbox-path", "/run/broker", "--no-env", "--", ...cmd], {
      env: f.awsEnv({ AWS_ACCESS_KEY_ID: operatorKey.accessKeyId, AWS_SECRET_ACCESS_KEY: operatorKey.secretAccessKey }),
      timeoutMs: 30_000,
    });
    expect(result.code, result.stderr).toBe(0);
    const seen = report(result.stdout);
    expect(seen.home).toBe("/home/agent");
    expect(seen.home_entries).toBe("[]");
    expect(seen.operator_home).toBe("[absent]");
    expect(seen.key_before).toBe("[]");
    expect(seen.files).toBe("/run/broker/aws/credentials /run/broker/aws/config");
    expect(seen.write).toBe("refused");

    const minted = String(f.audit().find((e) => e.event === "mint" && e.session === seen.session && e.provider === "aws")?.credential);
    expect(minted).toMatch(/^ASIA/);
    expect(seen.get_sha).toBe(sha256(minted));
    expect(seen.region).toBe("us-east-1");

    const lines = result.stdout.split("\n");
    const withEnv = ACCESS_KEY_ROW.exec(lines.find((l) => l.startsWith("with_env: "))!.slice(10));
    expect(withEnv?.slice(1, 3)).toEqual([minted.slice(-4), "env"]);
    const filesOnly = ACCESS_KEY_ROW.exec(lines.find((l) => l.startsWith("files_only: ") && l.includes("access_key"))!.slice(12));
    expect(filesOnly?.slice(1, 3)).toEqual([minted.slice(-4), "shared-credentials-file"]);
    expect(lines.find((l) => l.startsWith("files_only: ") && l.includes("region"))).toMatch(/us-east-1\s+config-file\s+\/run\/broker\/aws\/config/);
    expect(result.stdout).not.toContain(operatorKey.accessKeyId.slice(-4));
    expect(result.stdout).not.toContain("eu-west-3");
  });
});
