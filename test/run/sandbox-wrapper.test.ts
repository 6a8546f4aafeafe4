import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks, parseReport } from "../helpers/bwrap.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";
import { PLANTED_AWS, startStandIn, type StandIn } from "./box-fixture.js";
import { randomValue } from "./run-fixture.js";

const WRAPPER = fileURLToPath(new URL("../../examples/sandbox-wrapper.mjs", import.meta.url));

function runWrapper(args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [WRAPPER, ...args], { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

// The real wrapper, the real bwrap and socat, a real daemon: what the boxed command can reach is
// probed from inside. The daemon lives under /var/tmp, which the box does not make private as it
// does /tmp, so only the wrapper's own hiding keeps its main socket out of reach.
describe.skipIf(!bwrapWorks())("examples/sandbox-wrapper.mjs", () => {
  let d: TestDaemon;
  let listed: StandIn;
  let unlisted: StandIn;
  const work = tempDir("broker-wrapper-work-", "/var/tmp");
  const secret = randomValue("wrapper-demo");
  beforeAll(async () => {
    // Stand-ins first, so the policy can name the listed one's port.
    listed = await startStandIn("127.0.0.2", "listed stand-in\n");
    unlisted = await startStandIn("127.0.0.3", "unlisted stand-in\n");
    d = await startTestDaemon({
      parent: "/var/tmp",
      policies: { wrapped: `task: wrapped\nttl: 5m\nenv:\n  DEMO_TOKEN: { secret: wrapper-demo }\negress:\n  - "127.0.0.2:${listed.port}"\n` },
    });
    const set = await d.cli(["secret", "set", "wrapper-demo", "--type", "generic"], { input: `${secret}\n` });
    expect(set.code, set.stderr).toBe(0);
    // The operator's own long-lived credentials, which the box must not show.
    mkdirSync(join(d.env.HOME!, ".aws"), { recursive: true });
    writeFileSync(join(d.env.HOME!, ".aws", "credentials"), PLANTED_AWS);
  });
  afterAll(async () => {
    await Promise.all([listed, unlisted].map((s) => new Promise((resolve) => s?.server.close(resolve))));
    await d?.cleanup();
    work.cleanup();
  });

  it("gives the box the session's socket and the proxy, and nothing else of the broker or the network", async () => {
    // One line per probe: key=HTTP status (000 = no connection) or the body's telling part.
    const probe = [
      'main=$(curl -s -o /dev/null -w "%{http_code}" --unix-socket "$0" http://x/v1/sessions)',
      'echo "main=$main"',
      'echo "socket=$BROKER_SOCKET"',
      'echo "creds=$(curl -s --unix-socket "$BROKER_SOCKET" http://x/v1/session/credentials)"',
      'echo "scope=$(curl -s -w " %{http_code}" --unix-socket "$BROKER_SOCKET" http://x/v1/sessions)"',
      `echo "direct=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 --noproxy "*" http://127.0.0.2:${listed.port}/)"`,
      `echo "proxied=$(curl -s --max-time 10 http://127.0.0.2:${listed.port}/)"`,
      `echo "unlisted=$(curl -s -o /dev/null -w "%{http_code}" --max-time 10 http://127.0.0.3:${unlisted.port}/)"`,
      'echo "envfile=$(test -r /run/broker/env && echo yes)"',
      'echo "demo=$DEMO_TOKEN"',
      'echo "sandboxdir=$BROKER_SANDBOX_DIR"',
      'echo "home_aws=$(ls -A "$HOME/.aws" 2>/dev/null | wc -l)"',
      'echo "leaked=$(env | grep -c -e DBUS_ -e OPERATOR_SECRET)"',
      "exit 7",
    ].join("\n");
    // The wrapper's own environment is the operator's: it points at the main socket.
    const env = { ...d.env, DBUS_SESSION_BUS_ADDRESS: "unix:path=/var/tmp/operator-bus", OPERATOR_SECRET: "operator-own" };
    // Not spawnSync: the stand-ins answer from this process's event loop.
    const run = await runWrapper(["wrapped", "--", "sh", "-c", probe, d.socket], { cwd: work.path, env });
    expect(run.status, run.stderr + run.stdout).toBe(7);
    const report = parseReport(run.stdout);
    expect(report.main).toBe("000"); // the main socket is not there at all
    expect(report.socket).toBe("/run/broker-session/session.sock");
    expect(report.creds).toContain(secret);
    expect(report.scope).toContain("ERR_SESSION_SCOPE");
    expect(report.scope).toMatch(/ 403$/);
    expect(report.direct).toBe("000"); // no network but loopback
    expect(report.proxied).toBe("listed stand-in");
    expect(report.unlisted).toBe("403");
    expect(report.envfile).toBe("yes");
    // The env file's variables are in the box's environment, BROKER_* still the wrapper's own.
    expect(report.demo).toBe(secret);
    expect(report.sandboxdir).toBe("/run/broker");
    expect(report.home_aws).toBe("0");
    expect(report.leaked).toBe("0");
    expect(listed.seen).toEqual([`GET 127.0.0.2:${listed.port} /`]);
    expect(unlisted.seen).toEqual([]);
    expect(await d.client.listSessions()).toEqual([]);
  });
});
