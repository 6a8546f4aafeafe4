/**
 * Real clients inside the box, through its egress proxy and its session socket, against stand-ins
 * on 127.0.0.2 (the policies' own endpoint / api_url hosts, so no `egress:` key is needed): git
 * clone and push through `broker git-credential`, and the AWS CLI through every delivery.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsPolicy, EXTERNAL_ID, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { bwrapWorks } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { tempDir } from "../helpers/tmp.js";
import { runGit } from "../stubs/github-stub.js";

const hasAws = spawnSync("sh", ["-c", "command -v aws"]).status === 0;
const SH = (script: string) => ["sh", "-c", script];

describe.skipIf(!bwrapWorks())("git in the box", () => {
  let f: GithubFixture;
  const work = tempDir("broker-box-git-", "/var/tmp");
  beforeAll(async () => {
    f = await startGithubFixture(
      (api) => ({
        "repo-writer": githubPolicy("repo-writer", api, "  repositories: [reports]\n  permissions: { contents: write }\n"),
      }),
      { listenHost: "127.0.0.2" },
    );
  });
  afterAll(async () => {
    await f.cleanup();
    work.cleanup();
  });

  it("clones and pushes through the proxy, with the token from broker git-credential on the session socket", async () => {
    const git = `git -c credential.helper= -c 'credential.helper=!${process.execPath} ${CLI} git-credential'`;
    const script = `set -e
      export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0
      curl -sS --max-time 5 --noproxy '*' ${f.stub.url}/ >/dev/null 2>&1 && echo DIRECT-REACHED || echo direct-refused
      ${git} clone -q ${f.stub.url}/acme/reports.git reports
      cd reports && echo from-the-box > box.txt && git add box.txt
      git -c user.name=a -c user.email=a@example.invalid commit -qm "from the box"
      ${git} push -q origin HEAD:main && echo pushed`;
    const result = await f.daemon.cli(["run", "--task", "repo-writer", "--", ...SH(script)], { cwd: work.path, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("direct-refused");
    expect(result.stdout).toContain("pushed");
    const remote = await runGit(["ls-tree", "--name-only", "main"], { cwd: join(f.root, "repos", "acme", "reports.git"), home: f.gitHome });
    expect(remote.stdout).toContain("box.txt");
    expect(f.stub.tokens.at(-1)!.revokedAt).not.toBeNull();
  });
});

describe.skipIf(!bwrapWorks() || !hasAws)("the AWS CLI in the box", () => {
  let f: AwsFixture;
  const work = tempDir("broker-box-aws-", "/var/tmp");
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({ "box-aws": awsPolicy("box-aws", endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` }) }), { listenHost: "127.0.0.2" });
    writeFileSync(join(work.path, "aws-config"), `[default]\nregion = us-east-1\ncredential_process = ${process.execPath} ${CLI} credential-process\n`);
  });
  afterAll(async () => {
    await f.cleanup();
    work.cleanup();
  });

  const aws = () => `aws --endpoint-url ${f.stub.url} --output text --query Arn sts get-caller-identity`;
  const identities = () => f.stub.calls.filter((c) => c.action === "GetCallerIdentity").length;

  it.each([
    ["the environment", [], () => aws()],
    ["the sandbox files", ["--sandbox-tmp", "--no-env"], () => `set -a; . "$BROKER_SANDBOX_DIR/env"; set +a; ${aws()}`],
    ["credential_process over the session socket", ["--no-env", "--pass-env", "AWS_CONFIG_FILE"], () => aws()],
    ["--aws-endpoint, bridged into the box", ["--aws-endpoint"], () => `echo "uri=$AWS_CONTAINER_CREDENTIALS_FULL_URI" >&2; ${aws()}`],
  ] as const)("reaches STS through the proxy with %s", async (_name, flags, script) => {
    const before = identities();
    const result = await f.daemon.cli(["run", "--task", "box-aws", ...flags, "--", ...SH(script())], {
      cwd: work.path,
      env: { AWS_CONFIG_FILE: join(work.path, "aws-config"), AWS_EC2_METADATA_DISABLED: "true" },
      timeoutMs: 60_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/assumed-role\/report-reader\/broker-box-aws-/);
    expect(identities()).toBe(before + 1);
    if ((flags as readonly string[]).includes("--aws-endpoint")) expect(result.stderr).toMatch(/uri=http:\/\/127\.0\.0\.1:\d+\//);
  });
});
