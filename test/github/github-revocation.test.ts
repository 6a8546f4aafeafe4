import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { ROUTES } from "../stubs/github-stub.js";

const policies = (api: string) => ({ "repo-reader": githubPolicy("repo-reader", api, "  repositories: [reports]\n  permissions: { contents: read }\n") });
const audit = (f: GithubFixture) => readFileSync(join(f.daemon.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

describe("GitHub token revocation", () => {
  const fixtures: GithubFixture[] = [];
  afterEach(async () => {
    for (const f of fixtures.splice(0)) await f.cleanup();
  });
  async function fixture(options = {}) {
    const f = await startGithubFixture(policies, options);
    fixtures.push(f);
    return f;
  }

  it("retries a revocation the API refused twice, and ends revoked", async () => {
    const f = await fixture();
    const session = await f.daemon.client.openSession({ task: "repo-reader" });
    f.stub.fail(ROUTES.revokeToken, { status: 500 }, 2);
    await f.daemon.client.closeSession(session.id);
    const token = f.stub.token(session.credentials!.github!.token)!;
    expect(token.revokedAt).not.toBeNull();
    expect(f.stub.requestsTo(ROUTES.revokeToken).map((r) => r.status)).toEqual([500, 500, 204]);
    expect(audit(f).filter((l) => l.session === session.id && l.event === "revoke").map((l) => l.outcome)).toEqual(["revoked"]);
  });

  it("keeps retrying in the background while the API is down, until the token is revoked", async () => {
    const f = await fixture();
    const session = await f.daemon.client.openSession({ task: "repo-reader" });
    f.stub.fail(ROUTES.revokeToken, { status: 503 }, 5);
    await f.daemon.client.closeSession(session.id);
    const token = f.stub.token(session.credentials!.github!.token)!;
    await waitFor(() => token.revokedAt !== null, 15_000, 50);
    // The audit line follows the stand-in's answer; wait for it rather than race it.
    const outcomes = await waitFor(() => {
      const seen = audit(f).filter((l) => l.session === session.id && l.event === "revoke").map((l) => l.outcome);
      return seen.at(-1) === "revoked" ? seen : undefined;
    }, 5_000, 20);
    expect(outcomes[0]).toBe("failed");
    expect(outcomes.at(-1)).toBe("revoked");
  });

  it("revokes every token a SIGKILLed daemon left, before answering a new request", async () => {
    const f = await fixture();
    const sessions = await Promise.all([1, 2, 3, 4].map(() => f.daemon.client.openSession({ task: "repo-reader" })));
    const tokens = sessions.map((s) => f.stub.token(s.credentials!.github!.token)!);
    await f.daemon.stop("SIGKILL");
    expect(tokens.every((t) => t.revokedAt === null)).toBe(true);
    const started = Date.now();
    await f.daemon.restart();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(tokens.every((t) => t.revokedAt !== null)).toBe(true);
    const recovered = audit(f).filter((l) => l.event === "recover" && l.outcome === "revoked").map((l) => l.session);
    expect(recovered.sort()).toEqual(sessions.map((s) => s.id).sort());
    // The journal holds no token in clear.
    const journal = readFileSync(join(f.daemon.stateDir, "journal.jsonl"), "utf8");
    for (const s of sessions) expect(journal).not.toContain(s.credentials!.github!.token);
  });

  it("says to check the clock when GitHub refuses the app's JWT for skew", async () => {
    const f = await fixture({ clockSkewSeconds: 3_600, sendDate: false });
    const result = await f.daemon.cli(["mint", "--task", "repo-reader"]);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain("ERR_UPSTREAM_GITHUB");
    expect(result.stderr).toMatch(/clock/i);
    expect(await f.daemon.client.listSessions()).toEqual([]);
  });

  it("denies a request wider than the policy without calling GitHub", async () => {
    const f = await fixture();
    const before = f.stub.tokens.length;
    const wider = await f.daemon.cli(["mint", "--task", "repo-reader", "--permissions", "contents=write"]);
    expect(wider.code).toBe(3);
    expect(wider.stderr).toContain("ERR_POLICY_DENIED");
    const other = await f.daemon.cli(["mint", "--task", "repo-reader", "--repositories", "website"]);
    expect(other.code).toBe(3);
    expect(f.stub.tokens.length).toBe(before);
  });
});
