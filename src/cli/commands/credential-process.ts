/**
 * `broker credential-process --task T`: AWS `credential_process` output. Inside a session
 * (BROKER_SESSION set) it answers with that session's current credentials instead of opening one.
 */
import { BrokerClient } from "../../client/broker-client.js";
import { parseCommandArgs, requireFlag, stringFlag } from "../args.js";
import { credentialProcessOutput } from "../aws-process-output.js";
import type { CommandContext } from "../context.js";

const USAGE = "broker credential-process --task T";

export default async function credentialProcess(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, { task: { type: "string" }, ttl: { type: "string" } }, ctx.env);
  if (parsed.values.help) {
    ctx.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const client = new BrokerClient(parsed.places.socket);
  const sessionId = ctx.env.BROKER_SESSION;
  if (sessionId) {
    const credentials = await client.credentials(sessionId);
    ctx.stdout.write(`${credentialProcessOutput(credentials, ctx.env.BROKER_TASK ?? stringFlag(parsed, "task") ?? "?")}\n`);
    return 0;
  }
  const task = requireFlag(parsed, "task", USAGE);
  const session = await client.openSession({ task, ...(stringFlag(parsed, "ttl") ? { ttl: stringFlag(parsed, "ttl")! } : {}) });
  ctx.stdout.write(`${credentialProcessOutput(session.credentials ?? { env: {} }, task)}\n`);
  return 0;
}
