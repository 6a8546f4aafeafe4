import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";

const WRAPPER = fileURLToPath(new URL("../../docker/broker-docker-run", import.meta.url));
const SECRET = "docker-wrapper-secret-value-0123456789";

// No Docker engine runs here, so `docker` is the one thing stood in for: a script that reports
// the argv and environment it was given, which is exactly what the real CLI would act on.
describe("docker/broker-docker-run", () => {
  let d: TestDaemon;
  const bin = tempDir("broker-fake-bin-");
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { agent: "task: agent\nenv:\n  API_KEY: { secret: api-key }\n" } });
    await d.cli(["secret", "set", "api-key", "--type", "generic"], { input: SECRET });
    writeFileSync(join(bin.path, "broker"), `#!/bin/sh\nexec "${process.execPath}" -- "${CLI}" "$@"\n`);
    writeFileSync(join(bin.path, "docker"), '#!/bin/sh\nprintf "ARGV %s\\n" "$*"\nprintf "API_KEY %s\\n" "$API_KEY"\nexit 3\n');
    for (const f of ["broker", "docker"]) chmodSync(join(bin.path, f), 0o755);
  });
  afterAll(async () => {
    await d.cleanup();
    bin.cleanup();
  });

  it("mounts the session dir read-only, passes the env by name only, and ends the session with the container", async () => {
    const run = spawnSync(WRAPPER, ["--task", "agent", "--", "agent-image", "claude", "-p", "hi"], { env: { ...d.env, PATH: `${bin.path}:${process.env.PATH}` }, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(3);
    const argv = /^ARGV (.*)$/m.exec(run.stdout)![1]!;
    expect(argv).toMatch(/--mount type=bind,src=\S+,dst=\/run\/broker,readonly/);
    expect(argv).toContain("-e API_KEY");
    expect(argv).toContain("-e BROKER_SESSION");
    expect(argv).toMatch(/agent-image claude -p hi$/);
    expect(argv).not.toContain(SECRET);
    // The value reached docker's environment (masked in this piped output, which proves it was there).
    expect(run.stdout).toContain("API_KEY <concealed by broker>");
    const hostDir = /src=(\S+?),dst/.exec(argv)![1]!;
    expect(existsSync(hostDir)).toBe(false);
    expect(await d.client.listSessions()).toEqual([]);
  });
});
