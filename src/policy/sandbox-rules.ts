/**
 * The `sandbox:` section: paths `broker run`'s box makes writable or hides besides its own
 * lists, and variables it lets through besides its allowlist. Paths stay as written (`~/…`
 * unexpanded): the client expands them against the operator's HOME, which the daemon may not share.
 */
import { posix } from "node:path";
import { starHint } from "./egress-rules.js";
import { fields, listOf, text } from "./field-checks.js";
import type { SandboxPolicy } from "./types.js";
import type { At, Check, Rules, Walk } from "./yaml-reader.js";

export const MAX_SANDBOX_PATHS = 64;
export const MAX_SANDBOX_PATH_CHARS = 1024;
export const MAX_PASS_ENV = 64;
/** An environment variable name in which `*` stands for any run of characters. */
export const PASS_ENV_NAME = /^[A-Za-z_*][A-Za-z0-9_*]*$/;

/** Where the box's own system lives (`/lib*` as a glob: lib32, lib64, libx32, libexec): writable, these would let the command change what the host runs. */
const SYSTEM_DIRS = /^\/(?:usr|etc|bin|lib[^/]*|sbin|boot)$/;
/** Kernel interfaces: nothing below them is a cache an agent needs. */
const KERNEL_DIRS = /^\/(?:proc|sys|dev)(?:\/|$)/;

/** The path as the box will see it, with `.` and repeated slashes gone; `~/` is kept as the prefix. */
function normalised(path: string): string {
  if (path.startsWith("~/")) return `~${posix.normalize(`/${path.slice(2)}`)}`.replace(/\/+$/, "") || "~";
  return posix.normalize(path).replace(/(.)\/+$/, "$1");
}

export function sandboxPathProblem(path: string): string | undefined {
  if (path.includes("\0")) return "must not contain a NUL character";
  if (!path.startsWith("/") && !path.startsWith("~/")) {
    return path === "~"
      ? "is your whole home directory; name a directory inside it, such as ~/.cache/my-agent"
      : `must be an absolute path or start with ~/, found "${path}"`;
  }
  if (path.split("/").includes("..")) return "must not contain .. segments; write the path it leads to";
  const clean = normalised(path);
  if (clean === "/") return "is the whole file system; name a directory inside it";
  if (clean === "~") return "is your whole home directory; name a directory inside it, such as ~/.cache/my-agent";
  return undefined;
}

function writePathProblem(path: string): string | undefined {
  const problem = sandboxPathProblem(path);
  if (problem) return problem;
  const clean = normalised(path);
  if (SYSTEM_DIRS.test(clean)) return `is a system directory (${clean}); the box keeps it read-only so the command cannot change what the host runs`;
  if (KERNEL_DIRS.test(clean)) return `is under /proc, /sys or /dev, which the box never opens for writing; name a directory of your own`;
  return undefined;
}

export function passEnvProblem(name: string): string | undefined {
  if (!PASS_ENV_NAME.test(name) || name.length > 256) {
    return "must be an environment variable name (a letter or _, then letters, digits or _), where * matches any run of characters";
  }
  if (/^\*+$/.test(name)) return "would pass every variable, credentials included; list the names the command needs";
  // Upper-cased: on Windows BROKER_socket is BROKER_SOCKET.
  if (name.toUpperCase().startsWith("BROKER_")) {
    return "is the broker's own (BROKER_STORE_PASSPHRASE, BROKER_SOCKET, …) and never passed; the box sets what the command needs";
  }
  return undefined;
}

const sandboxPath = (explain: (path: string) => string | undefined): Check<string> =>
  text({ max: MAX_SANDBOX_PATH_CHARS, shape: "a path, absolute or ~/…", explain });

/** Duplicates are the same place however written (`~/a/` and `~/a`). */
const pathList = (explain: (path: string) => string | undefined): Check<string[]> =>
  listOf(sandboxPath(explain), { min: 0, max: MAX_SANDBOX_PATHS, identity: normalised });

export const SANDBOX_RULES = {
  write: { check: pathList(writePathProblem) },
  hide: { check: pathList(sandboxPathProblem) },
  pass_env: {
    check: listOf(starHint(text({ max: 256, shape: "an environment variable name", explain: passEnvProblem })), { min: 0, max: MAX_PASS_ENV }),
  },
} satisfies Rules;

export function readSandbox(walk: Walk, node: unknown, at: At): SandboxPolicy | undefined {
  const values = fields(SANDBOX_RULES)(walk, node, at);
  if (!values) return undefined;
  return { write: values.write ?? [], hide: values.hide ?? [], passEnv: values.pass_env ?? [] };
}
