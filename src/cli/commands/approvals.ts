/** `broker approvals`: the session requests waiting for a person's approval (main socket only). */
import { BrokerClient } from "../../client/broker-client.js";
import { parseCommandArgs } from "../args.js";
import { formatPending } from "../approval-format.js";
import { printJson, type CommandContext } from "../context.js";

const USAGE = "broker approvals [--json]";
const HELP = `usage: ${USAGE}\n\nLists the session requests waiting for approval: id, task, what the session would get (the daemon's summary), and who asks.\n`;

export default async function approvals(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, {}, ctx.env, "approvals");
  if (parsed.values.help) {
    ctx.stdout.write(HELP);
    return 0;
  }
  const pending = await new BrokerClient(parsed.places.socket).listApprovals();
  if (parsed.json) printJson(ctx.stdout, pending);
  else if (pending.length === 0) ctx.stdout.write("no requests wait for approval\n");
  else ctx.stdout.write(pending.map(formatPending).join("\n"));
  return 0;
}
