/**
 * The `broker` entry point. Each command is imported only when it runs, so `broker --help`
 * and the client commands never load fastify, the AWS SDK or Octokit.
 */
import { BrokerError, Exit, isBrokerError } from "../errors.js";
import { closest } from "../policy/closest.js";
import type { Command, CommandContext } from "./context.js";

const COMMANDS: Record<string, () => Promise<{ default: Command }>> = {
  daemon: () => import("./commands/daemon.js"),
  secret: () => import("./commands/secret.js"),
  policy: () => import("./commands/policy.js"),
  mint: () => import("./commands/mint.js"),
  run: () => import("./commands/run.js"),
  sessions: () => import("./commands/sessions.js"),
  revoke: () => import("./commands/revoke.js"),
  "credential-process": () => import("./commands/credential-process.js"),
  "git-credential": () => import("./commands/git-credential.js"),
  doctor: () => import("./commands/doctor.js"),
  approvals: () => import("./commands/approvals.js"),
  approve: () => import("./commands/approve.js"),
  deny: () => import("./commands/deny.js"),
};

export async function main(argv: string[], ctx: Omit<CommandContext, "args">): Promise<number> {
  const [first, ...rest] = argv;
  // `broker help run` is `broker run --help`.
  const asksHelpOf = first === "help" && rest[0] !== undefined ? rest[0] : undefined;
  const [name, args] = asksHelpOf !== undefined ? [asksHelpOf, ["--help"]] : [first, rest];
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    ctx.stdout.write((await import("./help.js")).HELP);
    return name === undefined ? Exit.usage : Exit.ok;
  }
  if (name === "--version" || name === "-v") {
    const { packageVersion } = await import("./version.js");
    ctx.stdout.write(`${packageVersion()}\n`);
    return Exit.ok;
  }
  const load = COMMANDS[name];
  if (!load) {
    const near = closest(name, Object.keys(COMMANDS));
    return reportError(ctx.stderr, new BrokerError("ERR_USAGE", `unknown command "${name.slice(0, 40)}"${near ? ` (did you mean ${near}?)` : ""}`, { fix: "run `broker --help` for the list of commands" }));
  }
  try {
    const command = (await load()).default;
    // Not `{ ...ctx, args }`: spreading would read every getter, and bin.ts makes `stdin` one.
    return await command(Object.defineProperties({ args } as CommandContext, Object.getOwnPropertyDescriptors(ctx)));
  } catch (error) {
    return reportError(ctx.stderr, error);
  }
}

/** Prints what a person needs (message and fix), never a stack, and returns the exit code. */
export function reportError(stderr: NodeJS.WritableStream, error: unknown): number {
  if (isBrokerError(error)) {
    stderr.write(`broker: ${error.message} [${error.code}]\n`);
    if (error.fix) stderr.write(`  fix: ${error.fix}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  stderr.write(`broker: unexpected error: ${message} [ERR_INTERNAL]\n`);
  if (process.env.BROKER_DEBUG && error instanceof Error) stderr.write(`${error.stack}\n`);
  return Exit.error;
}
