/**
 * Issue 15, reproduction 6: the daemon's memory and environment, seen by another process of the
 * same (non-root) user. The daemon runs as a throwaway user with `ulimit -c unlimited`, holds the
 * file-store passphrase (given in its environment) and has read a generic secret; then a second
 * process of that user reads /proc/<pid>/environ, and a SIGABRT asks the kernel for a core file.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient } from "../../src/client/broker-client.js";
import { CLI } from "../helpers/cli.js";
import { waitFor } from "../helpers/daemon.js";
import { canCreateUsers, createThrowawayUser, type ThrowawayUser } from "../helpers/throwaway-user.js";
import { tempDir } from "../helpers/tmp.js";

const PASSPHRASE = "passphrase-4c1e9a7d-in-the-environment";
const SECRET = "generic-secret-8b2f6e0a-in-the-heap";

const coreFiles = (dir: string): string[] => readdirSync(dir).filter((name) => name.startsWith("core"));

describe.skipIf(!canCreateUsers() || process.platform !== "linux")("the daemon's memory, against another process of its user", () => {
  let user: ThrowawayUser;
  let root: { path: string; cleanup: () => void };
  let env: NodeJS.ProcessEnv;
  let daemon: ChildProcess;
  let exited: Promise<NodeJS.Signals | null>;
  const asUser = (argv: string[]) => ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", ...argv];
  const cwd = () => join(root.path, "cwd");

  /** A plain node of the same user, same limits, same cwd: does this machine write a core at all? */
  function coresWorkHere(): boolean {
    const dir = join(root.path, "control");
    const argv = asUser([process.execPath, "-e", "process.abort()"]);
    spawnSync("sh", ["-c", 'ulimit -c unlimited && exec "$@"', "sh", ...argv], { cwd: dir, stdio: "ignore" });
    return coreFiles(dir).length > 0;
  }

  beforeAll(async () => {
    user = createThrowawayUser("brkmem");
    root = tempDir("broker-memory-", "/var/tmp");
    for (const dir of ["policies", "cwd", "control"]) mkdirSync(join(root.path, dir), { mode: 0o700 });
    writeFileSync(join(root.path, "policies", "mem.yaml"), "task: mem\nttl: 5m\nenv:\n  MEM_VALUE: { secret: mem-secret }\n");
    spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, root.path]);
    env = {
      PATH: process.env.PATH,
      HOME: root.path,
      BROKER_SOCKET: join(root.path, "run", "broker.sock"),
      BROKER_STATE_DIR: join(root.path, "state"),
      BROKER_POLICIES: join(root.path, "policies"),
      BROKER_STORE: "file",
      BROKER_STORE_PASSPHRASE: PASSPHRASE,
    };
    const set = asUser([process.execPath, CLI, "secret", "set", "mem-secret", "--type", "generic"]);
    const stored = spawnSync(set[0]!, set.slice(1), { env, input: `${SECRET}\n`, encoding: "utf8" });
    if (stored.status !== 0) throw new Error(`secret set as the user failed: ${stored.stderr}`);

    // `exec` all the way down: the pid we hold is the daemon's own.
    const argv = asUser([process.execPath, CLI, "daemon"]);
    daemon = spawn("sh", ["-c", 'ulimit -c unlimited && exec "$@"', "sh", ...argv], { env, cwd: cwd(), stdio: ["ignore", "ignore", "pipe"] });
    exited = new Promise((resolve) => daemon.once("exit", (_code, signal) => resolve(signal)));
    let stderr = "";
    daemon.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    await waitFor(() => stderr.includes("daemon listening") || undefined, 20_000).catch(() => {
      throw new Error(`the user's daemon did not start:\n${stderr}`);
    });
    // The daemon reads the generic secret into its heap to hand it out.
    const mint = asUser([process.execPath, CLI, "mint", "--task", "mem", "--format", "json"]);
    const minted = spawnSync(mint[0]!, mint.slice(1), { env, encoding: "utf8" });
    if (!minted.stdout.includes(SECRET)) throw new Error(`mint as the user failed: ${minted.stderr}`);
  }, 60_000);

  afterAll(() => {
    daemon?.kill("SIGKILL");
    root?.cleanup();
    user?.remove();
  });

  it("keeps /proc/<pid>/environ (and the passphrase in it) from other processes of the same user", () => {
    expect(readFileSync(`/proc/${daemon.pid}/cmdline`, "utf8")).toContain("daemon"); // the pid is the daemon's
    const read = user.run(["cat", `/proc/${daemon.pid}/environ`]);
    expect(read.stdout).not.toContain(PASSPHRASE);
    expect(read.code).not.toBe(0);
    expect(read.stderr).toMatch(/Permission denied/);
  });

  it("says core dumps are off in /v1/health (what `broker doctor` reports)", async () => {
    expect((await new BrokerClient(env.BROKER_SOCKET!).health()).coreDumps).toBe("off");
  });

  it("leaves no core file holding the secret or the passphrase after SIGABRT with `ulimit -c unlimited`", async () => {
    const cores = coresWorkHere();
    process.kill(daemon.pid!, "SIGABRT");
    expect(await exited).toBe("SIGABRT");
    const found = coreFiles(cwd()).map((name) => readFileSync(join(cwd(), name)));
    for (const core of found) {
      expect(core.includes(SECRET), "the core file holds the generic secret").toBe(false);
      expect(core.includes(PASSPHRASE), "the core file holds the passphrase").toBe(false);
    }
    expect(found).toEqual([]);
    // Where the kernel writes no core for anyone, the lines above prove nothing: say so.
    if (!cores) console.warn("this machine writes no core files at all (see /proc/sys/kernel/core_pattern); only /v1/health's coreDumps was checked");
  }, 30_000);
});
