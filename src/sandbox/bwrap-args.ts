/**
 * Composes bubblewrap's arguments for a confined `broker run` (docs/containment.md): the host's
 * `/` read-only, the working directory and the policy's `write` paths read-write, private /tmp,
 * /run, /dev/shm, a minimal /dev, /proc of its own PID namespace, no network but loopback, and
 * every hidden path covered (an empty tmpfs over a directory, /dev/null over a file). Hides come
 * after the read-write binds, so a hidden path inside the working directory stays hidden.
 */
import { statSync } from "node:fs";
import { BrokerError } from "../errors.js";
import { isWithin } from "./hidden-paths.js";

export interface BoxSpec {
  /** Host path, bound read-write at the same path; the command starts there. */
  cwd: string;
  /** Host paths to hide (absolute). Missing ones are skipped: there is nothing to see. */
  hide: readonly string[];
  /** Host paths bound read-write at the same path (absolute, existing). */
  write: readonly string[];
  /** Host paths bound read-only at the same path where a private dir would cover them (broker's own code). */
  keep?: readonly string[];
  /** Host directories bound read-only at `target` (the sandbox dir, the session's sockets). */
  mounts: ReadonlyArray<{ source: string; target: string }>;
  /** The fd bwrap writes `{"child-pid": N}` to once the namespaces exist. */
  infoFd: number;
}

/** Directories made fresh and private inside: nothing of the host's shows through them. */
const PRIVATE_DIRS = ["/tmp", "/run"];

type Kind = "dir" | "other" | null;
function kindOf(path: string): Kind {
  try {
    return statSync(path).isDirectory() ? "dir" : "other";
  } catch {
    return null;
  }
}

function hideArgs(path: string): string[] {
  // Under a private tmpfs already, and bwrap would have to create a mount point for it.
  if (PRIVATE_DIRS.some((d) => isWithin(path, d))) return [];
  const kind = kindOf(path);
  if (kind === "dir") return ["--tmpfs", path];
  if (kind === "other") return ["--ro-bind", "/dev/null", path];
  return [];
}

/** Hidden paths without those inside another hidden one (already gone with it). */
function outermost(paths: readonly string[]): string[] {
  const unique = [...new Set(paths)];
  return unique.filter((p) => !unique.some((q) => q !== p && isWithin(p, q) && kindOf(q) === "dir"));
}

export function bwrapArgs(spec: BoxSpec): string[] {
  if (spec.cwd === "/") {
    throw new BrokerError("ERR_SANDBOX_PATH", "the working directory is / : confined, it would be read-write in full", { fix: "cd to the project directory first, or pass --no-sandbox" });
  }
  const hiding = spec.hide.find((h) => isWithin(spec.cwd, h));
  if (hiding !== undefined) {
    throw new BrokerError("ERR_SANDBOX_PATH", `the working directory ${spec.cwd} is inside ${hiding}, which the sandbox hides`, { fix: "run from a directory outside it" });
  }
  return [
    "--unshare-all", // user (where needed), ipc, pid, net, uts, cgroup
    "--die-with-parent",
    "--new-session", // no TIOCSTI into the operator's terminal
    "--ro-bind", "/", "/",
    "--dev", "/dev",
    "--tmpfs", "/dev/shm",
    "--proc", "/proc",
    ...PRIVATE_DIRS.flatMap((d) => ["--tmpfs", d]),
    // Before the read-write binds: one of those may lie inside a kept install (a CI checkout's cwd).
    ...(spec.keep ?? []).flatMap((p) => ["--ro-bind", p, p]),
    "--bind", spec.cwd, spec.cwd,
    ...spec.write.flatMap((p) => ["--bind", p, p]),
    ...outermost(spec.hide).flatMap(hideArgs),
    ...spec.mounts.flatMap((m) => ["--ro-bind", m.source, m.target]),
    "--chdir", spec.cwd,
    "--info-fd", String(spec.infoFd),
  ];
}
