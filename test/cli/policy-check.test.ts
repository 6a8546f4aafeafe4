/** `broker policy check`: upstream URL errors, and warnings (exit code unchanged) for secrets the store lacks. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

describe("broker policy check", () => {
  let home: { path: string; cleanup: () => void };
  let env: NodeJS.ProcessEnv;
  let policies: string;

  beforeAll(async () => {
    home = tempDir("broker-policy-check-");
    policies = join(home.path, "policies");
    mkdirSync(policies);
    env = { PATH: process.env.PATH, HOME: home.path, XDG_STATE_HOME: join(home.path, "state"), BROKER_STORE: "file", BROKER_STORE_PASSPHRASE: "policy-check-pass" };
    writeFileSync(join(policies, "report.yaml"), "task: report\nenv:\n  HELD: { secret: held-secret }\n  LACKING: { secret: lacking-secret }\n");
    const set = await runCli(["secret", "set", "held-secret", "--type", "generic"], { env, input: "v" });
    expect(set.code, set.stderr).toBe(0);
  });
  afterAll(() => home.cleanup());

  it("warns about a secret the store does not hold, and still exits 0", async () => {
    const result = await runCli(["policy", "check", policies], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("1 policy OK");
    expect(result.stdout).toContain(`${join(policies, "report.yaml")}: env.LACKING: warning: secret "lacking-secret" is not in the store (add it: broker secret set lacking-secret --type generic)`);
    expect(result.stdout).not.toContain("held-secret");
  });

  it("lists the warnings in --json", async () => {
    const result = await runCli(["policy", "check", policies, "--json"], { env });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).warnings).toEqual([{ file: join(policies, "report.yaml"), field: "env.LACKING", secret: "lacking-secret", type: "generic" }]);
  });

  it("says the secrets were not checked when the store cannot be opened, and still exits 0", async () => {
    const result = await runCli(["policy", "check", policies], { env: { ...env, BROKER_STORE_PASSPHRASE: undefined } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("1 policy OK");
    expect(result.stderr).toMatch(/secrets not checked: the store could not be opened/);
  });

  it("reports a plain-http upstream off loopback at its line, exit 1", async () => {
    const dir = join(home.path, "bad");
    mkdirSync(dir);
    writeFileSync(join(dir, "deploy.yaml"), "task: deploy\ngithub:\n  app: gh-app\n  owner: acme\n  api_url: http://attacker.example\n  permissions: { contents: read }\n");
    const result = await runCli(["policy", "check", dir], { env });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${join(dir, "deploy.yaml")}:5: github.api_url: must use https`);
  });
});
