/**
 * A sandbox directory alone is enough for git and gh in the box `broker run` makes: the command's
 * environment points at the files as the sandbox `env` file does, git's helper only reads the
 * read-only `git/credentials`, and a GitHub Enterprise Server host gets the variables gh reads
 * for it (GH_ENTERPRISE_TOKEN, GH_HOST). The stand-in's API URL is http://127.0.0.2:PORT, a
 * non-github.com host reached through the session's egress proxy.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks, parseReport } from "../helpers/bwrap.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { tempDir } from "../helpers/tmp.js";
import { ROUTES } from "../stubs/github-stub.js";

const has = (tool: string): boolean => spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
const boxes = bwrapWorks() && has("git");
const sha256 = (s: string): string => createHash("sha256").update(s).digest("hex");

describe.skipIf(!boxes)("broker run --sandbox-tmp: git and gh find the sandbox files with no other setup", () => {
  let f: GithubFixture;
  const work = tempDir("broker-sandbox-env-", "/var/tmp");
  beforeAll(async () => {
    f = await startGithubFixture((api) => ({ "repo-reader": githubPolicy("repo-reader", api, "  repositories: [reports]\n  permissions: { contents: read }\n") }), {
      listenHost: "127.0.0.2",
    });
  });
  afterAll(async () => {
    await f?.cleanup();
    work.cleanup();
  });

  // GIT_TERMINAL_PROMPT=0 only keeps a failing clone from waiting for a prompt.
  const run = (script: string) =>
    f.daemon.cli(["run", "--task", "repo-reader", "--sandbox-tmp", "--pass-env", "GIT_TERMINAL_PROMPT", "--", "sh", "-c", script], {
      cwd: work.path,
      env: { GIT_TERMINAL_PROMPT: "0" },
      timeoutMs: 60_000,
    });

  it("a plain `git clone` works from the read-only /run/broker, with no credential lock error", async () => {
    const requestsBefore = f.stub.requests.length;
    const result = await run(`
      echo "ro=$(touch /run/broker/git/probe 2>/dev/null && echo no || echo yes)"
      git clone -q ${f.stub.url}/acme/reports.git clone 2> /tmp/clone.err
      echo "clone=$?"
      echo "errors=[$(tr '\\n' ' ' < /tmp/clone.err)]"`);
    expect(result.code, result.stderr).toBe(0);
    const seen = parseReport(result.stdout);
    expect(seen.ro).toBe("yes");
    expect(seen.errors).toBe("[]");
    expect(seen.clone).toBe("0");
    expect(readFileSync(join(work.path, "clone", "README.md"), "utf8")).toContain("reports");
    const packs = f.stub.requests.slice(requestsBefore).filter((r) => r.route === ROUTES.gitUploadPack);
    expect(packs.length).toBeGreaterThanOrEqual(1);
    expect(packs.every((r) => r.status === 200 && r.auth === "basic")).toBe(true);
  });

  it("points the command at the sandbox files as the env file does, paths as seen in the box", async () => {
    const result = await run(`
      echo "dir=$BROKER_SANDBOX_DIR"
      echo "gh_config=$GH_CONFIG_DIR"
      echo "git_count=$GIT_CONFIG_COUNT"
      echo "git_key=$GIT_CONFIG_KEY_0"
      echo "git_value=$GIT_CONFIG_VALUE_0"
      echo "git_config=$(git config --get credential.helper)"
      env | sort > /tmp/mine
      (set -a; . /run/broker/env; set +a; env | sort) > /tmp/sourced
      echo "differs=[$(diff /tmp/mine /tmp/sourced | grep '^[<>]' | cut -d= -f1 | tr '\\n' ' ')]"`);
    expect(result.code, result.stderr).toBe(0);
    const seen = parseReport(result.stdout);
    expect(seen.dir).toBe("/run/broker");
    expect(seen.gh_config).toBe("/run/broker/gh");
    expect(seen.git_count).toBe("1");
    expect(seen.git_key).toBe("credential.helper");
    expect(seen.git_value).toBe('!f() { test "$1" != get || git credential-store --file=/run/broker/git/credentials get; }; f');
    expect(seen.git_config).toBe(seen.git_value);
    // Sourcing the env file changes nothing the command was not already given.
    expect(seen.differs).toBe("[]");
  });

  it("a GitHub Enterprise Server host gets GH_ENTERPRISE_TOKEN, GITHUB_ENTERPRISE_TOKEN and GH_HOST, in the environment and the env file", async () => {
    const host = new URL(f.stub.url).host;
    const result = await run(`
      echo "gh_host=$GH_HOST"
      echo "gh_token=$(printf %s "$GH_TOKEN" | sha256sum | cut -d' ' -f1)"
      echo "enterprise=$(printf %s "$GH_ENTERPRISE_TOKEN" | sha256sum | cut -d' ' -f1)"
      echo "github_enterprise=$(printf %s "$GITHUB_ENTERPRISE_TOKEN" | sha256sum | cut -d' ' -f1)"
      echo "file_host=$(sed -n 's/^GH_HOST=//p' /run/broker/env)"
      echo "file_enterprise=$(sed -n 's/^GH_ENTERPRISE_TOKEN=//p' /run/broker/env | tr -d '\\n' | sha256sum | cut -d' ' -f1)"
      echo "file_github_enterprise=$(sed -n 's/^GITHUB_ENTERPRISE_TOKEN=//p' /run/broker/env | tr -d '\\n' | sha256sum | cut -d' ' -f1)"
      echo "hosts=[$(tr '\\n' '|' < /run/broker/gh/hosts.yml | sed 's/oauth_token: [^|]*/oauth_token: T/')]"`);
    expect(result.code, result.stderr).toBe(0);
    const seen = parseReport(result.stdout);
    const token = f.stub.tokens.at(-1)!.token;
    expect(seen.gh_host).toBe(host);
    expect(seen.file_host).toBe(host);
    for (const name of ["gh_token", "enterprise", "github_enterprise", "file_enterprise", "file_github_enterprise"]) expect(seen[name], name).toBe(sha256(token));
    // gh's git_protocol takes https or ssh only: an http host gets neither rather than a false https.
    expect(seen.hosts).toBe(`["${host}":|    oauth_token: T|    user: x-access-token|]`);
  });
});
