/**
 * Race-free writes into a sandbox directory that an untrusted process may also write to.
 *
 * On Linux every step goes through `/proc/self/fd/<fd>/<name>`, a magic link to a directory we
 * already opened with O_NOFOLLOW|O_DIRECTORY: swapping a path component for a symlink later
 * changes nothing (openat() emulation; Node has no openat). Content goes to a fresh
 * O_EXCL|O_NOFOLLOW temporary file, is fsynced, then renamed over the final name: rename replaces
 * a planted symlink, hardlink or FIFO without following or writing through it.
 * Elsewhere (macOS) the same steps use plain paths, each component first opened O_NOFOLLOW. The
 * race left there: between that check and the create/rename, a same-user process can swap a
 * subdirectory for a symlink, so a new file (and on failure its temporary) may land in the
 * link's target. O_EXCL|O_NOFOLLOW still stop writes through an existing file or link.
 * A symlink, file or FIFO planted where a subdirectory belongs is unlinked and the directory
 * recreated (unlinking never touches a target); a real directory not ours is refused.
 */
import { randomBytes } from "node:crypto";
import { constants as C, existsSync, type Stats } from "node:fs";
import { type FileHandle, lstat, mkdir, mkdtemp, open, readdir, rename, rmdir, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { BrokerError } from "../errors.js";

// Windows lacks these flags and uids: there only the path checks remain.
const DIR_FLAGS = C.O_RDONLY | (C.O_DIRECTORY ?? 0) | (C.O_NOFOLLOW ?? 0) | (C.O_NONBLOCK ?? 0);
const TMP_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | (C.O_NOFOLLOW ?? 0) | (C.O_NONBLOCK ?? 0);
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const RETRIES = 3;
const ROOT_PROBLEMS: Record<string, [problem: string, fix: string]> = {
  ENOENT: ["does not exist", "create it first: mkdir -m 700 DIR"],
  ELOOP: ["is a symlink", "pass the real directory: $(realpath DIR)"],
  ENOTDIR: ["is not a directory", "pass a directory"],
};

export type SafeWriteStrategy = "procfd" | "paths";

export interface SafeWriteOptions {
  /** Defaults to "procfd" where /proc/self/fd exists; "paths" is the portable fallback. */
  strategy?: SafeWriteStrategy;
  /** Test seam: runs after each subdirectory is opened, to swap things under our feet. */
  afterOpenDir?: (relDir: string) => void | Promise<void>;
}

/** Identity of a file we wrote, so removal can confirm it is still ours. */
export type FileIdentity = { dev: number; ino: number };

export function defaultStrategy(): SafeWriteStrategy {
  return process.platform === "linux" && existsSync("/proc/self/fd") ? "procfd" : "paths";
}

/** An opened directory, its path for messages, and how to name an entry inside it. */
type Dir = { handle: FileHandle; display: string; at(name: string): string };

function dirFrom(handle: FileHandle, display: string, strategy: SafeWriteStrategy): Dir {
  return { handle, display, at: (name) => (strategy === "procfd" ? `/proc/self/fd/${handle.fd}/${name}` : join(display, name)) };
}

const uid = (): number | undefined => process.getuid?.();
const code = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | null)?.code;
const sameFile = (a: Stats, b: FileIdentity): boolean => a.dev === b.dev && a.ino === b.ino;
const closeAndThrow = (handle: FileHandle) => async (error: unknown): Promise<never> => {
  await handle.close();
  throw error;
};

function unsafe(message: string, fix: string, cause?: unknown): BrokerError {
  return new BrokerError("ERR_SANDBOX_UNSAFE", message, { fix, ...(cause === undefined ? {} : { cause }) });
}

/** Ours and not writable by group or others. */
function assertSafe(st: Stats, display: string): void {
  const me = uid();
  if (me !== undefined && st.uid !== me) {
    throw unsafe(`sandbox directory ${display} is owned by uid ${st.uid}, not by you (uid ${me})`, `use a directory you own, or: chown ${me} ${display}`);
  }
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    throw unsafe(`sandbox directory ${display} is group- or world-writable (mode ${mode})`, `chmod go-w ${display}  (or chmod 700)`);
  }
}

