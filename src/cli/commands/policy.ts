/** `broker policy check [DIR]`: validate every policy, one `file:line: field: problem` line per error. */
import { BrokerError } from "../../errors.js";
import { loadPolicies } from "../../policy/load-policies.js";
import { formatProblem } from "../../policy/validate-policy.js";
import { parseCommandArgs } from "../args.js";
import { printJson, type CommandContext } from "../context.js";

export default async function policy(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, {}, ctx.env, "policy");
  const [sub, dirArg, ...extra] = parsed.positionals;
  if (parsed.values.help || sub !== "check" || extra.length > 0) {
    if (parsed.values.help) {
      ctx.stdout.write("usage: broker policy check [DIR]\n");
      return 0;
    }
    throw new BrokerError("ERR_USAGE", sub === undefined ? "missing subcommand" : `unknown arguments: ${[sub, dirArg, ...extra].filter(Boolean).join(" ")}`, { fix: "usage: broker policy check [DIR]" });
  }
  const dir = dirArg ?? parsed.places.policies;
  const { policies, problems } = await loadPolicies(dir);
  if (parsed.json) printJson(ctx.stdout, { dir, tasks: [...policies.keys()].sort(), problems });
  else if (problems.length > 0) for (const p of problems) ctx.stdout.write(`${formatProblem(p)}\n`);
  else ctx.stdout.write(`${policies.size} polic${policies.size === 1 ? "y" : "ies"} OK in ${dir}: ${[...policies.keys()].sort().join(", ")}\n`);
  return problems.length > 0 ? 1 : 0;
}
