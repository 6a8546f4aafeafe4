/**
 * Race-free writes into a sandbox directory that an untrusted process may also write to, and
 * their removal. Directories are opened through sandbox-dirs.ts (openat() emulation on Linux);
 * content goes to a fresh O_EXCL|O_NOFOLLOW temporary file, is fsynced, then renamed over the
 * final name: rename replaces a planted symlink, hardlink or FIFO without following or writing
 * through it. Removal unlinks only regular files we wrote and never follows a link.
 */
import { randomBytes } from "node:crypto";
import { constants as C } from "node:fs";
import { type FileHandle, lstat, open, readdir, readlink, rename, rmdir, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { DIR_FLAGS, TMP_FLAGS, closeAll, code, defaultStrategy, dirFrom, openChain, sameFile, splitRelPath, uid, unsafe, type Dir, type FileIdentity, type SafeWriteOptions, type SafeWriteStrategy } from "./sandbox-dirs.js";

export { createTmpSandbox, defaultStrategy, isTmpSandboxPath, openSandboxDir, tmpSandboxRoot, type FileIdentity, type SafeWriteOptions, type SafeWriteStrategy } from "./sandbox-dirs.js";

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

/**
 * Removes a `--sandbox-tmp` directory through the handle held since it was made: its entries go
 * through `/proc/self/fd/N`, so a directory renamed away (and an empty one put in its place) is
 * still the one emptied; then the directory itself, where it is now, if it is still that inode.
 * Closes the handle.
 */
export async function removeHeldSandboxDir(dir: string, handle: FileHandle, options: SafeWriteOptions = {}): Promise<void> {
  const strategy = options.strategy ?? defaultStrategy();
  const held = dirFrom(handle, resolve(dir), strategy);
  try {
    for (const entry of await readdir(held.at("."))) await removeTree(held, entry, strategy);
    const st = await handle.stat();
    const now = strategy === "procfd" ? await readlink(`/proc/self/fd/${handle.fd}`) : resolve(dir);
    const there = await lstat(now).catch(() => null);
    if (there !== null && there.isDirectory() && sameFile(there, st)) await rmdir(now);
  } finally {
    await handle.close();
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
