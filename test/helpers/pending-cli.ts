/** A `broker` CLI run left running (an open waiting for approval), with its stderr watched for the request id. */
import { spawn, type ChildProcess } from "node:child_process";
import { CLI, type CliResult } from "./cli.js";
import { waitFor } from "./daemon.js";

export interface RunningCli {
  child: ChildProcess;
  /** The id from `waiting for approval: broker approve ID`, once the CLI printed it. */
  pendingId(): Promise<string>;
  result: Promise<CliResult>;
  stderr(): string;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): RunningCli {
  const child = spawn(process.execPath, ["--", CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin!.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    result,
    stderr: () => stderr,
    pendingId: () => waitFor(() => /^waiting for approval: broker approve (\S+)$/m.exec(stderr)?.[1], 15_000),
  };
}
