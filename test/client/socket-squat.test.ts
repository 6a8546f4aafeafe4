/**
 * Socket squatting (issue 15, reproduction 1). With no XDG_RUNTIME_DIR, the socket used to be
 * /tmp/broker-$UID/broker.sock, a name any local user can create first. Here a second Unix user
 * does: it makes that directory (0755) and runs a fake daemon on it whose session sets PATH to
 * its own `git` and BASH_ENV to its own script, and hands out its own AWS keys. The victim (a
 * third, non-root user) then runs `broker run`, `broker credential-process` and `broker daemon`.
 * None of them may talk to the squatter, and the victim's own daemon starts where its client
 * looks; pointed at the squatted socket on purpose, the client refuses it and names the owner.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomAwsKey } from "../helpers/aws-fixture.js";
import { CLI } from "../helpers/cli.js";
import { waitFor } from "../helpers/daemon.js";
import { fakeSession, startFakeDaemon, type FakeDaemon } from "../helpers/fake-daemon.js";
import { canCreateUsers, createThrowawayUser, type ThrowawayUser } from "../helpers/throwaway-user.js";
import { tempDir } from "../helpers/tmp.js";

const SQUATTER_KEY = randomAwsKey().accessKeyId;
const RAN_GIT = "ran the squatter's git";
const RAN_BASH_ENV = "ran the squatter's BASH_ENV";
const DEMO_VALUE = "the victim's own demo value 0123456789";

describe.skipIf(!canCreateUsers())("a socket squatted by another user", () => {
  let squatter: ThrowawayUser;
  let victim: ThrowawayUser;
  let lair: { path: string; cleanup: () => void };
  let home: { path: string; cleanup: () => void };
  let squatDir: string;
  let fake: FakeDaemon;
  const daemons: ChildProcess[] = [];

  /** The victim's CLI with a clean environment: ssh/cron-like, no XDG_RUNTIME_DIR. */
  const victimArgv = (args: string[], extra: string[] = []) =>
    ["setpriv", `--reuid=${victim.uid}`, `--regid=${victim.gid}`, "--clear-groups", "--", "env", "-i", `PATH=${process.env.PATH}`, `HOME=${home.path}`, ...extra, process.execPath, CLI, ...args];
  const asVictim = (args: string[], extra: string[] = []) => {
    const argv = victimArgv(args, extra);
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 20_000, cwd: "/" });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const squattedSocket = () => join(squatDir, "broker.sock");

  beforeAll(async () => {
    squatter = createThrowawayUser("brksq");
    victim = createThrowawayUser("brkvi");
    squatDir = `/tmp/broker-${victim.uid}`;
    rmSync(squatDir, { recursive: true, force: true });
    // The squatter's own files: its fake daemon, a `git` and a BASH_ENV script.
    lair = tempDir("broker-squatter-");
    mkdirSync(join(lair.path, "bin"));
    writeFileSync(join(lair.path, "bin", "git"), `#!/bin/sh\necho "${RAN_GIT}"\n`, { mode: 0o755 });
    writeFileSync(join(lair.path, "rc"), `echo "${RAN_BASH_ENV}"\n`, { mode: 0o644 });
    for (const path of [lair.path, join(lair.path, "bin")]) {
      chownSync(path, squatter.uid, squatter.gid);
      chmodSync(path, 0o755);
    }
    const made = squatter.run(["mkdir", "-m", "755", squatDir]);
    expect(made.code, made.stderr).toBe(0);
    const session = fakeSession("report", {
      aws: { accessKeyId: SQUATTER_KEY, secretAccessKey: "squatter-secret", sessionToken: "squatter-token", expiration: new Date(Date.now() + 600_000).toISOString(), region: "us-east-1" },
      env: { PATH: `${join(lair.path, "bin")}:/usr/bin:/bin`, BASH_ENV: join(lair.path, "rc") },
    });
    const asSquatter = ["setpriv", `--reuid=${squatter.uid}`, `--regid=${squatter.gid}`, "--clear-groups", "--"];
    fake = await startFakeDaemon(lair.path, squattedSocket(), session, { mode: "666", asUser: asSquatter });
    // The victim's home, as a login would give it.
    home = tempDir("broker-victim-");
    chownSync(home.path, victim.uid, victim.gid);
  });
  afterAll(() => {
    fake?.stop();
    for (const d of daemons) d.kill("SIGKILL");
    if (squatDir) rmSync(squatDir, { recursive: true, force: true });
    lair?.cleanup();
    home?.cleanup();
    squatter?.remove();
    victim?.remove();
  });

  it("broker run does not run the squatter's git nor its BASH_ENV", () => {
    const r = asVictim(["run", "--no-sandbox", "--task", "report", "--", "bash", "-c", "git status"]);
    expect(r.stdout + r.stderr).not.toContain(RAN_GIT);
    expect(r.stdout + r.stderr).not.toContain(RAN_BASH_ENV);
    expect(r.code, r.stderr).toBe(4); // ERR_DAEMON_UNREACHABLE: no daemon of the victim's is running
    expect(r.stderr).toContain(join(home.path, ".local/state/broker/run/broker.sock"));
    expect(fake.requests()).toEqual([]);
  });

  it("broker credential-process does not return the squatter's AWS keys", () => {
    const r = asVictim(["credential-process", "--task", "report"]);
    expect(r.stdout).not.toContain(SQUATTER_KEY);
    expect(r.code, r.stderr).toBe(4);
    expect(fake.requests()).toEqual([]);
  });

  it("refuses the squatted socket when pointed at it, naming the path, the owner and the fix", () => {
    for (const args of [["run", "--no-sandbox", "--task", "report", "--", "bash", "-c", "git status"], ["credential-process", "--task", "report"]]) {
      const r = asVictim(args, [`BROKER_SOCKET=${squattedSocket()}`]);
      expect(r.stdout + r.stderr).not.toContain(RAN_GIT);
      expect(r.stdout).not.toContain(SQUATTER_KEY);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain("[ERR_SOCKET_UNTRUSTED]");
      expect(r.stderr).toContain(squatDir);
      expect(r.stderr).toContain(`uid ${squatter.uid} (${squatter.name})`);
      expect(r.stderr).toContain(`rm -r ${squatDir}`);
    }
    expect(fake.requests()).toEqual([]);
  });

  it("broker daemon starts where the victim's own client looks, and serves it", async () => {
    const policies = join(home.path, ".config", "broker", "policies");
    mkdirSync(policies, { recursive: true });
    writeFileSync(join(policies, "report.yaml"), "task: report\nttl: 5m\nenv:\n  DEMO_TOKEN: { secret: demo }\n");
    const store = ["BROKER_STORE=file", "BROKER_STORE_PASSPHRASE=the victim's test passphrase"];
    spawnSync("chown", ["-R", `${victim.uid}:${victim.gid}`, home.path]);
    const set = victimArgv(["secret", "set", "demo", "--type", "generic"], store);
    const stored = spawnSync(set[0]!, set.slice(1), { input: DEMO_VALUE, encoding: "utf8", cwd: "/" });
    expect(stored.status, stored.stderr).toBe(0);
    const argv = victimArgv(["daemon"], store);
    const daemon = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"], cwd: "/" });
    daemons.push(daemon);
    let stderr = "";
    daemon.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<never>((_, reject) => daemon.once("exit", (code) => reject(new Error(`the victim's daemon exited with ${code}:\n${stderr}`))));
    await Promise.race([waitFor(() => stderr.includes("daemon listening") || undefined, 20_000), exited]);
    expect(stderr).toContain(join(home.path, ".local/state/broker/run/broker.sock"));
    const r = asVictim(["run", "--no-sandbox", "--task", "report", "--", "sh", "-c", `test "$DEMO_TOKEN" = "${DEMO_VALUE}" && echo served by its own daemon`]);
    expect([r.code, r.stdout.trim()], r.stderr).toEqual([0, "served by its own daemon"]);
    expect(fake.requests()).toEqual([]);
    daemon.kill("SIGTERM");
  });

  it("broker daemon pointed at the squatted directory refuses with the owner and the fix, not a crash", () => {
    const r = asVictim(["daemon", "--store", "file"], [`BROKER_SOCKET=${squattedSocket()}`, "BROKER_STORE_PASSPHRASE=the victim's test passphrase"]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('"code":"ERR_UNSAFE_PATH"');
    expect(r.stderr).toContain(`the socket directory ${squatDir} is owned by uid ${squatter.uid} (${squatter.name})`);
    expect(r.stderr).toContain(`rm -r ${squatDir}`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(squattedSocket())).toBe(true); // the squatter's socket, untouched
  });
});
