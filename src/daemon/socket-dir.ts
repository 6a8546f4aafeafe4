/** The socket's directory must be ours alone: 0700, owned by us, not a symlink. */
import { lstatSync, mkdirSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { describeUid, MAX_SOCKET_PATH_BYTES } from "../client/socket-trust.js";
import { BrokerError } from "../errors.js";

/** Returns what is wrong with a directory that must be private, or null when it is safe. */
export function privateDirProblem(stats: Stats, uid = process.getuid?.() ?? 0): string | null {
  if (stats.isSymbolicLink()) return "is a symlink";
  if (!stats.isDirectory()) return "is not a directory";
  if (stats.uid !== uid) return `is owned by ${describeUid(stats.uid)}, not by you (${describeUid(uid)})`;
  if ((stats.mode & 0o077) !== 0) return `is accessible to group or others (mode ${(stats.mode & 0o777).toString(8)})`;
  return null;
}

/** A confined session's sockets go in `<dir>/s/<uuid>/`: the longest path the daemon binds. */
const SESSION_SOCKET_TAIL = `/s/${"0".repeat(36)}/session.sock`.length;

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** Creates the socket's directory 0700 if missing; refuses one that others can reach. */
export function ensureSocketDir(socketPath: string): string {
  const dir = dirname(socketPath);
  const longest = Math.max(Buffer.byteLength(socketPath), Buffer.byteLength(dir) + SESSION_SOCKET_TAIL);
  if (longest > MAX_SOCKET_PATH_BYTES) {
    throw new BrokerError("ERR_UNSAFE_PATH", `the socket path ${socketPath} is too long: its sessions' sockets would be ${longest} bytes, more than a Unix socket path may hold (${MAX_SOCKET_PATH_BYTES})`, {
      fix: `set XDG_RUNTIME_DIR, or choose a --socket path whose directory is at most ${MAX_SOCKET_PATH_BYTES - SESSION_SOCKET_TAIL} bytes`,
    });
  }
  let made: NodeJS.ErrnoException | undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    made = error as NodeJS.ErrnoException;
  }
  const stats = lstatOrNull(dir);
  const problem = stats ? privateDirProblem(stats) : null;
  if (stats && problem) {
    const theirs = stats.uid !== (process.getuid?.() ?? 0);
    throw new BrokerError("ERR_UNSAFE_PATH", `the socket directory ${dir} ${problem}`, {
      fix: theirs
        ? `someone else made it, so it cannot be yours: have it removed (as root: rm -r ${dir}), or choose another --socket path`
        : `make it private (chmod 700 ${dir}, owned by you; a symlink or a file must be removed) or choose another --socket path`,
    });
  }
  if (made || !stats) {
    throw new BrokerError("ERR_UNSAFE_PATH", `cannot create the socket directory ${dir}: ${made?.code ?? "ENOENT"}`, { fix: "choose another --socket path" });
  }
  return dir;
}
