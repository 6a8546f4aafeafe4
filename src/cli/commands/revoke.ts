/** `broker revoke ID | --task T | --all`: end sessions, revoking their credentials and removing their files. */
import { BrokerClient } from "../../client/broker-client.js";
import { BrokerError } from "../../errors.js";
import { parseCommandArgs, stringFlag } from "../args.js";
import { printJson, type CommandContext } from "../context.js";
import { endEach } from "../../util/end-each.js";

const USAGE = "broker revoke ID | --task T | --all";

export default async function revoke(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, { task: { type: "string" }, all: { type: "boolean" } }, ctx.env, "revoke");
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
  // With --task the daemon answers ERR_TASK_UNKNOWN for a name it has no policy for (a typo).
  const revoked = ids.length > 0 ? await closeAll(client, ids, false) : await closeListed(client, all ? { all: true } : { task: task! });
  if (parsed.json) printJson(ctx.stdout, { revoked });
  else ctx.stdout.write(`revoked ${revoked.length} session(s)${revoked.length ? `: ${revoked.join(", ")}` : ""}\n`);
  return 0;
}

/** One request ends them all in the daemon; a daemon older than that route gets one DELETE per listed session. */
async function closeListed(client: BrokerClient, which: { task: string } | { all: true }): Promise<string[]> {
  try {
    return await client.closeSessions(which);
  } catch (error) {
    if (!(error instanceof BrokerError && error.code === "ERR_ROUTE_NOT_FOUND")) throw error;
  }
  const listed = await client.listSessions("task" in which ? which.task : undefined);
  return closeAll(client, listed.filter((s) => !("task" in which) || s.task === which.task).map((s) => s.id), true);
}

/** DELETEs issued this many at a time: one by one, ending 10,000 sessions took half a minute. */
const IN_FLIGHT = 16;

/** Ends `targets` with one DELETE each; a listed session that ended since the listing is skipped, a named one is an error. */
function closeAll(client: BrokerClient, targets: string[], listed: boolean): Promise<string[]> {
  const gone = (error: unknown) => listed && error instanceof BrokerError && error.code === "ERR_SESSION_NOT_FOUND";
  return endEach(targets, IN_FLIGHT, (id) => client.closeSession(id), gone);
}
