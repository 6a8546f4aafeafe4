/**
 * issue 16 items 5 and 6, through the real CLI and daemon against the GitHub stand-in:
 * - a format or helper the task cannot serve is refused before a session opens (no session, no
 *   GitHub token left live until the TTL);
 * - an explicit --task wins over an inherited BROKER_SESSION of another task, and an error on
 *   that path names the inherited session.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";

describe("wrong sessions and leaked sessions", () => {
  let f: GithubFixture;
  beforeAll(async () => {
    f = await startGithubFixture((api) => ({
      reader: githubPolicy("reader", api, "  repositories: [reports]\n  permissions: { contents: read }\n"),
      web: githubPolicy("web", api, "  repositories: [website]\n  permissions: { contents: read }\n"),
      plain: "task: plain\nenv:\n  PLAIN_KEY: { secret: plain-key }\n",
    }));
    const set = await f.daemon.cli(["secret", "set", "plain-key", "--type", "generic"], { input: "plain-value-0123456789\n" });
    if (set.code !== 0) throw new Error(set.stderr);
  });
  afterAll(async () => f?.cleanup());

  const live = async () => (await f.daemon.client.listSessions()).map((s) => s.task).sort();
  const revokeAll = () => f.daemon.cli(["revoke", "--all"]);
  /** Tokens the stand-in issued that nobody revoked. */
  const unrevoked = () => f.stub.tokens.filter((t) => t.revokedAt === null).length;

  it("`mint --format credential-process` for a task without AWS opens no session and mints no token", async () => {
    await revokeAll();
    const result = await f.daemon.cli(["mint", "--task", "reader", "--format", "credential-process"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('task "reader" gives no AWS credentials [ERR_POLICY_DENIED]');
    expect(await live()).toEqual([]);
    expect(unrevoked()).toBe(0);
  });

  it("`credential-process --task` for a task without AWS is refused before a GitHub token is minted", async () => {
    await revokeAll();
    const issued = f.stub.tokens.length;
    const result = await f.daemon.cli(["credential-process", "--task", "reader"]);
    expect(result.code).toBe(3);
    expect(await live()).toEqual([]);
    expect(f.stub.tokens.length).toBe(issued);
  });

  it("`git-credential --task` for a task without GitHub opens no session", async () => {
    await revokeAll();
    const result = await f.daemon.cli(["git-credential", "--task", "plain", "get"], { input: `protocol=http\nhost=${f.stub.host}\n\n` });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('task "plain" gives no GitHub token [ERR_POLICY_DENIED]');
    expect(await live()).toEqual([]);
  });

  it("`git-credential --task reader` answers for reader, not for an inherited session of web", async () => {
    await revokeAll();
    const web = JSON.parse((await f.daemon.cli(["mint", "--task", "web"])).stdout) as { id: string; credentials: { github: { token: string } } };
    const result = await f.daemon.cli(["git-credential", "--task", "reader", "get"], { env: { BROKER_SESSION: web.id, BROKER_TASK: "web" }, input: `protocol=http\nhost=${f.stub.host}\n\n` });
    expect(result.code, result.stderr).toBe(0);
    const password = /^password=(.+)$/m.exec(result.stdout)?.[1];
    expect(password).toBeDefined();
    expect(password).not.toBe(web.credentials.github.token);
    expect(await live()).toEqual(["reader", "web"]);
    const reader = (await f.daemon.client.listSessions()).find((s) => s.task === "reader")!;
    expect((await f.daemon.client.credentials(reader.id)).github?.token).toBe(password);
  });

  it("uses the inherited session when --task names its own task", async () => {
    await revokeAll();
    const web = JSON.parse((await f.daemon.cli(["mint", "--task", "web"])).stdout) as { id: string; credentials: { github: { token: string } } };
    const result = await f.daemon.cli(["git-credential", "--task", "web", "get"], { env: { BROKER_SESSION: web.id }, input: `protocol=http\nhost=${f.stub.host}\n\n` });
    expect(result.code, result.stderr).toBe(0);
    expect(/^password=(.+)$/m.exec(result.stdout)?.[1]).toBe(web.credentials.github.token);
    expect(await live()).toEqual(["web"]);
  });

  it("names the inherited session of another task when --task's own path fails", async () => {
    await revokeAll();
    const web = JSON.parse((await f.daemon.cli(["mint", "--task", "web"])).stdout) as { id: string };
    const result = await f.daemon.cli(["credential-process", "--task", "reader"], { env: { BROKER_SESSION: web.id, BROKER_TASK: "web" } });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`task "reader" gives no AWS credentials (BROKER_SESSION is session ${web.id} of task "web", not "reader", so it was not used)`);
    expect(await live()).toEqual(["web"]);
  });
});
