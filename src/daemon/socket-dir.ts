/** The socket's directory must be ours alone: 0700, owned by us, not a symlink. */
import { lstatSync, mkdirSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { BrokerError } from "../errors.js";

/** Returns what is wrong with a directory that must be private, or null when it is safe. */
export function privateDirProblem(stats: Stats, uid = process.getuid?.() ?? 0): string | null {
  if (stats.isSymbolicLink()) return "is a symlink";
  if (!stats.isDirectory()) return "is not a directory";
  if (stats.uid !== uid) return `is owned by uid ${stats.uid}, not by you (uid ${uid})`;
  if ((stats.mode & 0o077) !== 0) return `is accessible to group or others (mode ${(stats.mode & 0o777).toString(8)})`;
  return null;
}

/** Creates the socket's directory 0700 if missing; refuses one that others can reach. */
export function ensureSocketDir(socketPath: string): string {
  const dir = dirname(socketPath);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new BrokerError("ERR_UNSAFE_PATH", `cannot create the socket directory ${dir}: ${(error as NodeJS.ErrnoException).code}`, { fix: "choose another --socket path" });
  }
  const problem = privateDirProblem(lstatSync(dir));
  if (problem) {
    throw new BrokerError("ERR_UNSAFE_PATH", `the socket directory ${dir} ${problem}`, {
      fix: `make it private (chmod 700 ${dir}, owned by you) or choose another --socket path`,
    });
  }
  return dir;
}
