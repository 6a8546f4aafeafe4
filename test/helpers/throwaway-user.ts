/**
 * A throwaway system user for tests that need "someone else" on the machine (needs root, as CI
 * runs): created with useradd (no home, no login shell), removed with userdel by `remove()`.
 * `run` executes a command as that user with setpriv (no supplementary groups).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";

export interface ThrowawayUser {
  name: string;
  uid: number;
  gid: number;
  /** Runs argv as the user; returns its exit code and output. */
  run(argv: string[], options?: { timeoutMs?: number }): { code: number | null; stdout: string; stderr: string };
  remove(): void;
}

export const canCreateUsers = (): boolean => process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v useradd && command -v setpriv"], { stdio: "ignore" }).status === 0;

export function createThrowawayUser(prefix = "brkt"): ThrowawayUser {
  const name = `${prefix}${randomBytes(4).toString("hex")}`;
  const add = spawnSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name], { encoding: "utf8" });
  if (add.status !== 0) throw new Error(`useradd ${name} failed: ${add.stderr}`);
  const id = (flag: string) => Number(spawnSync("id", [flag, name], { encoding: "utf8" }).stdout.trim());
  const uid = id("-u");
  const gid = id("-g");
  let removed = false;
  return {
    name,
    uid,
    gid,
    run(argv, options = {}) {
      const result = spawnSync("setpriv", [`--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--", ...argv], { encoding: "utf8", timeout: options.timeoutMs ?? 15_000, cwd: "/" });
      return { code: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    remove() {
      if (removed) return;
      removed = true;
      spawnSync("userdel", [name], { stdio: "ignore" });
      spawnSync("groupdel", [name], { stdio: "ignore" }); // left behind on some distributions
    },
  };
}

/** Whether a user of that name still exists. */
export const userExists = (name: string): boolean => spawnSync("id", [name], { stdio: "ignore" }).status === 0;
