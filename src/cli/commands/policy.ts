/**
 * `broker policy check [DIR]`: validate every policy, one `file:line: field: problem` line per error;
 * then, when the store can be opened, a warning per secret a policy names that the store lacks.
 */
import { BrokerError } from "../../errors.js";
import { loadPolicies } from "../../policy/load-policies.js";
import { formatMissingSecret, missingSecrets, type MissingSecret } from "../../policy/missing-secrets.js";
import type { Policy } from "../../policy/types.js";
import { formatProblem } from "../../policy/validate-policy.js";
import { openStore } from "../../store/open-store.js";
import type { Places } from "../places.js";
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
  const secrets = await checkSecrets(policies, parsed.places, ctx.env);
  if (parsed.json) {
    printJson(ctx.stdout, { dir, tasks: [...policies.keys()].sort(), problems, warnings: secrets.missing ?? [], ...(secrets.unchecked ? { secretsUnchecked: secrets.unchecked } : {}) });
  } else {
    if (problems.length > 0) for (const p of problems) ctx.stdout.write(`${formatProblem(p)}\n`);
    else ctx.stdout.write(`${policies.size} polic${policies.size === 1 ? "y" : "ies"} OK in ${dir}: ${[...policies.keys()].sort().join(", ")}\n`);
    for (const m of secrets.missing ?? []) ctx.stdout.write(`${formatMissingSecret(m)}\n`);
    if (secrets.unchecked) ctx.stderr.write(`broker: secrets not checked: ${secrets.unchecked}\n`);
  }
  // Warnings leave the exit code alone: a policy may be written before its secret is set.
  return problems.length > 0 ? 1 : 0;
}

/** The store may be locked or unreachable here (the daemon may start before it is unlocked): then say so and go on. */
async function checkSecrets(policies: Map<string, Policy>, places: Places, env: NodeJS.ProcessEnv): Promise<{ missing?: MissingSecret[]; unchecked?: string }> {
  if (policies.size === 0) return {};
  try {
    const store = await openStore(places, env);
    return { missing: missingSecrets(policies, await store.list()) };
  } catch (error) {
    return { unchecked: `the store could not be opened (${error instanceof Error ? error.message : String(error)})` };
  }
}
