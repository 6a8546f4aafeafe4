/**
 * `broker run --task T … -- CMD`: open a session bound to this process's own connection to the
 * daemon, run CMD with the session's credentials, forward signals, and end the session when CMD
 * exits. If this process is killed outright, the daemon sees the connection close and ends it.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { constants } from "node:os";
import { BrokerClient, type SessionCredentials } from "../../client/broker-client.js";
import { BrokerError } from "../../errors.js";
import { buildChildEnv } from "../../sinks/child-env.js";
import { parseDotenv, resolveEnvEntries } from "../../sinks/env-file.js";
import { parseCommandArgs, splitAtDoubleDash, stringFlag } from "../args.js";
import type { CommandContext } from "../context.js";
import { SESSION_OPTIONS, sessionRequestFromFlags } from "../session-request.js";
import { credentialValues, pipeOutput, startMaskRefresh } from "../run-output.js";

const USAGE =
  "broker run --task T [--ttl DUR] [--sandbox DIR | --sandbox-tmp] [--sandbox-path P] [--env-file F] [--no-env] [--aws-endpoint] [--no-masking] [--keep-socket] [--nested] -- CMD [ARGS…]";
const FORWARDED = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH"] as const;

const RUN_OPTIONS = {
  ...SESSION_OPTIONS,
  "sandbox-tmp": { type: "boolean" },
  "env-file": { type: "string" },
  "no-env": { type: "boolean" },
  "aws-endpoint": { type: "boolean" },
  "no-masking": { type: "boolean" },
  "keep-socket": { type: "boolean" },
  nested: { type: "boolean" },
} as const;

export default async function run(ctx: CommandContext): Promise<number> {
  const { own, rest: command } = splitAtDoubleDash(ctx.args);
  const parsed = parseCommandArgs(own, RUN_OPTIONS, ctx.env);
  if (parsed.values.help) {
    ctx.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  if (command.length === 0) throw new BrokerError("ERR_USAGE", "no command to run", { fix: `usage: ${USAGE}` });
  if (ctx.env.BROKER_SESSION && parsed.values.nested !== true) {
    throw new BrokerError("ERR_NESTED_SESSION", `already inside broker session ${ctx.env.BROKER_SESSION}`, { fix: "pass --nested to open another session inside this one on purpose" });
  }
  const request = await sessionRequestFromFlags(parsed, USAGE, { sandboxTmp: parsed.values["sandbox-tmp"] === true });
  const envFilePath = stringFlag(parsed, "env-file");
  const envFile = envFilePath === undefined ? undefined : parseDotenv(await readEnvFile(envFilePath), envFilePath);

  const client = new BrokerClient(parsed.places.socket);
  const bound = await client.openBoundSession(request);
  const session = bound.session;
  // DELETE answers once revocation and file removal are done: the session is over before we
  // exit, on every path (CMD exited, CMD could not start, a bad --env-file reference).
  let ending: Promise<void> | undefined;
  const endSession = (): Promise<void> => (ending ??= client.closeSession(session.id).catch(() => undefined));
  let endpoint: { url: string; token: string; close(): Promise<void> } | undefined;
  try {
    const credentials = session.credentials ?? { env: {} };
    const extra = envFile === undefined ? {} : resolveEnvEntries(envFile, { ...session, credentials }, envFilePath);
    if (parsed.values["aws-endpoint"] === true) {
      if (!credentials.aws) throw new BrokerError("ERR_USAGE", `--aws-endpoint: task "${session.task}" gives no AWS credentials`, { fix: "drop --aws-endpoint or use a task with an aws: block" });
      const { startAwsEndpoint } = await import("../../sinks/aws-endpoint.js");
      // Only an ended session answers 404; any other failure becomes a 5xx the SDKs retry.
      endpoint = await startAwsEndpoint(async () => {
        try {
          return (await client.credentials(session.id)).aws ?? null;
        } catch (error) {
          if (error instanceof BrokerError && error.code === "ERR_SESSION_NOT_FOUND") return null;
          throw error;
        }
      });
    }
    const env = {
      ...buildChildEnv(ctx.env, { ...session, credentials }, {
        noEnv: parsed.values["no-env"] === true,
        keepSocket: parsed.values["keep-socket"] === true,
        ...(session.sandbox ? { sandboxDir: session.sandbox.dir } : {}),
        ...(endpoint ? { awsEndpoint: { url: endpoint.url, token: endpoint.token } } : {}),
      }),
      ...extra,
    };
    const masking = parsed.values["no-masking"] !== true;
    return await runChild(command, env, ctx, {
      secrets: masking ? credentialValues(credentials) : null,
      fetch: () => client.credentials(session.id),
      // The session ends when CMD exits, not when its output does: a background child of CMD
      // may hold the pipes open long after; its output is still masked, but it has no session.
      onExit: () => void endSession(),
    });
  } finally {
    await endpoint?.close();
    await endSession();
    bound.release();
  }
}

async function readEnvFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new BrokerError("ERR_USAGE", `cannot read --env-file ${path} (${(error as NodeJS.ErrnoException).code})`, { fix: "check the path" });
  }
}

interface ChildOptions {
  /** null: masking is off. */
  secrets: string[] | null;
  fetch: () => Promise<SessionCredentials>;
  onExit: () => void;
}

function runChild(command: string[], env: NodeJS.ProcessEnv, ctx: CommandContext, options: ChildOptions): Promise<number> {
  const { secrets } = options;
  const out = ctx.stdout as NodeJS.WriteStream;
  const err = ctx.stderr as NodeJS.WriteStream;
  const maskOut = secrets !== null && !out.isTTY;
  const maskErr = secrets !== null && !err.isTTY;
  const child = spawn(command[0]!, command.slice(1), { env, stdio: ["inherit", maskOut ? "pipe" : "inherit", maskErr ? "pipe" : "inherit"] });
  const piped = pipeOutput(child, { stdout: maskOut ? out : null, stderr: maskErr ? err : null }, secrets ?? []);
  const stopRefresh = maskOut || maskErr ? startMaskRefresh(piped.maskers, options.fetch) : () => undefined;
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  let exited = false;
  const onExit = (): void => {
    if (exited) return;
    exited = true;
    stopRefresh();
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
    child.once("close", (code, signal) => {
      onExit();
      void piped.done.then(() => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    });
  });
}
