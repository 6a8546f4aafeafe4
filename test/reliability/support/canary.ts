/**
 * An "outside" directory of canary files mirroring the sandbox layout, for catching writes or reads
 * through planted links. Canaries are never read until the final content check: snapshots use
 * lstat only (type, mode, inode, size, mtime, atime), so they compare exactly. Canary atimes are
 * set a day before their mtimes, so on a relatime or strictatime mount the first read moves them
 * (the suite checks that the mount does before relying on it).
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

export const CANARY_FILES = ["aws/credentials", "aws/config", "git/credentials", "gh/hosts.yml", "env", "session.json", "credentials", "config"];
const content = (name: string) => `canary ${name}: must never change\n`;

export interface Entry {
  type: string;
  mode: number;
  ino: number;
  size: number;
  mtimeMs: number;
  atimeMs: number;
}

const DAY = 86_400_000;

function age(path: string): void {
  const now = Date.now();
  utimesSync(path, new Date(now - 2 * DAY), new Date(now - DAY));
}

/** Creates `dir` with one canary file per name (subdirectories as needed). */
export function plantCanaries(dir: string): void {
  for (const name of CANARY_FILES) {
    const path = join(dir, name);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, content(name), { mode: 0o644 });
    age(path);
  }
}

/** Every entry under `dir`, from lstat alone (nothing is read, no link followed). */
export function snapshot(dir: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (path: string): void => {
    const st = lstatSync(path);
    const type = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : st.isFIFO() ? "fifo" : "other";
    out.set(relative(dir, path) || ".", { type, mode: st.mode & 0o7777, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, atimeMs: st.atimeMs });
    if (type === "dir") for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return out;
}

/** What differs between two snapshots: new, gone, changed (a write), read (atime moved). */
export function differences(before: Map<string, Entry>, after: Map<string, Entry>): string[] {
  const out: string[] = [];
  for (const [rel, a] of after) {
    const b = before.get(rel);
    if (!b) out.push(`new: ${rel}`);
    else {
      for (const key of ["type", "mode", "ino", "size", "mtimeMs"] as const) if (a[key] !== b[key]) out.push(`${key} changed: ${rel}`);
      if (a.type === "file" && a.atimeMs !== b.atimeMs) out.push(`read: ${rel}`);
    }
  }
  for (const rel of before.keys()) if (!after.has(rel)) out.push(`gone: ${rel}`);
  return out;
}

/** The final check (it reads them): canaries whose content is no longer what was planted. */
export function changedCanaries(dir: string): string[] {
  return CANARY_FILES.filter((name) => readFileSync(join(dir, name), "utf8") !== content(name));
}

/** Whether reading a file moves its atime here (relatime/strictatime), so "read" findings mean something. */
export function atimeDetectsReads(dir: string): boolean {
  const probe = join(dir, ".atime-probe");
  writeFileSync(probe, "probe\n");
  age(probe);
  const before = lstatSync(probe).atimeMs;
  readFileSync(probe);
  const moved = lstatSync(probe).atimeMs !== before;
  unlinkSync(probe);
  return moved;
}

/**
 * Regular files under `dir` (never following links) whose content holds any of `secrets`. Files
 * that are canaries hardlinked in by an attack (`skipInodes`) are not read, to keep their atimes.
 */
export function filesHolding(dir: string, secrets: string[], skipInodes: Set<number>): string[] {
  const hits: string[] = [];
  const walk = (path: string): void => {
    const st = lstatSync(path);
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    else if (st.isFile() && !skipInodes.has(st.ino)) {
      const text = readFileSync(path, "utf8");
      if (secrets.some((s) => text.includes(s))) hits.push(relative(dir, path));
    }
  };
  walk(dir);
  return hits;
}
