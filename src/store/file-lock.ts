/**
 * An exclusive lock file (O_CREAT|O_EXCL) held around a read-modify-write, so two `broker secret
 * set` processes at once both land. A lock whose holder died (same host, pid gone) or that is
 * older than any real update is broken, so a crash never wedges the store.
 */
import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { BrokerError } from "../errors.js";

export interface LockOptions {
  /** How long to wait for another holder before giving up. */
  waitMs?: number;
  /** A lock this old is stale whoever holds it: an update takes well under a second. */
  staleMs?: number;
}

export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const waitMs = options.waitMs ?? 15_000;
  const staleMs = options.staleMs ?? 30_000;
  const token = `${process.pid}\n${hostname()}\n${randomBytes(8).toString("hex")}\n`;
  const deadline = Date.now() + waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await tryCreate(lockPath, token)) break;
    if (await breakIfStale(lockPath, staleMs)) continue;
    if (Date.now() > deadline) {
      throw new BrokerError("ERR_STORE_LOCKED", `the secret file is locked by another broker process (${lockPath})`, {
        fix: `try again; if no broker process is running, remove ${lockPath}`,
      });
    }
    await sleep(delay + Math.random() * delay);
  }
  try {
    return await fn();
  } finally {
    await releaseIfOurs(lockPath, token);
  }
}

async function tryCreate(lockPath: string, token: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(lockPath, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(token);
  } finally {
    await handle.close();
  }
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readLock(lockPath: string): Promise<{ content: string; ageMs: number } | null> {
  try {
    const [content, info] = await Promise.all([readFile(lockPath, "utf8"), stat(lockPath)]);
    return { content, ageMs: Date.now() - info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

/** Returns true when the lock is gone (broken or released meanwhile), so the caller retries at once. */
async function breakIfStale(lockPath: string, staleMs: number): Promise<boolean> {
  const seen = await readLock(lockPath);
  if (seen === null) return true;
  const [pid, host] = seen.content.split("\n");
  // An empty lock is one being written right now: only age makes it stale.
  const holderDead = host === hostname() && Number(pid) > 0 && !isAlive(Number(pid));
  if (!holderDead && seen.ageMs < staleMs) return false;
  // Rename first (atomic, one winner), then check we moved the lock we judged stale; if a
  // fresh one was taken in between, put it back unless yet another holder exists.
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw error;
  }
  const moved = await readFile(aside, "utf8").catch(() => seen.content);
  if (moved !== seen.content) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
  return true;
}

async function releaseIfOurs(lockPath: string, token: string): Promise<void> {
  const current = await readFile(lockPath, "utf8").catch(() => null);
  if (current === token) await unlink(lockPath).catch(() => undefined);
}
