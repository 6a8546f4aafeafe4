/**
 * Whether a directory may be a `--sandbox DIR`: the broker replaces, chmods and deletes files
 * there, so it takes only a directory that is empty or holds nothing but files it wrote itself
 * (told by `session.json`, whose `marker` only the daemon's key can make), and never the user's
 * home, a dot-directory in it (`~/.config` holds real `gh/hosts.yml` and `git/credentials`), or
 * a system directory.
 */
import { constants as C } from "node:fs";
import { type FileHandle, open, readdir, realpath } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { join, relative, resolve, sep } from "node:path";
import { unsafe } from "./sandbox-dirs.js";

/** Makes and checks the `marker` of a session's `session.json`. */
export interface SandboxMarker {
  mark(session: string): string;
  isMark(session: string, marker: string): boolean;
}

/** The directories a sandbox may hold, and the files in them (SANDBOX_FILES, by directory). */
const LAYOUT: Record<string, string[] | null> = { aws: ["credentials", "config"], git: ["credentials"], gh: ["hosts.yml"], env: null, "session.json": null };
/** What writeSandboxFile leaves for an instant while it replaces a file. */
const WRITING = /^\.[A-Za-z0-9_.-]+\.[0-9a-f]{16}\.tmp$/;
const SYSTEM = ["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/tmp", "/Users", "/System", "/Library", "/private", "/private/tmp", "/Applications"];
const SYSTEM_TREES = ["/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sbin", "/sys", "/usr", "/System", "/Library"];

const inside = (dir: string, root: string) => {
  const rel = relative(root, dir);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep));
};

/** Refuses the user's home, anything under a dot-directory of it, and system directories. */
export async function checkSandboxPlace(dir: string): Promise<void> {
  const real = await realpath(dir).catch(() => resolve(dir));
  const fix = "pass an empty directory made for the session (mkdir -m 700 DIR), or use --sandbox-tmp";
  if (SYSTEM.includes(real) || SYSTEM_TREES.some((root) => inside(real, root))) throw unsafe(`sandbox directory ${dir} is a system directory`, fix);
  const homes = new Set([process.env.HOME, homedir(), userInfo().homedir].filter((h): h is string => !!h).map((h) => resolve(h)));
  for (const home of homes) {
    const realHome = await realpath(home).catch(() => home);
    for (const h of new Set([home, realHome])) {
      if (real === h) throw unsafe(`sandbox directory ${dir} is your home directory`, fix);
      if (inside(real, h) && relative(h, real).startsWith(".")) throw unsafe(`sandbox directory ${dir} is in a dot-directory of your home (${join(h, relative(h, real).split(sep)[0] ?? "")}), where your own tools keep their files`, fix);
    }
  }
}

/** The `session.json` of a sandbox directory, if it is a small regular file; null otherwise. */
export async function readSessionJson(dir: string): Promise<{ id?: unknown; marker?: unknown } | null> {
  let handle: FileHandle;
  try {
    handle = await open(join(dir, "session.json"), C.O_RDONLY | (C.O_NOFOLLOW ?? 0) | (C.O_NONBLOCK ?? 0));
  } catch {
    return null;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > 4096 || (process.getuid !== undefined && st.uid !== process.getuid())) return null;
    return JSON.parse(await handle.readFile("utf8")) as { id?: unknown; marker?: unknown };
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

/** Whether `session.json` in `dir` carries our marker (for `session`, if given). */
export async function hasOurMarker(dir: string, marker: SandboxMarker, session?: string): Promise<boolean> {
  const json = await readSessionJson(dir);
  if (json === null || typeof json.id !== "string" || typeof json.marker !== "string") return false;
  if (session !== undefined && json.id !== session) return false;
  return marker.isMark(json.id, json.marker);
}

/** Refuses a directory that holds anything but what a session of ours wrote into it. */
export async function checkSandboxContents(dir: string, marker: SandboxMarker): Promise<void> {
  const fix = `empty it first (after checking what it holds), or pass an empty directory, or use --sandbox-tmp`;
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.length === 0) return;
  for (const entry of entries) {
    if (WRITING.test(entry.name)) continue;
    const files = LAYOUT[entry.name];
    if (files === undefined || (files === null) !== entry.isFile() || (files !== null && !entry.isDirectory())) {
      throw unsafe(`sandbox directory ${dir} already holds ${entry.name}, which broker did not write`, fix);
    }
    if (files === null) continue;
    for (const name of await readdir(join(dir, entry.name))) {
      if (!files.includes(name) && !WRITING.test(name)) throw unsafe(`sandbox directory ${dir} already holds ${entry.name}/${name}, which broker did not write`, fix);
    }
  }
  if (!(await hasOurMarker(dir, marker))) throw unsafe(`sandbox directory ${dir} is not empty and its session.json was not written by this broker`, fix);
}
