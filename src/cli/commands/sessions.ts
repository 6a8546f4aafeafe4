/** `broker sessions`: the live sessions, without credentials. */
import { BrokerClient } from "../../client/broker-client.js";
import { parseCommandArgs } from "../args.js";
import { printJson, type CommandContext } from "../context.js";

export default async function sessions(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, {}, ctx.env, "sessions");
  if (parsed.values.help) {
    ctx.stdout.write("usage: broker sessions [--json]\n");
    return 0;
  }
  const list = await new BrokerClient(parsed.places.socket).listSessions();
  if (parsed.json) {
    printJson(ctx.stdout, list);
    return 0;
  }
  if (list.length === 0) {
    ctx.stdout.write("no live sessions\n");
    return 0;
  }
  const rows = list.map((s) => [s.id, s.task, s.createdAt, s.expiresAt, s.sandbox?.dir ?? "-"]);
  const header = ["ID", "TASK", "CREATED", "EXPIRES", "SANDBOX"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) ctx.stdout.write(`${row.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
  return 0;
}
