/**
 * Builds bubblewrap (`bwrap`) command lines for the "agent sandbox" the tests run CMD in: an
 * empty root with the system directories read-only, a private tmpfs HOME and /tmp, no network,
 * a cleared environment, and one host directory (the session's sandbox directory) bound
 * read-only at a path of our choosing.
 */
import { spawnSync } from "node:child_process";
import { lstatSync, readlinkSync } from "node:fs";

/** Stands for `$BROKER_SANDBOX_DIR` in `bindDir`: expanded by `inBrokerSandbox` at run time. */
export const SANDBOX_DIR = "@BROKER_SANDBOX_DIR@";

export interface BwrapOptions {
  /** Host directory to bind read-only (or SANDBOX_DIR). */
  bindDir: string;
  /** Where it appears inside, e.g. "/run/broker" (give the same to `--sandbox-path`). */
  at: string;
  /** The private, empty HOME inside (a tmpfs). */
  home?: string;
  /** Variables to set inside; the environment is cleared otherwise (PATH and HOME are set). */
  setenv?: Record<string, string>;
  /** More host paths to bind read-only at the same place (e.g. a tool installed outside /usr). */
  roBinds?: string[];
  /** Keep the host network namespace (default: none, only a private loopback). */
  network?: boolean;
}

/** Top-level system directories: bound read-only, or recreated as the symlinks they are (merged /usr). */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/** What programs need of /etc, without the rest (no host keys, no operator config). */
const ETC_FILES = ["passwd", "group", "nsswitch.conf", "hosts", "localtime", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "ca-certificates", "pki"];

function systemDirArgs(): string[] {
  const args: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    let isLink: boolean;
    try {
      isLink = lstatSync(dir).isSymbolicLink();
    } catch {
      continue; // not on this system
    }
    args.push(...(isLink ? ["--symlink", readlinkSync(dir), dir] : ["--ro-bind", dir, dir]));
  }
  for (const name of ETC_FILES) args.push("--ro-bind-try", `/etc/${name}`, `/etc/${name}`);
  return args;
}

/** bwrap's arguments (without "bwrap" and without the command). */
export function bwrapArgs(options: BwrapOptions): string[] {
  const home = options.home ?? "/home/agent";
  const env = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, ...options.setenv };
  return [
    "--unshare-all", // user, ipc, pid, net, uts, cgroup namespaces
    ...(options.network ? ["--share-net"] : []),
    "--die-with-parent",
    "--new-session", // no TIOCSTI into the operator's terminal
    "--clearenv",
    ...Object.entries(env).flatMap(([k, v]) => ["--setenv", k, v]),
    ...systemDirArgs(),
    ...(options.roBinds ?? []).flatMap((p) => ["--ro-bind", p, p]),
    "--proc", "/proc",
    "--dev", "/dev",
    "--tmpfs", "/tmp",
    "--tmpfs", home,
    "--ro-bind", options.bindDir, options.at,
    "--chdir", home,
  ];
}

/** ["bwrap", …args, "--", …command] for a known host directory (e.g. `--sandbox DIR`). */
export function bwrapCommand(options: BwrapOptions, command: string[]): string[] {
  return ["bwrap", ...bwrapArgs(options), "--", ...command];
}

/**
 * CMD for `broker run … -- <this>`: runs `command` in bwrap with the session's sandbox
 * directory ($BROKER_SANDBOX_DIR, known only once the session is open, e.g. with --sandbox-tmp)
 * bound at `options.at`. A tiny sh script swaps the SANDBOX_DIR placeholder for the variable.
 */
export function inBrokerSandbox(options: Omit<BwrapOptions, "bindDir">, command: string[]): string[] {
  // $0 is the placeholder; every argument equal to it becomes the directory's path.
  const swap = 'for a; do shift; [ "$a" = "$0" ] && a=$BROKER_SANDBOX_DIR; set -- "$@" "$a"; done; exec bwrap "$@"';
  return ["sh", "-c", swap, SANDBOX_DIR, ...bwrapArgs({ ...options, bindDir: SANDBOX_DIR }), "--", ...command];
}

/** Whether bwrap can make namespaces here (missing, or forbidden in some containers). */
export function bwrapWorks(): boolean {
  const probe = spawnSync("bwrap", [...bwrapArgs({ bindDir: "/usr", at: "/mnt/probe" }), "--", "true"], { stdio: "ignore" });
  return probe.status === 0;
}

/** Reads the `key=value` lines a probe script printed inside the sandbox (first `=` splits). */
export function parseReport(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}
