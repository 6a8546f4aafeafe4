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
import { BrokerError } from "../../errors.js";
import { approvalNotice } from "../approval-notice.js";
import { parseCommandArgs, stringFlag } from "../args.js";
import { credentialProcessOutput } from "../aws-process-output.js";
import type { CommandContext } from "../context.js";
import { chooseSession, withInherited } from "../session-choice.js";

const USAGE = "broker credential-process --task T [--ttl DUR]";

export default async function credentialProcess(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, { task: { type: "string" }, ttl: { type: "string" } }, ctx.env);
  if (parsed.values.help) {
    ctx.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const client = new BrokerClient(parsed.places.socket);
  const choice = await chooseSession(client, ctx.env, stringFlag(parsed, "task"));
  if (!choice) throw new BrokerError("ERR_USAGE", "--task is required", { fix: `usage: ${USAGE}` });
  if (choice.kind === "session") {
    const credentials = await client.credentials(choice.id);
    ctx.stdout.write(`${credentialProcessOutput(credentials, ctx.env.BROKER_TASK ?? stringFlag(parsed, "task") ?? "?")}\n`);
    return 0;
  }
  const { task } = choice;
  const ttl = stringFlag(parsed, "ttl");
  // Bound to this connection: if this process dies before closing it, the daemon ends it anyway.
  // `requires`: a task without AWS is refused before a session opens, so none is left behind.
  const bound = await client.openBoundSession({ task, requires: ["aws"], ...(ttl === undefined ? {} : { ttl }) }, approvalNotice(ctx.stderr)).catch((error: unknown) => {
    throw withInherited(error, choice);
  });
  try {
    ctx.stdout.write(`${credentialProcessOutput(bound.session.credentials ?? { env: {} }, task)}\n`);
    return 0;
  } finally {
    // On every path, printed or not; should this fail, releasing the connection ends it all the same.
    await client.closeSession(bound.session.id).catch(() => undefined);
    bound.release();
  }
}
