/**
 * Before the client says a word to a socket, it makes sure the socket is its own daemon's:
 * the socket's directory is a real directory owned by the user with no group/other access
 * (0700), and the socket is a real socket (not a symlink) owned by the user, 0600. Anyone
 * else can create a name in a shared place first and answer with their own "credentials"
 * (another user's AWS keys, a PATH of their choosing). Two lstat calls: the CLI stays fast.
 */
import { lstatSync, readFileSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { BrokerError } from "../errors.js";

/** sun_path holds 108 bytes with the final NUL; Node cuts a longer path short without a word. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** `uid 1001 (mallory)`; the name only where /etc/passwd has it (read on the error path only). */
export function describeUid(uid: number): string {
  let name: string | undefined;
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.split(":")[2] === String(uid));
    name = line?.split(":")[0];
  } catch {
    // no passwd file (a container, another OS): the uid alone
  }
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    // Missing or unreadable: connecting fails the ordinary way (ERR_DAEMON_UNREACHABLE).
    return null;
  }
}

const mode = (stats: Stats): string => (stats.mode & 0o777).toString(8).padStart(4, "0");

function untrusted(path: string, what: string, fix: string): BrokerError {
  return new BrokerError("ERR_SOCKET_UNTRUSTED", `refusing the daemon socket ${path}: ${what}`, { fix });
}

/**
 * Throws ERR_SOCKET_UNTRUSTED unless `socketPath` is the user's own. Root trusts the owner of the
 * directory it was pointed at (a container's root given the operator's session socket); root's
 * own default places are root's alone. A missing socket or directory passes: connect reports it.
 */
export function checkSocketTrust(socketPath: string, uid = process.getuid?.()): void {
  if (uid === undefined) return; // Windows: named pipes, no owner bits to check
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    const what = `the path is ${Buffer.byteLength(socketPath)} bytes, longer than a Unix socket path may be (${MAX_SOCKET_PATH_BYTES})`;
    throw untrusted(socketPath, what, "set XDG_RUNTIME_DIR, or point --socket / BROKER_SOCKET at a shorter path");
  }
  const dir = dirname(socketPath);
  const dirStats = lstatOrNull(dir);
  if (!dirStats) return;
  const owner = uid === 0 ? dirStats.uid : uid;
  const notYours = (stats: Stats) => `is owned by ${describeUid(stats.uid)}, not by you (${describeUid(owner)})`;
  const removeIt = (path: string) =>
    `someone else made it, and whatever answers there is not your daemon: have it removed (as root: rm -r ${path}), ` +
    "or point --socket / BROKER_SOCKET at your own daemon's socket";
  if (dirStats.isSymbolicLink() || !dirStats.isDirectory()) {
    const what = `its directory ${dir} is ${dirStats.isSymbolicLink() ? "a symlink" : "not a directory"}`;
    throw untrusted(socketPath, what, `remove ${dir}, or point --socket / BROKER_SOCKET at a socket in a directory of your own (0700)`);
  }
  if (dirStats.uid !== owner) throw untrusted(socketPath, `its directory ${dir} ${notYours(dirStats)}`, removeIt(dir));
  if ((dirStats.mode & 0o077) !== 0) {
    const what = `its directory ${dir} is open to group or others (mode ${mode(dirStats)})`;
    throw untrusted(socketPath, what, `if it is your daemon's, chmod 700 ${dir} and restart the daemon; otherwise remove ${dir}`);
  }
  const stats = lstatOrNull(socketPath);
  if (!stats) return;
  if (!stats.isSocket()) throw untrusted(socketPath, stats.isSymbolicLink() ? "it is a symlink" : "it is not a socket", `remove ${socketPath} and start \`broker daemon\` again`);
  if (stats.uid !== owner) throw untrusted(socketPath, `it ${notYours(stats)}`, removeIt(socketPath));
  if ((stats.mode & 0o077) !== 0) {
    const fix = `if it is your daemon's, chmod 600 ${socketPath}; otherwise remove it and start \`broker daemon\``;
    throw untrusted(socketPath, `it is open to group or others (mode ${mode(stats)})`, fix);
  }
}
