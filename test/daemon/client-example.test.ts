import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/sandbox-wrapper.mjs", import.meta.url));

describe("the typed client's example wrapper", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { agent: "task: agent\nenv:\n  API_KEY: { secret: api-key }\n" } });
    await d.cli(["secret", "set", "api-key", "--type", "generic"], { input: "example-api-key-value" });
  });
  afterAll(async () => d.cleanup());

  it("runs a command with the session's files and ends the session when it exits", async () => {
    const run = spawnSync(process.execPath, [EXAMPLE, "agent", "--", "sh", "-c", 'cat "$BROKER_SANDBOX_DIR/env"; echo "dir=$BROKER_SANDBOX_DIR"; exit 4'], { env: d.env, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(4);
    expect(run.stdout).toContain("API_KEY=example-api-key-value");
    const dir = /dir=(\S+)/.exec(run.stdout)![1]!;
    expect(existsSync(dir)).toBe(false);
    expect(await d.client.listSessions()).toEqual([]);
  });
});
