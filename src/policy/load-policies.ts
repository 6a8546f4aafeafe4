/** Loads every policy file of a directory: `<policies>/<task>.yaml` (or `.yml`). */
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { BrokerError } from "../errors.js";
import { checkPrivateDir } from "../util/private-dir.js";
import type { Policy, PolicyProblem } from "./types.js";
import { parsePolicy } from "./validate-policy.js";

/** Policies are small; a bigger file is a mistake (or an attack on the parser), not a policy. */
export const MAX_POLICY_BYTES = 256 * 1024;
const POLICY_FILE = /^[^.].*\.ya?ml$/i;
const FILE_FIELD = "(file)";

export interface LoadedPolicies {
  policies: Map<string, Policy>;
  problems: PolicyProblem[];
}

export async function loadPolicies(dir: string): Promise<LoadedPolicies> {
  const names = await listPolicyFiles(dir);
  // After the listing, so a missing directory keeps its own message. Others able to write here could add a task.
  checkPrivateDir(dir, "the policy directory", "--policies DIR");
  const policies = new Map<string, Policy>();
  const problems: PolicyProblem[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const read = await readPolicyFile(file);
    if (typeof read !== "string") {
      problems.push({ file, line: 1, field: FILE_FIELD, problem: read.problem });
      continue;
    }
    const parsed = parsePolicy(file, read);
    problems.push(...parsed.problems);
    if (!parsed.policy) continue;
    const other = policies.get(parsed.policy.task);
    if (other) {
      problems.push({ file, line: taskLine(read), field: "task", problem: `${parsed.policy.task} is already defined by ${other.file}` });
      continue;
    }
    policies.set(parsed.policy.task, parsed.policy);
  }
  return { policies, problems };
}

async function listPolicyFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir);
    return entries.filter((name) => POLICY_FILE.test(name)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const fix = `create it (mkdir -p ${dir}) and add one <task>.yaml per task, or point to another directory with --policies DIR or BROKER_POLICIES`;
    if (code === "ENOENT") throw new BrokerError("ERR_POLICY_INVALID", `the policy directory ${dir} does not exist`, { fix, cause: error });
    if (code === "ENOTDIR") throw new BrokerError("ERR_POLICY_INVALID", `the policy directory ${dir} is not a directory`, { fix, cause: error });
    throw new BrokerError("ERR_POLICY_INVALID", `cannot read the policy directory ${dir}: ${(error as Error).message}`, {
      fix: "check its permissions, or pass --policies DIR",
      cause: error,
    });
  }
}

/**
 * A policy file others can write is as bad as a directory they can write (the file is checked as
 * opened, so a symlink is judged by what it points at): the owner must be the user (or root).
 */
function unsafeOwnerOrMode(st: { uid: number; mode: number }): string | null {
  const uid = process.getuid?.();
  if (uid === undefined) return null;
  if (st.uid !== uid && st.uid !== 0) return `is owned by uid ${st.uid}, not by you (uid ${uid})`;
  if ((st.mode & 0o022) !== 0) return `is writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")})`;
  return null;
}

/** The file's text, or what kept it from being read. Reads at most MAX_POLICY_BYTES + 1 bytes. */
async function readPolicyFile(file: string): Promise<string | { problem: string }> {
  try {
    if (!(await stat(file)).isFile()) return { problem: "is not a regular file" };
    const handle = await open(file, "r");
    try {
      const unsafe = unsafeOwnerOrMode(await handle.stat());
      if (unsafe) return { problem: `${unsafe}: others could rewrite the task; chmod go-w ${file} (and check what is in it)` };
      const buffer = Buffer.alloc(MAX_POLICY_BYTES + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0 || (length += bytesRead) === buffer.length) break;
      }
      if (length > MAX_POLICY_BYTES) return { problem: `is larger than ${MAX_POLICY_BYTES / 1024} KiB; a policy file is a few lines of YAML` };
      return new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, length));
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof TypeError) return { problem: "is not valid UTF-8 text" };
    return { problem: `cannot be read: ${(error as Error).message}` };
  }
}

/** Line of the top-level `task:` key, for pointing at a duplicate (the file already parsed cleanly). */
function taskLine(text: string): number {
  const index = text.split(/\r?\n/).findIndex((line) => /^task\s*:/.test(line));
  return index < 0 ? 1 : index + 1;
}
