/**
 * `broker credential-process --task T`: AWS `credential_process` output. Inside a session
 * (BROKER_SESSION set) it answers with that session's current credentials instead of opening one.
 *
 * Outside a session it opens one, prints its AWS credentials and ends it again. AWS tools run
 * the process on every start, so a session kept until its TTL would pile up one per `aws`
 * command and hit max_sessions; ending it costs nothing, since STS credentials cannot be revoked
 * and stay valid until their Expiration (the audit log records them as not-revocable with that
 * time), while anything else the task minted (a GitHub token nobody here prints) is revoked.
 */
import { BrokerClient } from "../../client/broker-client.js";
import { parseCommandArgs, requireFlag, stringFlag } from "../args.js";
import { credentialProcessOutput } from "../aws-process-output.js";
import type { CommandContext } from "../context.js";

const USAGE = "broker credential-process --task T [--ttl DUR]";

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
  const ttl = stringFlag(parsed, "ttl");
  // Bound to this connection: if this process dies before closing it, the daemon ends it anyway.
  const bound = await client.openBoundSession({ task, ...(ttl === undefined ? {} : { ttl }) });
  try {
    ctx.stdout.write(`${credentialProcessOutput(bound.session.credentials ?? { env: {} }, task)}\n`);
    // Should this fail, releasing the connection below ends the session all the same.
    await client.closeSession(bound.session.id).catch(() => undefined);
    return 0;
  } finally {
    bound.release();
  }
}
