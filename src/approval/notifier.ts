/**
 * Tells a person that a request waits for approval. `--notify-command CMD` (or
 * BROKER_NOTIFY_COMMAND) is run without a shell, with the request's summary as JSON on its stdin
 * (no secret is in it); else `notify-send` if it is on PATH; else nothing. A notifier that fails
 * or hangs is logged and stopped after a while; it never decides anything.
 */
import { spawn } from "node:child_process";
import { delimiter } from "node:path";
import type { Logger } from "../daemon/logger.js";
import { findOnPath } from "../util/find-on-path.js";

export type Notifier = (summary: PendingNotice) => void;

export interface PendingNotice {
  id: string;
  task: string;
  repositories: string[] | null;
  permissions: Record<string, string>;
  ttlSeconds: number;
  reasons: string[];
  requester: { pid: number | null; executable: string | null; cwd: string | null };
  parentSession: string | null;
  expiresAt: string;
}

const NOTIFIER_TIMEOUT_MS = 10_000;

function run(logger: Logger, file: string, args: string[], input: string, env: NodeJS.ProcessEnv): void {
  const child = spawn(file, args, { shell: false, stdio: ["pipe", "ignore", "ignore"], env, detached: false });
  const timer = setTimeout(() => child.kill("SIGKILL"), NOTIFIER_TIMEOUT_MS);
  timer.unref();
  child.on("error", (error: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    logger.log("warn", "the approval notifier could not be started", { notifier: file, code: error.code ?? "error" });
  });
  child.on("exit", (code, signal) => {
    clearTimeout(timer);
    if (code !== 0) logger.log("warn", "the approval notifier failed", { notifier: file, exitCode: code, signal });
  });
  child.stdin.on("error", () => undefined);
  child.stdin.end(input);
}

/** `command`: an executable's path (no arguments, no shell); undefined: notify-send, if there is one. */
export function createNotifier(command: string | undefined, logger: Logger, env: NodeJS.ProcessEnv): Notifier {
  // The notifier gets no BROKER_* variable (the store passphrase is gone already; keep it that way).
  const childEnv = Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith("BROKER_")));
  if (command) return (notice) => run(logger, command, [], `${JSON.stringify(notice)}\n`, childEnv);
  // Only absolute PATH entries: the daemon's working directory is nobody's choice of notifier.
  const notifySend = findOnPath("notify-send", (env.PATH ?? "").split(delimiter).filter((dir) => dir.startsWith("/")).join(delimiter));
  if (!notifySend) return () => undefined;
  return (notice) => {
    const what = notice.repositories === null ? "all repositories" : notice.repositories.join(", ") || "no repositories";
    run(logger, notifySend, ["--", `broker: approve ${notice.task}?`, `${what}; pid ${notice.requester.pid ?? "?"}\nbroker approve ${notice.id}`], "", childEnv);
  };
}
