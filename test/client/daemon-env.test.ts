/**
 * The client never applies a variable from a daemon's answer that a policy could not name:
 * a daemon answering PATH / BASH_ENV / LD_PRELOAD gets `broker run` and `broker mint --format
 * env` refused before anything runs or prints, and the session it opened closed. Policies naming
 * such a variable are refused when they load, at their line.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envNameProblem } from "../../src/policy/env-deny-list.js";
import { checkedSessionEnv } from "../../src/sinks/child-env.js";
import { runCli } from "../helpers/cli.js";
import { fakeSession, startFakeDaemon, type FakeDaemon } from "../helpers/fake-daemon.js";
import { tempDir } from "../helpers/tmp.js";

const HOSTILE = { PATH: "/tmp/elsewhere/bin", BASH_ENV: "/tmp/elsewhere/rc", LD_PRELOAD: "/tmp/elsewhere/x.so", DEMO_TOKEN: "demo-value-0123456789" };

describe("a daemon's answer that sets PATH", () => {
  let root: { path: string; cleanup: () => void };
  const daemons: FakeDaemon[] = [];
  const start = async (name: string, env: Record<string, string>) => {
    const dir = join(root.path, name);
    mkdirSync(dir, { mode: 0o700 });
    const socket = join(dir, "broker.sock");
    const daemon = await startFakeDaemon(dir, socket, fakeSession("report", { env }));
    daemons.push(daemon);
    return { daemon, env: { PATH: process.env.PATH, HOME: root.path, BROKER_SOCKET: socket } };
  };

  beforeAll(() => {
    root = tempDir("broker-daemon-env-");
  });
  afterAll(() => {
    for (const d of daemons) d.stop();
    root?.cleanup();
  });

  it("gets broker run refused before the command starts, and the session closed", async () => {
    const { daemon, env } = await start("run", HOSTILE);
    const r = await runCli(["run", "--no-sandbox", "--task", "report", "--", "sh", "-c", "echo the command ran"], { env });
    expect(r.stdout).not.toContain("the command ran");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("[ERR_UNSAFE_ENV]");
    expect(r.stderr).toContain('"PATH"');
    expect(r.stderr).not.toContain("/tmp/elsewhere");
    expect(daemon.requests()).toContain("DELETE /v1/sessions/0f0e0d0c-0b0a-4908-8706-050403020100?view=1");
  });

  it("gets broker mint --format env refused with nothing printed, and the session closed", async () => {
    const { daemon, env } = await start("mint", HOSTILE);
    for (const format of ["env", "dotenv"]) {
      const r = await runCli(["mint", "--task", "report", "--format", format], { env });
      expect([format, r.code, r.stdout]).toEqual([format, 1, ""]);
      expect(r.stderr).toContain("[ERR_UNSAFE_ENV]");
    }
    expect(daemon.requests().filter((line) => line.startsWith("DELETE "))).toHaveLength(2);
  });

  it("runs the command when the same daemon answers only names a policy may use (control)", async () => {
    const { env } = await start("control", { DEMO_TOKEN: HOSTILE.DEMO_TOKEN });
    const r = await runCli(["run", "--no-sandbox", "--task", "report", "--", "sh", "-c", 'test -n "$DEMO_TOKEN" && echo the command ran'], { env });
    expect([r.code, r.stdout.trim()], r.stderr).toEqual([0, "the command ran"]);
  });

  it("refuses every name of the deny-list, a name that is not one, and a value that is not a string", () => {
    for (const name of ["PATH", "BASH_ENV", "ENV", "LD_PRELOAD", "DYLD_INSERT_LIBRARIES", "NODE_OPTIONS", "PYTHONPATH", "GIT_SSH_COMMAND", "GIT_CONFIG_GLOBAL", "HTTPS_PROXY", "https_proxy", "SSL_CERT_FILE", "HOME", "XDG_CONFIG_HOME", "AWS_ACCESS_KEY_ID", "BROKER_SOCKET", "A=B", "X;rm"]) {
      expect(() => checkedSessionEnv({ [name]: "v" }), name).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_ENV" }));
    }
    expect(() => checkedSessionEnv({ API_KEY: 1 })).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_ENV" }));
    expect(() => checkedSessionEnv(["x"])).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_ENV" }));
    expect(checkedSessionEnv({ OPENAI_API_KEY: "v", GOOGLE_API_KEY: "w", MY_PATH: "x" })).toEqual({ OPENAI_API_KEY: "v", GOOGLE_API_KEY: "w", MY_PATH: "x" });
    expect(checkedSessionEnv(undefined)).toEqual({});
  });
});

describe("a policy whose env: names PATH", () => {
  it("is refused by broker policy check at its line, with the same deny-list", async () => {
    const dir = tempDir("broker-env-policy-");
    try {
      writeFileSync(join(dir.path, "bad.yaml"), "task: bad\nenv:\n  API_KEY: { secret: api }\n  PATH: { secret: api }\n  NODE_OPTIONS: { secret: api }\n");
      writeFileSync(join(dir.path, "good.yaml"), "task: good\nenv:\n  API_KEY: { secret: api }\n");
      const r = await runCli(["policy", "check", dir.path], { env: { PATH: process.env.PATH, HOME: dir.path } });
      expect(r.code).toBe(1);
      const lines = r.stdout.trim().split("\n");
      expect(lines).toEqual([`${join(dir.path, "bad.yaml")}:4: env.PATH: ${envNameProblem("PATH")}`, `${join(dir.path, "bad.yaml")}:5: env.NODE_OPTIONS: ${envNameProblem("NODE_OPTIONS")}`]);
      expect(lines[0]).toContain("changes which programs run");
    } finally {
      dir.cleanup();
    }
  });
});
