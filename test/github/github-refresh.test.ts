import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { tempDir } from "../helpers/tmp.js";

describe("a session that outlives its GitHub token", () => {
  let f: GithubFixture;
  beforeAll(async () => {
    // Tokens live 6 s here (GitHub: 1 h), so the broker refreshes at two thirds, after 4 s.
    f = await startGithubFixture((api) => ({ long: githubPolicy("long", api, "  repositories: [reports]\n  permissions: { contents: read }\n") }), { tokenLifetimeSeconds: 6 });
  });
  afterAll(async () => f.cleanup());

  it("gets a new token before the old one ends, replaces the files and revokes the old token", async () => {
    const sandbox = tempDir();
    try {
      const session = await f.daemon.client.openSession({ task: "long", ttl: 60, sandbox: { dir: sandbox.path } });
      const first = session.credentials!.github!.token;
      const credentialsFile = join(sandbox.path, "git", "credentials");
      expect(readFileSync(credentialsFile, "utf8")).toContain(encodeURIComponent(first));

      const second = await waitFor(async () => {
        const token = (await f.daemon.client.credentials(session.id)).github!.token;
        return token !== first ? token : undefined;
      }, 10_000, 100);
      const firstRecord = f.stub.token(first)!;
      // The new token is served first; files are replaced next, and then the old token is revoked.
      await waitFor(() => firstRecord.revokedAt !== null, 5_000, 20);
      expect(firstRecord.revokedAt!).toBeLessThan(firstRecord.expiresAt);
      expect(readFileSync(credentialsFile, "utf8")).toContain(encodeURIComponent(second));
      expect(f.stub.token(second)!.permissions).toEqual({ contents: "read" });

      await f.daemon.client.closeSession(session.id);
      expect(f.stub.token(second)!.revokedAt).not.toBeNull();
      const audit = readFileSync(join(f.daemon.stateDir, "audit.jsonl"), "utf8");
      expect(audit).toContain('"event":"refresh"');
      expect(audit).not.toContain(first);
      expect(audit).not.toContain(second);
    } finally {
      sandbox.cleanup();
    }
  });
});
