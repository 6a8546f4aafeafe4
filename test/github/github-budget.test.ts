/** A refresh is counted against mints_per_hour but never refused: the session keeps working, the next open meets the wall. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";

describe("a budget and a refreshing session", () => {
  let f: GithubFixture;
  beforeAll(async () => {
    // Tokens live 6 s here, so the broker refreshes after 4 s.
    f = await startGithubFixture((api) => ({ tight: `${githubPolicy("tight", api, "  repositories: [reports]\n  permissions: { contents: read }\n")}budget: { mints_per_hour: 2 }\n` }), { tokenLifetimeSeconds: 6 });
  });
  afterAll(async () => f.cleanup());

  it("counts a refresh, so the next open meets the wall, and goes on refreshing past the budget", async () => {
    const session = await f.daemon.client.openSession({ task: "tight", ttl: 60 });
    const first = session.credentials!.github!.token;
    // One mint spent of two: another open would still fit here.
    await waitFor(async () => ((await f.daemon.client.credentials(session.id)).github!.token !== first ? true : undefined), 10_000, 100);
    const refused = await f.daemon.cli(["mint", "--task", "tight"]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("task tight is over its budget of 2 credentials minted per hour");
    // The budget is spent, yet the running session gets its next token all the same.
    const second = (await f.daemon.client.credentials(session.id)).github!.token;
    await waitFor(async () => ((await f.daemon.client.credentials(session.id)).github!.token !== second ? true : undefined), 10_000, 100);
    await f.daemon.client.closeSession(session.id);
    const audit = readFileSync(join(f.daemon.stateDir, "audit.jsonl"), "utf8");
    expect(audit).toContain('"event":"refresh","task":"tight"');
    expect(audit).toContain('"event":"budget.deny","task":"tight"');
  });
});
