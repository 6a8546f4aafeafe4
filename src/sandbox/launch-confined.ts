/**
 * Starts CMD in the box and keeps hold of it: bwrap tells us its init's pid (fd 3), the bridge
 * program says when the box is up (fd 4). bwrap forwards no signals, so `signal` finds CMD itself
 * (PID 2 of the box's namespace: the first child of its init) and signals it directly.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { bridgeCommand, READY_FD, type Bridge } from "./bridge-command.js";
import { bwrapArgs, type BoxSpec } from "./bwrap-args.js";

const INFO_FD = 3;

export interface ConfinedChild {
  child: ChildProcess;
  /** True once the box is up and CMD is about to start; false if bwrap gave up first. */
  started: Promise<boolean>;
  /** Sends a signal to CMD inside the box (to bwrap while CMD has not started yet). */
  signal(signal: NodeJS.Signals): void;
}

export interface ConfinedLaunch {
  box: Omit<BoxSpec, "infoFd">;
  /** The bridge program's path (findBridge): the box's first process, visible inside. */
  bridge: string;
  bridges: readonly Bridge[];
  /** The whole environment CMD gets: given to bwrap, which passes it on (never in argv). */
  env: Record<string, string>;
  stdio: ["inherit", "inherit" | "pipe", "inherit" | "pipe"];
}

/** Host pid of the process whose pid in its own namespace is `nsPid`, among `parent`'s children. */
function childWithNsPid(parent: number, nsPid: number): number | null {
  let children: string[];
  try {
    children = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  } catch {
    return null;
  }
  for (const pid of children) {
    try {
      const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("NSpid:"));
      if (line?.trim().split(/\s+/).at(-1) === String(nsPid)) return Number(pid);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** Whether /proc/PID still names a process (its task dir exists). */
const exists = (pid: number): boolean => {
  try {
    readdirSync(`/proc/${pid}/task`);
    return true;
  } catch {
    return false;
  }
};

export function launchConfined(command: readonly string[], launch: ConfinedLaunch): ConfinedChild {
  const args = [...bwrapArgs({ ...launch.box, infoFd: INFO_FD }), "--", ...bridgeCommand(launch.bridge, launch.bridges, command)];
  const stdio: StdioOptions = [...launch.stdio, "pipe", "pipe"];
  const child = spawn("bwrap", args, { env: launch.env, stdio });
  let initPid: number | null = null;
  let cmdPid: number | null = null;
  const infoPipe = child.stdio[INFO_FD] as Readable;
  const readyPipe = child.stdio[READY_FD] as Readable;
  let info = "";
  infoPipe.on("data", (chunk: Buffer) => {
    info += chunk.toString("utf8");
    const match = /"child-pid":\s*(\d+)/.exec(info);
    if (match) initPid = Number(match[1]);
  });
  const started = new Promise<boolean>((resolve) => {
    readyPipe.once("data", () => resolve(true));
    child.once("exit", () => resolve(false));
    child.once("error", () => resolve(false));
  });
  // Both pipes end when the box does; errors on them are the box going away.
  infoPipe.on("error", () => undefined);
  readyPipe.on("error", () => undefined).resume();

  return {
    child,
    started,
    signal(signal) {
      if (cmdPid === null && initPid !== null) cmdPid = childWithNsPid(initPid, 2);
      if (cmdPid !== null && exists(cmdPid)) {
        try {
          process.kill(cmdPid, signal);
          return;
        } catch {
          // exited meanwhile: bwrap is about to exit too
        }
      }
      if (cmdPid === null) child.kill(signal);
    },
  };
}
