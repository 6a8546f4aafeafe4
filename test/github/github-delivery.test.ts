import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { waitFor } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { isolatedGitEnv, ROUTES, runGit } from "../stubs/github-stub.js";
import { tempDir } from "../helpers/tmp.js";

// The runs that reach the stand-in test delivery to git on the host's loopback: unconfined (--no-sandbox). The box's own run of git,
// through the egress proxy and the session socket, is test/run/box-clients.test.ts.

const policies = (api: string) => ({
  "repo-reader": githubPolicy("repo-reader", api, "  repositories: [reports]\n  permissions: { contents: read }\n"),
  "repo-writer": githubPolicy("repo-writer", api, "  repositories: [reports]\n  permissions: { contents: write }\n"),
});

describe("GitHub installation tokens delivered to git, revoked when the run ends", () => {
  let f: GithubFixture;
  let work: { path: string; cleanup: () => void };
  beforeAll(async () => {
    f = await startGithubFixture(policies);
    work = tempDir("broker-git-work-");
  });
  afterAll(async () => {
    await f.cleanup();
    work.cleanup();
  });

  const gitEnv = () => ({ ...f.daemon.env, ...isolatedGitEnv(f.gitHome), BROKER_SOCKET: f.daemon.socket, GIT_TERMINAL_PROMPT: "0" });
  /** broker run passes an allowlist only: git's isolation from the machine's config, and no prompt, on purpose. */
  const passGitEnv = ["--pass-env", "GIT_CONFIG_NOSYSTEM", "--pass-env", "GIT_CONFIG_GLOBAL", "--pass-env", "GIT_TERMINAL_PROMPT"];
  const repoUrl = (repo: string) => `${f.stub.url}/acme/${repo}.git`;
  const helperFlag = `credential.helper=!${process.execPath} ${CLI} git-credential`;

  it("clones through `broker git-credential` inside broker run, and revokes the token at the end", async () => {
    const dest = join(work.path, "clone-helper");
    const result = await f.daemon.cli(["run", "--no-sandbox", ...passGitEnv, "--task", "repo-reader", "--keep-socket", "--", "git", "-c", "credential.helper=", "-c", helperFlag, "clone", "-q", repoUrl("reports"), dest], { env: gitEnv() });
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(dest, "README.md"), "utf8")).toContain("reports");
    const used = f.stub.tokens.at(-1)!;
    expect(used.permissions).toEqual({ contents: "read" });
    expect(used.requestedRepositories).toEqual(["reports"]);
    expect(used.revokedAt).not.toBeNull();
  });

  it("a read-only task cannot push, and a repository outside the task cannot be cloned", async () => {
    const script = `set -e
      cd "${work.path}"
      git -c credential.helper= -c "credential.helper=store --file=$BROKER_SANDBOX_DIR/git/credentials" clone -q ${repoUrl("reports")} ro
      cd ro && echo change > change.txt && git add change.txt && git -c user.name=a -c user.email=a@example.invalid commit -qm change
      if git -c credential.helper= -c "credential.helper=store --file=$BROKER_SANDBOX_DIR/git/credentials" push -q origin HEAD:main 2>/dev/null; then echo PUSHED; else echo PUSH-REFUSED; fi
      cd .. && if git -c credential.helper= -c "credential.helper=store --file=$BROKER_SANDBOX_DIR/git/credentials" clone -q ${repoUrl("website")} web 2>/dev/null; then echo CLONED-OTHER; else echo OTHER-REFUSED; fi`;
    const result = await f.daemon.cli(["run", "--no-sandbox", ...passGitEnv, "--task", "repo-reader", "--sandbox-tmp", "--", "sh", "-c", script], { env: gitEnv() });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("PUSH-REFUSED");
    expect(result.stdout).toContain("OTHER-REFUSED");
  });

  it("a write task pushes through the sandbox's git/credentials file", async () => {
    const dir = join(work.path, "rw");
    const script = `set -e
      git -c credential.helper= -c "credential.helper=store --file=$BROKER_SANDBOX_DIR/git/credentials" clone -q ${repoUrl("reports")} "${dir}"
      cd "${dir}" && echo pushed > pushed.txt && git add pushed.txt && git -c user.name=a -c user.email=a@example.invalid commit -qm pushed
      git -c credential.helper= -c "credential.helper=store --file=$BROKER_SANDBOX_DIR/git/credentials" push -q origin HEAD:main
      echo "$BROKER_SANDBOX_DIR"`;
    const result = await f.daemon.cli(["run", "--no-sandbox", ...passGitEnv, "--task", "repo-writer", "--sandbox-tmp", "--", "sh", "-c", script], { env: gitEnv() });
    expect(result.code, result.stderr).toBe(0);
    const sandboxDir = result.stdout.trim().split("\n").at(-1)!;
    expect(existsSync(sandboxDir)).toBe(false);
    const token = f.stub.tokens.at(-1)!;
    expect(token.permissions).toEqual({ contents: "write" });
    expect(token.revokedAt).not.toBeNull();
    expect(f.stub.requestsTo(ROUTES.gitReceivePack).at(-1)?.status).toBe(200);
    const remote = await runGit(["ls-tree", "--name-only", "main"], { cwd: join(f.root, "repos", "acme", "reports.git"), home: f.gitHome });
    expect(remote.stdout).toContain("pushed.txt");
  });

  it("answers git only for the session's GitHub host", async () => {
    const session = await f.daemon.client.openSession({ task: "repo-reader" });
    try {
      const env = { ...f.daemon.env, BROKER_SESSION: session.id };
      const mine = await f.daemon.cli(["git-credential", "get"], { env, input: `protocol=http\nhost=${f.stub.host}\n\n` });
      expect(mine.stdout).toContain("username=x-access-token\n");
      expect(mine.stdout).toContain(`password=${session.credentials!.github!.token}\n`);
      expect(mine.stdout).toMatch(/password_expiry_utc=\d{10}\n/);
      const other = await f.daemon.cli(["git-credential", "get"], { env, input: "protocol=https\nhost=github.com\n\n" });
      expect(other.code).toBe(0);
      expect(other.stdout).toBe("");
    } finally {
      await f.daemon.client.closeSession(session.id);
    }
  });

  it.each([
    ["exits 0", "exit 0", 0],
    ["exits non-zero", "exit 7", 7],
  ])("revokes the token when the command %s", async (_name, body, code) => {
    const before = f.stub.tokens.length;
    // Confined (the default): the command needs nothing of the host's.
    const result = await f.daemon.cli(["run", "--task", "repo-reader", "--", "sh", "-c", body]);
    expect(result.code).toBe(code);
    expect(f.stub.tokens.length).toBe(before + 1);
    expect(f.stub.tokens.at(-1)!.revokedAt).not.toBeNull();
  });

  it("revokes the token within a second when broker run itself is SIGKILLed", async () => {
    const sandbox = tempDir();
    try {
      const child = spawn(process.execPath, [CLI, "run", "--task", "repo-reader", "--sandbox", sandbox.path, "--", "sh", "-c", "echo ready; sleep 30"], { env: f.daemon.env, stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      const token = f.stub.tokens.at(-1)!;
      expect(token.revokedAt).toBeNull();
      expect(existsSync(join(sandbox.path, "git", "credentials"))).toBe(true);
      const killedAt = Date.now();
      child.kill("SIGKILL");
      await waitFor(() => token.revokedAt !== null, 5_000, 10);
      expect(Date.now() - killedAt).toBeLessThan(1_000);
      await waitFor(() => !existsSync(join(sandbox.path, "git", "credentials")), 2_000, 10);
      expect(existsSync(join(sandbox.path, "gh", "hosts.yml"))).toBe(false);
    } finally {
      sandbox.cleanup();
    }
  });
});
