/**
 * GH_TOKEN in `broker run`'s environment cannot be refreshed there. A refresh must not revoke the
 * token the command holds (it lives to its own expiry, or to the session's end), and a session
 * longer than that token is said at open, or refused when the policy says so.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";

/** Tokens live 9 s here (GitHub: 1 h): the broker refreshes at two thirds, after 6 s. */
const LIFETIME_S = 9;
/** The command runs past the refresh and ends before the first token's expiry. */
const RUN_MS = 7_500;
const BODY = "  repositories: [reports]\n  permissions: { contents: read }\n";

/** The child: calls the API with GH_TOKEN every 200 ms and prints each status. */
const CHILD = `
const [api, runMs] = [process.argv[2], Number(process.argv[3])];
(async () => {
  const until = Date.now() + runMs;
  while (Date.now() < until) {
    const answer = await fetch(api + "/installation/repositories", { headers: { authorization: "token " + process.env.GH_TOKEN } });
    console.log("status " + answer.status + " " + (Date.now() - until + runMs));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
})();
`;

describe("a GitHub token in a command's environment", () => {
  let f: GithubFixture;
  beforeAll(async () => {
    f = await startGithubFixture((api) => ({
      long: githubPolicy("long", api, BODY),
      strict: `${githubPolicy("strict", api, BODY)}on_env_expiry: refuse\n`,
    }), { tokenLifetimeSeconds: LIFETIME_S });
  });
  afterAll(async () => f?.cleanup());

  it("keeps working across a refresh: the token the command holds is revoked only when the session ends", { timeout: 30_000 }, async () => {
    const script = join(f.root, "api-loop.cjs");
    writeFileSync(script, CHILD);
    const before = f.stub.tokens.length;
    const child = spawn(process.execPath, [CLI, "run", "--no-sandbox", "--task", "long", "--ttl", "60", "--", process.execPath, script, f.stub.url, String(RUN_MS)], {
      env: f.daemon.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.once("close", (c) => resolve(c)));
    expect(code, `${stdout}\n${stderr}`).toBe(0);

    const tokens = f.stub.tokens.slice(before);
    expect(tokens.length, "the daemon refreshed while the command ran").toBeGreaterThanOrEqual(2);
    const [first, second] = [tokens[0]!, tokens[1]!];
    // Every call the command made with its GH_TOKEN succeeded, also those after the refresh.
    const statuses = stdout.split("\n").filter((l) => l.startsWith("status "));
    expect(statuses.length).toBeGreaterThanOrEqual(20);
    expect(statuses.filter((l) => !l.startsWith("status 200 "))).toEqual([]);
    const lastCallAt = Number(statuses.at(-1)!.split(" ")[2]);
    expect(lastCallAt).toBeGreaterThan((second.issuedAt - first.issuedAt) + 200);
    // The first token outlived the refresh and was revoked at the session's end, before its own expiry.
    expect(first.revokedAt).not.toBeNull();
    expect(first.revokedAt!).toBeGreaterThan(second.issuedAt + 1000);
    expect(first.revokedAt!).toBeLessThan(first.expiresAt);
    expect(second.revokedAt).not.toBeNull();

    // Said at open: the session (60 s) outlives the token in the environment (9 s).
    expect(stderr).toMatch(/^broker: warning: GH_TOKEN\/GITHUB_TOKEN in the environment expire in \d+s, \d+s before the session ends; .*--sandbox-tmp.*--ttl \d+s or less \(on_env_expiry: refuse in long\.yaml refuses such sessions\)$/m);
  });

  it("a token refreshed away from files and helpers only (--no-env) is revoked at the refresh, as before", { timeout: 30_000 }, async () => {
    const before = f.stub.tokens.length;
    const result = await f.daemon.cli(["run", "--no-sandbox", "--no-env", "--sandbox-tmp", "--task", "long", "--ttl", "60", "--", "sleep", "7.5"], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain("warning: GH_TOKEN");
    const [first, second] = f.stub.tokens.slice(before) as [(typeof f.stub.tokens)[number], (typeof f.stub.tokens)[number]];
    expect(second).toBeDefined();
    expect(first.revokedAt!).toBeLessThan(second.issuedAt + 1000);
  });

  it("on_env_expiry: refuse refuses such a session with exit 3, and revokes the token it minted", async () => {
    const before = f.stub.tokens.length;
    const result = await f.daemon.cli(["run", "--no-sandbox", "--task", "strict", "--ttl", "60", "--", "true"]);
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toContain("ERR_ENV_EXPIRY");
    expect(result.stderr).toMatch(/GH_TOKEN\/GITHUB_TOKEN in the environment expire in \d+s/);
    const minted = f.stub.tokens.slice(before);
    expect(minted.length).toBe(1);
    expect(minted[0]!.revokedAt).not.toBeNull();
    expect((await f.daemon.client.listSessions()).filter((s) => s.task === "strict")).toEqual([]);
    // A TTL within the token's life, or the refreshed files instead of the environment, is fine.
    expect((await f.daemon.cli(["run", "--no-sandbox", "--task", "strict", "--ttl", "5", "--", "true"])).code).toBe(0);
    expect((await f.daemon.cli(["run", "--no-sandbox", "--no-env", "--sandbox-tmp", "--task", "strict", "--ttl", "60", "--", "true"])).code).toBe(0);
  });

  it("broker mint --format env warns of the same; --format json does not", async () => {
    const env = await f.daemon.cli(["mint", "--task", "long", "--ttl", "60", "--format", "env"]);
    expect(env.code, env.stderr).toBe(0);
    expect(env.stderr).toMatch(/^broker: warning: GH_TOKEN\/GITHUB_TOKEN in the environment expire in \d+s/m);
    const json = await f.daemon.cli(["mint", "--task", "long", "--ttl", "60", "--format", "json"]);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stderr).toBe("");
    await f.daemon.cli(["revoke", "--all"]);
  });
});
