/**
 * The daemon's own directories (state, policies) and the files it keeps in them (journal, audit
 * log, file store) must be out of other users' reach: a directory others can write lets them
 * plant a symlink or a forged file; a link to someone's file lets the daemon write over it.
 */
import { closeSync, constants as C, fstatSync, openSync, statSync, type Stats } from "node:fs";
import { BrokerError } from "../errors.js";

const me = (): number | undefined => process.getuid?.();
const modeText = (st: Stats) => (st.mode & 0o777).toString(8).padStart(4, "0");

/**
 * Refuses a directory not owned by the user or writable by group or others. A symlink to such a
 * directory is judged by its target (a user may keep policies in a dotfiles checkout).
 * `what` names it in the message ("the state directory"); `other` is the flag to point elsewhere.
 */
export function checkPrivateDir(dir: string, what: string, other: string): void {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (error) {
    throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${dir} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`, { fix: `check that it exists and is yours, or pass ${other}`, cause: error });
  }
  const uid = me();
  if (!st.isDirectory()) throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${dir} is not a directory`, { fix: `pass ${other} with a directory of yours` });
  if (uid !== undefined && st.uid !== uid) {
    throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${dir} is owned by uid ${st.uid}, not by you (uid ${uid})`, { fix: `chown ${uid} ${dir} (and check what is in it), or pass ${other}` });
  }
  if (uid !== undefined && (st.mode & 0o022) !== 0) {
    throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${dir} is writable by group or others (mode ${modeText(st)})`, { fix: `chmod go-w ${dir} (and check what is in it), or pass ${other}` });
  }
}

/** O_NOFOLLOW where the platform has it (Windows has neither it nor uids: there only the open remains). */
export const NOFOLLOW = C.O_NOFOLLOW ?? 0;

/**
 * Opens one of the daemon's own files without following a symlink, and confirms with fstat that
 * it is a regular file of the user's with no other name (a hard link to a victim file would have
 * two). `flags` are open(2) flags; NOFOLLOW is added. Returns the descriptor.
 */
export function openPrivateFile(path: string, flags: number, what: string): number {
  let fd: number;
  try {
    fd = openSync(path, flags | NOFOLLOW, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${path} is a symlink; it was not opened`, { fix: `remove the link (rm ${path}); the broker makes the file itself`, cause: error });
    throw error;
  }
  try {
    checkPrivateFile(fstatSync(fd), path, what);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/** What openPrivateFile checks on an opened file's fstat. */
export function checkPrivateFile(st: Stats, path: string, what: string): void {
  const uid = me();
  if (!st.isFile()) throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${path} is not a regular file`, { fix: `move it aside (mv ${path} ${path}.bad); the broker makes the file itself` });
  if (uid !== undefined && st.uid !== uid) {
    throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${path} is owned by uid ${st.uid}, not by you (uid ${uid})`, { fix: `move it aside (mv ${path} ${path}.bad) and check who put it there` });
  }
  if (st.nlink !== 1) {
    throw new BrokerError("ERR_UNSAFE_PATH", `${what} ${path} has ${st.nlink} names (hard links); it was not used`, { fix: `move it aside (mv ${path} ${path}.bad) and check who linked it` });
  }
}
