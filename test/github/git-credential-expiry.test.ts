import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";

// The token is revoked when its session ends: git must not be told it lasts longer (issue 16, item 12).
describe("broker git-credential's password_expiry_utc", () => {
  let f: GithubFixture;
  beforeAll(async () => {
    // A 10-minute session, a token of the stand-in's usual hour.
    f = await startGithubFixture((api) => ({ short: githubPolicy("short", api, "  repositories: [reports]\n  permissions: { contents: read }\n") }));
  });
  afterAll(async () => {
    await f?.cleanup();
  });

  const expiryOf = (stdout: string): number => Number(/password_expiry_utc=(\d+)\n/.exec(stdout)?.[1]);

  it("is the session's end when the session ends before its token", async () => {
    const session = await f.daemon.client.openSession({ task: "short" });
    try {
      const tokenEnd = Math.floor(Date.parse(session.credentials!.github!.expiresAt) / 1000);
      const sessionEnd = Math.floor(Date.parse(session.expiresAt) / 1000);
      expect(sessionEnd).toBeLessThan(tokenEnd);
      const input = `protocol=http\nhost=${f.stub.host}\n\n`;
      const inside = await f.daemon.cli(["git-credential", "get"], { env: { BROKER_SESSION: session.id }, input });
      expect(inside.code, inside.stderr).toBe(0);
      expect(expiryOf(inside.stdout)).toBe(sessionEnd);
      // --task reuses this live session (more than 5 minutes left): the same answer.
      const byTask = await f.daemon.cli(["git-credential", "--task", "short", "get"], { input });
      expect(byTask.code, byTask.stderr).toBe(0);
      expect(byTask.stdout).toContain(`password=${session.credentials!.github!.token}\n`);
      expect(expiryOf(byTask.stdout)).toBe(sessionEnd);
    } finally {
      await f.daemon.client.closeSession(session.id);
    }
  });
});
