/**
 * Shared setup for the `broker run` tests: a real daemon with a static-provider task whose env
 * entries come from generic secrets with random values, and a way to drive long-lived runs.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { CLI } from "../helpers/cli.js";
import { startTestDaemon, waitFor, type TestDaemon } from "../helpers/daemon.js";

export const AGENT_POLICY = "task: agent\nttl: 5m\nmax_ttl: 1h\nenv:\n  DEMO_TOKEN: { secret: demo-token }\n  OTHER_KEY: { secret: other-key }\n";

export interface RunFixture {
  d: TestDaemon;
  /** Values of the generic secrets behind DEMO_TOKEN and OTHER_KEY. */
  demo: string;
  other: string;
  cleanup(): Promise<void>;
}

export const randomValue = (prefix: string): string => `${prefix}-${randomBytes(16).toString("hex")}`;

export async function startRunFixture(): Promise<RunFixture> {
  const d = await startTestDaemon({ policies: { agent: AGENT_POLICY } });
  const demo = randomValue("demo");
  const other = randomValue("other");
  for (const [name, value] of [["demo-token", demo], ["other-key", other]] as const) {
    const set = await d.cli(["secret", "set", name, "--type", "generic"], { input: `${value}\n` });
    if (set.code !== 0) throw new Error(`secret set ${name} failed: ${set.stderr}`);
  }
  return { d, demo, other, cleanup: () => d.cleanup() };
}

/** A node one-liner as CMD argv. */
export const nodeCmd = (script: string, ...args: string[]): string[] => [process.execPath, "-e", script, ...args];

/**
 * CMD that prints its whole environment as JSON with base64 values: the test sees the real
 * values although broker run masks credential values on a pipe.
 */
export const PRINT_ENV = nodeCmd(
  "process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(process.env).map(([k, v]) => [k, Buffer.from(v).toString('base64')]))))",
);

export function decodeEnv(stdout: string): Record<string, string> {
  const encoded = JSON.parse(stdout) as Record<string, string>;
  return Object.fromEntries(Object.entries(encoded).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
}

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches. */
  waitForStdout(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Starts `broker …` in the background (stdin a pipe the test may write to). */
export function startCli(d: TestDaemon, args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, ["--", CLI, ...args], { env: { ...d.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  running.add(child);
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitForStdout: (pattern, timeoutMs = 15_000) =>
      waitFor(() => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`broker exited early:\n${out}\n${err}`);
        return out.match(pattern) ?? undefined;
      }, timeoutMs).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; stdout so far: ${JSON.stringify(out)}, stderr: ${JSON.stringify(err)}`);
      }),
    exited,
  };
}

/** Kills whatever background CLIs a test left running. */
export function killLeftovers(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}

/** Kills a process by pid if it still exists (e.g. a CMD orphaned by a SIGKILLed broker run). */
export function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
