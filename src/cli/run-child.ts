/**
 * Runs `broker run`'s CMD (boxed or not, through a launcher), pipes its output through maskers
 * when it does not go to a terminal, forwards signals, and resolves with its exit code (128+N
 * when killed by signal N).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { BrokerError } from "../errors.js";
import type { CommandContext } from "./context.js";
import { pipeOutput, sameOutput } from "./run-output.js";

/** How long CMD has to exit after SIGTERM when its session ended under it, before SIGKILL. */
export const STOP_GRACE_MS = 10_000;

const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const;

export type ChildStdio = ["inherit", "inherit" | "pipe", "inherit" | "pipe"];

export interface Launched {
  child: ChildProcess;
  /** False when the launcher gave up before CMD could start (a sandbox that could not be made). */
  started: Promise<boolean>;
  signal(signal: NodeJS.Signals): void;
}

export type Launcher = (stdio: ChildStdio) => Launched;

export interface ChildOptions {
  /** null: masking is off. */
  secrets: string[] | null;
  /** Called once the maskers exist, with a function that teaches them new values (a refresh). */
  onMaskers?: (add: (values: string[]) => void) => void;
  /** Called once CMD is launched, with a function that stops it: SIGTERM, then SIGKILL after `stopGraceMs`. */
  onStoppable?: (stop: () => void) => void;
  stopGraceMs?: number;
  onExit: () => void;
  /** The error when `started` comes out false. */
  notStarted: () => BrokerError;
}

/** CMD as it is: a plain child process. */
export function unconfinedLauncher(command: string[], env: Record<string, string>): Launcher {
  return (stdio) => {
    const child = spawn(command[0]!, command.slice(1), { env, stdio });
    const started = new Promise<boolean>((resolve) => {
      child.once("spawn", () => resolve(true));
      child.once("error", () => resolve(false));
    });
    return { child, started, signal: (s) => void child.kill(s) };
  };
}

export function runChild(command: string[], launch: Launcher, ctx: CommandContext, options: ChildOptions): Promise<number> {
  const { secrets } = options;
  const out = ctx.stdout as NodeJS.WriteStream;
  const err = ctx.stderr as NodeJS.WriteStream;
  const maskOut = secrets !== null && !out.isTTY;
  const maskErr = secrets !== null && !err.isTTY;
  const { child, started, signal } = launch(["inherit", maskOut ? "pipe" : "inherit", maskErr ? "pipe" : "inherit"]);
  const merged = maskOut && maskErr && sameOutput(out, err);
  const piped = pipeOutput(child, { stdout: maskOut ? out : null, stderr: maskErr ? err : null }, secrets ?? [], merged);
  options.onMaskers?.((values) => {
    for (const m of piped.maskers) m.addSecrets(values);
  });
  const forward = (s: NodeJS.Signals) => signal(s);
  for (const s of FORWARDED) process.on(s, forward);
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;
  options.onStoppable?.(() => {
    if (exited || killTimer) return;
    signal("SIGTERM");
    killTimer = setTimeout(() => signal("SIGKILL"), options.stopGraceMs ?? STOP_GRACE_MS);
  });
  const onExit = (): void => {
    if (exited) return;
    exited = true;
    clearTimeout(killTimer);
    // Nothing left to forward to: from here a signal stops broker run itself, as it normally would.
    for (const s of FORWARDED) process.off(s, forward);
    options.onExit();
  };

  return new Promise((resolve, reject) => {
    child.once("exit", onExit);
    child.once("error", (error: NodeJS.ErrnoException) => {
      onExit();
      reject(new BrokerError("ERR_USAGE", `cannot run ${command[0]} (${error.code ?? error.message})`, { fix: "check the command name and PATH" }));
    });
    // "close": CMD has exited and its output has ended (every holder of the pipes is gone).
    child.once("close", (code, sig) => {
      onExit();
      void Promise.all([piped.done, started]).then(([, ok]) => {
        if (!ok) return reject(options.notStarted());
        resolve(code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0));
      });
    });
  });
}
