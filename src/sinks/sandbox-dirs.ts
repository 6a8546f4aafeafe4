/**
 * Opening a sandbox directory and its subdirectories race-free, for safe-write.ts.
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
import { constants as C, existsSync, lstatSync, mkdirSync, type Stats } from "node:fs";
import { type FileHandle, mkdir, mkdtemp, open, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { BrokerError } from "../errors.js";

// Windows lacks these flags and uids: there only the path checks remain.
export const DIR_FLAGS = C.O_RDONLY | (C.O_DIRECTORY ?? 0) | (C.O_NOFOLLOW ?? 0) | (C.O_NONBLOCK ?? 0);
export const TMP_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | (C.O_NOFOLLOW ?? 0) | (C.O_NONBLOCK ?? 0);
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
  /** The sandbox directory already opened (`--sandbox-tmp` keeps it open from creation to removal); not closed here. */
  root?: FileHandle;
  /** Test seam: runs after each subdirectory is opened, to swap things under our feet. */
  afterOpenDir?: (relDir: string) => void | Promise<void>;
}

/** Identity of a file we wrote, so removal can confirm it is still ours. */
export type FileIdentity = { dev: number; ino: number };

export function defaultStrategy(): SafeWriteStrategy {
  return process.platform === "linux" && existsSync("/proc/self/fd") ? "procfd" : "paths";
}

/** An opened directory, its path for messages, and how to name an entry inside it. */
export type Dir = { handle: FileHandle; display: string; at(name: string): string; keep?: boolean };

export function dirFrom(handle: FileHandle, display: string, strategy: SafeWriteStrategy): Dir {
  return { handle, display, at: (name) => (strategy === "procfd" ? `/proc/self/fd/${handle.fd}/${name}` : join(display, name)) };
}

export const uid = (): number | undefined => process.getuid?.();
export const code = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | null)?.code;
export const sameFile = (a: Stats, b: FileIdentity): boolean => a.dev === b.dev && a.ino === b.ino;
const closeAndThrow = (handle: FileHandle) => async (error: unknown): Promise<never> => {
  await handle.close();
  throw error;
};

export function unsafe(message: string, fix: string, cause?: unknown): BrokerError {
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

/**
 * The broker's own root for `--sandbox-tmp` directories: `<tmp>/broker-<uid>-sandboxes`, 0700 and
 * ours, so what recovery finds there by name (TMP_SANDBOX) was made by us and nobody else.
 */
export function tmpSandboxRoot(): string {
  return join(tmpdir(), `broker-${uid() ?? "user"}-sandboxes`);
}
const TMP_SANDBOX = /^broker-sandbox-[A-Za-z0-9]{6}$/;

/** Whether `dir` is named as createTmpSandbox names them, right under the root. */
export function isTmpSandboxPath(dir: string): boolean {
  const full = resolve(dir);
  return dirname(full) === tmpSandboxRoot() && TMP_SANDBOX.test(basename(full));
}

function ensureTmpRoot(): string {
  const root = tmpSandboxRoot();
  try {
    mkdirSync(root, { mode: 0o700 });
  } catch (error) {
    if (code(error) !== "EEXIST") throw error;
  }
  const st = lstatSync(root);
  const me = uid();
  if (!st.isDirectory() || (me !== undefined && (st.uid !== me || (st.mode & 0o077) !== 0))) {
    throw unsafe(`the --sandbox-tmp root ${root} is not a private directory of yours`, `set TMPDIR to a directory of yours, or remove ${root} if it is yours`);
  }
  return root;
}

/** A fresh 0700 directory for `--sandbox-tmp`, and a handle on it kept until it is removed. */
export async function createTmpSandbox(): Promise<{ dir: string; handle: FileHandle }> {
  const dir = await mkdtemp(join(ensureTmpRoot(), "broker-sandbox-"));
  return { dir, handle: await open(dir, DIR_FLAGS) };
}

export function splitRelPath(relPath: string): { dirs: string[]; name: string } {
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
export async function openChain(root: string, dirs: string[], create: boolean, options: SafeWriteOptions): Promise<Dir[] | null> {
  const strategy = options.strategy ?? defaultStrategy();
  const chain = [options.root ? { ...dirFrom(options.root, resolve(root), strategy), keep: true } : await openRoot(root, strategy, create)];
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

export async function closeAll(chain: Dir[]): Promise<void> {
  await Promise.all(chain.map((d) => (d.keep ? undefined : d.handle.close().catch(() => undefined))));
}
