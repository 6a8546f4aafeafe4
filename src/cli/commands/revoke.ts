/** `broker revoke ID | --task T | --all`: end sessions, revoking their credentials and removing their files. */
import { BrokerClient } from "../../client/broker-client.js";
import { BrokerError } from "../../errors.js";
import { parseCommandArgs, stringFlag } from "../args.js";
import { printJson, type CommandContext } from "../context.js";

const USAGE = "broker revoke ID | --task T | --all";

export default async function revoke(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, { task: { type: "string" }, all: { type: "boolean" } }, ctx.env);
  if (parsed.values.help) {
    ctx.stdout.write(`usage: ${USAGE}\n`);
    return 0;
  }
  const task = stringFlag(parsed, "task");
  const all = parsed.values.all === true;
  const ids = parsed.positionals;
  if ([ids.length > 0, task !== undefined, all].filter(Boolean).length !== 1) {
    throw new BrokerError("ERR_USAGE", "name session ids, or --task T, or --all (exactly one of them)", { fix: `usage: ${USAGE}` });
  }
  const client = new BrokerClient(parsed.places.socket);
  const targets = ids.length > 0 ? ids : (await client.listSessions()).filter((s) => all || s.task === task).map((s) => s.id);
  const revoked: string[] = [];
  for (const id of targets) {
    try {
      await client.closeSession(id);
      revoked.push(id);
    } catch (error) {
      // A session that ended between the listing and the DELETE is already what we wanted.
      if (!(error instanceof BrokerError && error.code === "ERR_SESSION_NOT_FOUND" && ids.length === 0)) throw error;
    }
  }
  if (parsed.json) printJson(ctx.stdout, { revoked });
  else ctx.stdout.write(`revoked ${revoked.length} session(s)${revoked.length ? `: ${revoked.join(", ")}` : ""}\n`);
  return 0;
}
