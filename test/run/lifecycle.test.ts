import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";
import { isAlive, killLeftovers, killPid, nodeCmd, startCli, startRunFixture, type RunFixture } from "./run-fixture.js";

const MASK = "<concealed by broker>";
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGUSR1: 10, SIGUSR2: 12 } as const;

/** CMD that traps the signals above, says it is ready, and on one prints its name and exits 20+N. */
const TRAP = nodeCmd(
  `for (const [name, n] of Object.entries(${JSON.stringify(SIGNALS)})) process.on(name, () => { console.log('got ' + name); process.exit(20 + n); });
   console.log('ready ' + process.pid); setInterval(() => {}, 1000);`,
);

describe("broker run: exit codes, signals and the session's end", () => {
  let f: RunFixture;
  const orphans: number[] = [];
  beforeAll(async () => {
    f = await startRunFixture();
  });
  afterEach(() => {
    killLeftovers();
    for (const pid of orphans.splice(0)) killPid(pid);
  });
  afterAll(async () => f.cleanup());

  it.each([0, 3, 42])("exits with CMD's exit code %i", async (code) => {
    const result = await f.d.cli(["run", "--task", "agent", "--", ...nodeCmd(`process.exit(${code})`)]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(code);
  });

  it.each([["KILL", 137], ["TERM", 143]] as const)("exits 128+N when CMD is killed by SIG%s on its own", async (signal, expected) => {
    const result = await f.d.cli(["run", "--task", "agent", "--", "sh", "-c", `kill -${signal} $$`]);
    expect(result.code).toBe(expected);
  });

  it.each(Object.entries(SIGNALS))("forwards %s to CMD and returns what CMD exits with", async (name, n) => {
    const run = startCli(f.d, ["run", "--task", "agent", "--", ...TRAP]);
    await run.waitForStdout(/ready \d+/);
    run.child.kill(name as NodeJS.Signals);
    const { code } = await run.exited;
    expect(run.stdout()).toContain(`got ${name}`);
    expect(code).toBe(20 + n);
    expect(await f.d.client.listSessions()).toEqual([]);
  });

  it("exits 143 when a forwarded SIGTERM kills a CMD that does not trap it", async () => {
    const run = startCli(f.d, ["run", "--task", "agent", "--", ...nodeCmd("console.log('ready'); setInterval(() => {}, 1000)")]);
    await run.waitForStdout(/ready/);
    run.child.kill("SIGTERM");
    expect((await run.exited).code).toBe(143);
  });

  it("ends the session and removes its files as soon as CMD exits", async () => {
    const dir = tempDir("broker-run-life-");
    try {
      const run = startCli(f.d, ["run", "--task", "agent", "--sandbox", dir.path, "--", ...nodeCmd("console.log('ready'); process.stdin.once('data', () => process.exit(5))")]);
      await run.waitForStdout(/ready/);
      const [session] = await f.d.client.listSessions();
      expect(session?.task).toBe("agent");
      expect(readdirSync(dir.path).sort()).toEqual(["env", "session.json"]);
      run.child.stdin!.write("go\n");
      expect((await run.exited).code).toBe(5);
      expect(await f.d.client.listSessions()).toEqual([]);
      expect(readdirSync(dir.path)).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });

  it("removes a --sandbox-tmp directory when CMD exits", async () => {
    // Unconfined, CMD is told the host path, which the test then looks for.
    const result = await f.d.cli(["run", "--task", "agent", "--no-sandbox", "--sandbox-tmp", "--", "sh", "-c", 'ls "$BROKER_SANDBOX_DIR"; echo "dir=$BROKER_SANDBOX_DIR"']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("session.json");
    const dir = /dir=(.+)/.exec(result.stdout)?.[1];
    expect(dir).toMatch(/broker-sandbox-/);
    expect(existsSync(dir!)).toBe(false);
  });

  it("ends the session when CMD cannot be started", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--", "/nonexistent/command"]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("cannot run /nonexistent/command");
    expect(await f.d.client.listSessions()).toEqual([]);
  });

  it("ends the session when CMD exits, while still masking what a background child of CMD prints later", async () => {
    // Under /var/tmp: the box sees it (read-only), unlike the host's /tmp.
    const dir = tempDir("broker-run-bg-", "/var/tmp");
    try {
      const go = join(dir.path, "go");
      // The background child holds CMD's stdout open and prints a credential once told to.
      const script = `(i=0; while [ ! -e ${go} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; echo "late $DEMO_TOKEN") & echo started`;
      // Unconfined: in the box, CMD's background children end with it (its PID namespace goes).
      const run = startCli(f.d, ["run", "--task", "agent", "--no-sandbox", "--", "sh", "-c", script]);
      await run.waitForStdout(/started/);
      await waitFor(async () => (await f.d.client.listSessions()).length === 0, 5_000, 10);
      writeFileSync(go, "");
      const { code } = await run.exited;
      expect(code).toBe(0);
      expect(run.stdout()).toBe(`started\nlate ${MASK}\n`);
    } finally {
      dir.cleanup();
    }
  });

  it("ends CMD's background children with CMD in the box", async () => {
    const token = `box-bg-${process.pid}-${Date.now()}`;
    const result = await f.d.cli(["run", "--task", "agent", "--", "sh", "-c", `(exec sleep 30 ${token}) & echo started`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("started\n");
    expect(spawnSync("pgrep", ["-f", token], { encoding: "utf8" }).stdout.trim()).toBe("");
  });

  it("takes the box down with broker run when it is SIGKILLed", async () => {
    const token = `box-kill-${process.pid}-${Date.now()}`;
    const run = startCli(f.d, ["run", "--task", "agent", "--", ...nodeCmd("console.log('ready'); setInterval(() => {}, 1000)", token)]);
    await run.waitForStdout(/ready/);
    const running = () => spawnSync("pgrep", ["-f", token], { encoding: "utf8" }).stdout.trim();
    expect(running()).not.toBe("");
    run.child.kill("SIGKILL");
    await waitFor(() => running() === "", 5_000, 20);
    await waitFor(async () => (await f.d.client.listSessions()).length === 0, 5_000, 10);
  });

  it("ends the session within a second when broker run itself is SIGKILLed, and removes the sandbox files", async () => {
    const dir = tempDir("broker-run-kill-");
    try {
      // Unconfined: no box dies with broker run, so this shows the daemon's side alone.
      const run = startCli(f.d, ["run", "--task", "agent", "--no-sandbox", "--sandbox", dir.path, "--", ...TRAP]);
      const cmdPid = Number((await run.waitForStdout(/ready (\d+)/))[1]);
      orphans.push(cmdPid);
      expect(await f.d.client.listSessions()).toHaveLength(1);
      expect(existsSync(join(dir.path, "env"))).toBe(true);
      const killedAt = Date.now();
      run.child.kill("SIGKILL");
      await waitFor(async () => (await f.d.client.listSessions()).length === 0, 5_000, 10);
      expect(Date.now() - killedAt).toBeLessThan(1_000);
      await waitFor(() => readdirSync(dir.path).length === 0, 2_000, 10);
      expect(isAlive(cmdPid)).toBe(true); // CMD lived on; only its credentials ended
    } finally {
      dir.cleanup();
    }
  });

  it("refuses to nest inside another session unless --nested", async () => {
    const marker = join(f.d.root, "nested-ran");
    const cmd = nodeCmd("require('fs').writeFileSync(process.argv[1], process.env.BROKER_SESSION)", marker);
    const refused = await f.d.cli(["run", "--task", "agent", "--", ...cmd], { env: { BROKER_SESSION: "outer-session" } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("ERR_NESTED_SESSION");
    expect(existsSync(marker)).toBe(false);
    expect((await f.d.client.health()).sessions).toBe(0);

    const nested = await f.d.cli(["run", "--task", "agent", "--nested", "--no-sandbox", "--", ...cmd], { env: { BROKER_SESSION: "outer-session" } });
    expect(nested.code, nested.stderr).toBe(0);
    const inner = readFileSync(marker, "utf8");
    expect(inner).not.toBe("outer-session");
    expect(inner).toMatch(/\S/);
  });
});