async function openRoot(root: string, strategy: SafeWriteStrategy, checkSafe: boolean): Promise<Dir> {
  const display = resolve(root);
  let handle: FileHandle;
  try {
    handle = await open(display, DIR_FLAGS);
  } catch (error) {
    const [problem, fix] = ROOT_PROBLEMS[code(error) ?? ""] ?? [`cannot be opened (${code(error)})`, "check that you can read it"];
    throw unsafe(`sandbox directory ${display} ${problem}`, fix.replace("DIR", display), error);
  }
  if (checkSafe) await handle.stat().then((st) => assertSafe(st, display)).catch(closeAndThrow(handle));
  return dirFrom(handle, display, strategy);
}

/** Checks a sandbox directory given by the user (`--sandbox DIR`); returns its absolute path. */
export async function openSandboxDir(dir: string): Promise<string> {
  const root = await openRoot(dir, defaultStrategy(), true);
  await root.handle.close();
  return root.display;
}

/** A fresh 0700 directory for `--sandbox-tmp`. */
export async function createTmpSandbox(): Promise<string> {
  return mkdtemp(join(tmpdir(), "broker-sandbox-"));
}

function splitRelPath(relPath: string): { dirs: string[]; name: string } {
  const parts = relPath.split("/");
  if (!parts.every((p) => SEGMENT.test(p))) {
    throw new BrokerError("ERR_UNSAFE_PATH", `not a plain relative path inside the sandbox: ${JSON.stringify(relPath)}`);
  }
  return { dirs: parts.slice(0, -1), name: parts[parts.length - 1] as string };
}

/** Whether an opened subdirectory is ours (then made 0700 when writing); refuses others' when writing. */
async function checkSubdir(handle: FileHandle, display: string, create: boolean): Promise<boolean> {
  const st = await handle.stat();
  const me = uid();
  if (me !== undefined && st.uid !== me) {
    if (!create) return false;
    throw unsafe(`sandbox subdirectory ${display} is owned by uid ${st.uid}, not by you (uid ${me})`, `remove it: rm -r ${display}`);
  }
  if (create && (st.mode & 0o777) !== 0o700) await handle.chmod(0o700);
  return true;
}

/** Opens (creating 0700 if `create`) the subdirectory `name` of `parent`; null if absent. */
async function openSubdir(parent: Dir, name: string, create: boolean, strategy: SafeWriteStrategy): Promise<Dir | null> {
  const display = join(parent.display, name);
  for (let attempt = 0; attempt < RETRIES; attempt++) {
    let handle: FileHandle;
    try {
      handle = await open(parent.at(name), DIR_FLAGS);
    } catch (error) {
      const c = code(error);
      if (!create && (c === "ENOENT" || c === "ELOOP" || c === "ENOTDIR")) return null;
      // A planted symlink, file or FIFO: unlink the name (its target is untouched) and recreate.
      if (c === "ELOOP" || c === "ENOTDIR") await unlink(parent.at(name)).catch(() => undefined);
      else if (c !== "ENOENT") throw error;
      await mkdir(parent.at(name), { mode: 0o700 }).catch((e: unknown) => {
        if (code(e) !== "EEXIST") throw e;
      });
      continue;
    }
    const ours = await checkSubdir(handle, display, create).catch(closeAndThrow(handle));
    if (ours) return dirFrom(handle, display, strategy);
    await handle.close();
    return null; // not ours: nothing we wrote can be inside
  }
  throw unsafe(`sandbox subdirectory ${display} keeps being replaced while writing`, "stop whatever is changing the sandbox directory");
}

/** Opens root and the chain of subdirectories; closes everything if it fails. */
async function openChain(root: string, dirs: string[], create: boolean, options: SafeWriteOptions): Promise<Dir[] | null> {
  const strategy = options.strategy ?? defaultStrategy();
  const chain = [await openRoot(root, strategy, create)];
  try {
    for (const [i, name] of dirs.entries()) {
      const next = await openSubdir(chain[chain.length - 1] as Dir, name, create, strategy);
      if (next === null) {
        await closeAll(chain);
        return null;
      }
      chain.push(next);
      await options.afterOpenDir?.(dirs.slice(0, i + 1).join("/"));
    }
    return chain;
  } catch (error) {
    await closeAll(chain);
    throw error;
  }
}

