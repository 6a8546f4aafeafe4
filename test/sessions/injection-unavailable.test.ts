/**
 * A policy that asks for injection (`inject:`) while the daemon cannot inject yet: the session is
 * refused before anything is minted, so the real value never reaches the command that its policy
 * says must not hold it. A task without `inject:` next to it is served as before.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { randomValue } from "../run/run-fixture.js";

describe("a task whose policy asks for injection", () => {
  let d: TestDaemon;
  const real = randomValue("sk-real");
  beforeAll(async () => {
    const entry = `    secret: openai\n`;
    d = await startTestDaemon({
      policies: {
        injected: `task: injected\nttl: 5m\nenv:\n  OPENAI_API_KEY:\n${entry}    inject: { host: api.openai.com, header: Authorization, format: "Bearer {value}" }\n`,
        plain: `task: plain\nttl: 5m\nenv:\n  OPENAI_API_KEY:\n${entry}`,
      },
    });
    const set = await d.cli(["secret", "set", "openai", "--type", "generic"], { input: `${real}\n` });
    expect(set.code, set.stderr).toBe(0);
  }, 30_000);
  afterAll(async () => {
    await d?.cleanup();
  });

  it("passes broker policy check, which validates the inject: keys", async () => {
    const checked = await d.cli(["policy", "check"]);
    expect(checked.code, checked.stderr + checked.stdout).toBe(0);
  });

  it("is refused at mint and at run with ERR_POLICY_DENIED, and the real value is never handed out", async () => {
    const minted = await d.cli(["mint", "--task", "injected"]);
    expect(minted.code).toBe(3);
    expect(minted.stderr).toContain("ERR_POLICY_DENIED");
    expect(minted.stderr).toContain("remove inject: from injected.yaml");
    const ran = await d.cli(["run", "--task", "injected", "--no-sandbox", "--", "sh", "-c", "echo got=$OPENAI_API_KEY"]);
    expect(ran.code).toBe(3);
    expect(ran.stdout).not.toContain("got=");
    for (const out of [minted.stdout, minted.stderr, ran.stdout, ran.stderr]) expect(out).not.toContain(real);
    expect(await d.client.listSessions()).toEqual([]);
  });

  it("leaves a task without inject: served as before", async () => {
    const minted = await d.cli(["mint", "--task", "plain"]);
    expect(minted.code, minted.stderr).toBe(0);
    const view = JSON.parse(minted.stdout) as { id: string; credentials: { env: Record<string, string> } };
    expect(view.credentials.env.OPENAI_API_KEY).toBe(real);
    await d.cli(["revoke", view.id]);
  });
});
