/** `broker mint --task T`: open a session that lives until its TTL or `broker revoke`, and print its credentials. */
import { BrokerClient, type SessionView } from "../../client/broker-client.js";
import { BrokerError } from "../../errors.js";
import { parseCommandArgs, stringFlag } from "../args.js";
import { printJson, type CommandContext } from "../context.js";
import { approvalNotice, parentOf } from "../approval-notice.js";
import { commandHelp } from "../command-help.js";
import { mintEnvDelivery, printWarnings } from "../env-delivery.js";
import { SESSION_FLAG_HELP, SESSION_OPTIONS, sessionRequestFromFlags } from "../session-request.js";

const USAGE =
  "broker mint --task T [--ttl DUR] [--format json|env|dotenv|credential-process] [--sandbox DIR [--sandbox-path P]] [--repositories a,b] [--permissions k=v,…]";
const FORMATS = ["json", "env", "dotenv", "credential-process"] as const;
const MINT_OPTIONS = { ...SESSION_OPTIONS, format: { type: "string" } } as const;
const HELP = commandHelp(USAGE, "Opens a session that lives until its TTL or `broker revoke`, and prints its credentials.", MINT_OPTIONS, {
  ...SESSION_FLAG_HELP,
  format: ["F", "json (default), env (export K='V' lines), dotenv (K=V) or credential-process (AWS)"],
});

export default async function mint(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, MINT_OPTIONS, ctx.env, "mint");
  if (parsed.values.help) {
    ctx.stdout.write(HELP);
    return 0;
  }
  const format = stringFlag(parsed, "format") ?? "json";
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new BrokerError("ERR_USAGE", `unknown --format ${JSON.stringify(format)}`, { fix: `use one of: ${FORMATS.join(", ")}` });
  }
  const request = await sessionRequestFromFlags(parsed, USAGE);
  const envDelivery = mintEnvDelivery(format);
  // Checked by the daemon against the task before it opens anything.
  if (format === "credential-process") request.requires = ["aws"];
  const client = new BrokerClient(parsed.places.socket);
  const session = await client.openSession({ ...request, ...(envDelivery.length > 0 ? { envDelivery } : {}), ...parentOf(ctx.env) }, approvalNotice(ctx.stderr));
  printWarnings(ctx.stderr, session);
  try {
    await printSession(ctx, session, format);
  } catch (error) {
    // Nobody got the credentials (or an answer set PATH, say): the session must not live on until its TTL.
    await client.closeSession(session.id).catch(() => undefined);
    throw error;
  }
  return 0;
}

async function printSession(ctx: CommandContext, session: SessionView, format: string): Promise<void> {
  const credentials = session.credentials ?? { env: {} };
  // The other formats' code is loaded only when asked for: `broker mint` is on agents' hot path.
  if (format === "json") printJson(ctx.stdout, session);
  else if (format === "credential-process") {
    const { credentialProcessOutput } = await import("../aws-process-output.js");
    ctx.stdout.write(`${credentialProcessOutput(credentials, session.task)}\n`);
  } else {
    const [{ sessionEnvVars }, { formatDotenv, formatShellExports }] = await Promise.all([import("../../sinks/child-env.js"), import("../../sinks/env-file.js")]);
    const vars = sessionEnvVars({ ...session, credentials }, session.sandbox?.path);
    ctx.stdout.write(format === "env" ? formatShellExports(vars) : formatDotenv(vars));
  }
}