async function closeAll(chain: Dir[]): Promise<void> {
  await Promise.all(chain.map((d) => d.handle.close().catch(() => undefined)));
}

/** Writes `relPath` under `root` (0600, subdirectories 0700), atomically replacing what was there. */
export async function writeSandboxFile(root: string, relPath: string, content: string | Uint8Array, options: SafeWriteOptions = {}): Promise<FileIdentity> {
  const { dirs, name } = splitRelPath(relPath);
  const chain = (await openChain(root, dirs, true, options)) as Dir[];
  const dir = chain[chain.length - 1] as Dir;
  const tmp = dir.at(`.${name}.${randomBytes(8).toString("hex")}.tmp`);
  let created = false;
  try {
    const file = await open(tmp, TMP_FLAGS, 0o600);
    created = true;
    let id: FileIdentity;
    try {
      const st = await file.stat();
      if (!st.isFile() || st.nlink !== 1) throw unsafe(`temporary file in ${dir.display} is not a fresh regular file`, "stop whatever is changing the sandbox directory");
      id = { dev: st.dev, ino: st.ino };
      await file.chmod(0o600); // exact, whatever the umask
      await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, dir.at(name));
    created = false;
    const final = await lstat(dir.at(name));
    if (!final.isFile() || !sameFile(final, id)) throw unsafe(`${join(dir.display, name)} was replaced right after writing`, "stop whatever is changing the sandbox directory");
    await dir.handle.sync().catch(() => undefined); // durability of the rename; not possible everywhere
    return id;
  } catch (error) {
    if (created) await unlink(tmp).catch(() => undefined);
    if (code(error) === "EISDIR") throw unsafe(`${join(dir.display, name)} is a directory`, "remove it", error);
    throw error;
  } finally {
    await closeAll(chain);
  }
}

/**
 * Removes `relPath` if it is a regular file we wrote (the same inode as `expected`, or without
 * it: a regular file we own), never following links; then the subdirectories it left empty.
 * Returns whether the file was removed.
 */
export async function removeSandboxFile(root: string, relPath: string, expected?: FileIdentity, options: SafeWriteOptions = {}): Promise<boolean> {
  const { dirs, name } = splitRelPath(relPath);
  const chain = await openChain(root, dirs, false, options);
  if (chain === null) return false;
  try {
    const dir = chain[chain.length - 1] as Dir;
    let removed = false;
    const st = await lstat(dir.at(name)).catch(() => null);
    const me = uid();
    if (st !== null && st.isFile() && (expected ? sameFile(st, expected) : me === undefined || st.uid === me)) {
      await unlink(dir.at(name));
      removed = true;
    }
    // Innermost first; rmdir only removes an empty directory and never follows a link.
    for (let i = dirs.length - 1; i >= 0; i--) {
      const ok = await rmdir((chain[i] as Dir).at(dirs[i] as string)).then(() => true, () => false);
      if (!ok) break;
    }
    return removed;
  } finally {
    await closeAll(chain);
  }
}

/** Removes a whole `--sandbox-tmp` directory and everything in it, descending without following links. */
export async function removeSandboxDir(dir: string, options: SafeWriteOptions = {}): Promise<void> {
  const strategy = options.strategy ?? defaultStrategy();
  const full = resolve(dir);
  const parent = dirFrom(await open(dirname(full), C.O_RDONLY | (C.O_DIRECTORY ?? 0)), dirname(full), strategy);
  try {
    await removeTree(parent, basename(full), strategy);
  } finally {
    await parent.handle.close();
  }
}

async function removeTree(parent: Dir, name: string, strategy: SafeWriteStrategy): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(parent.at(name), DIR_FLAGS);
  } catch (error) {
    const c = code(error);
    if (c === "ENOENT") return;
    if (c === "ELOOP" || c === "ENOTDIR") return unlink(parent.at(name)).catch(() => undefined);
    throw error;
  }
  const dir = dirFrom(handle, join(parent.display, name), strategy);
  try {
    for (const entry of await readdir(dir.at("."))) await removeTree(dir, entry, strategy);
  } finally {
    await handle.close();
  }
  await rmdir(parent.at(name)).catch((e: unknown) => {
    if (code(e) !== "ENOENT") throw e;
  });
}
