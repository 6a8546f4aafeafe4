/** `broker deny ID [--reason TEXT]`: refuses a waiting session request; its caller gets ERR_APPROVAL_DENIED (exit 3) and the reason. */
import { BrokerClient } from "../../client/broker-client.js";
import { BrokerError } from "../../errors.js";
import { parseCommandArgs, stringFlag } from "../args.js";
import { commandHelp } from "../command-help.js";
import type { CommandContext } from "../context.js";

const USAGE = "broker deny ID [--reason TEXT]";
const OPTIONS = { reason: { type: "string" } } as const;
const HELP = commandHelp(USAGE, "Denies a session request waiting for approval (see `broker approvals`).", OPTIONS, {
  reason: ["TEXT", "told to the requester and written to the audit log (control characters removed, at most 200 characters)"],
});

export default async function deny(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, OPTIONS, ctx.env, "deny");
  if (parsed.values.help) {
    ctx.stdout.write(HELP);
    return 0;
  }
  const [id, ...extra] = parsed.positionals;
  if (id === undefined || extra.length > 0) throw new BrokerError("ERR_USAGE", "name one request id", { fix: `usage: ${USAGE}; the ids are in \`broker approvals\`` });
  await new BrokerClient(parsed.places.socket).deny(id, stringFlag(parsed, "reason"));
  ctx.stdout.write(`denied ${id}\n`);
  return 0;
}
