/** `broker doctor`: check the store, the socket dir, the policies, the daemon, the sandbox and the clock; say how to fix each. */
import { lstatSync } from "node:fs";
import { dirname } from "node:path";
import { BrokerClient } from "../../client/broker-client.js";
import { loadPolicies } from "../../policy/load-policies.js";
import { formatProblem } from "../../policy/validate-policy.js";
import { privateDirProblem } from "../../daemon/socket-dir.js";
import { probeSandbox } from "../../sandbox/sandbox-available.js";
import { openStore } from "../../store/open-store.js";
import { parseCommandArgs, type ParsedArgs } from "../args.js";
import { printJson, type CommandContext } from "../context.js";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

async function check(name: string, run: () => Promise<string>): Promise<Check> {
  try {
    return { name, ok: true, detail: await run() };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const fix = (error as { fix?: unknown }).fix;
    return { name, ok: false, detail: message, ...(typeof fix === "string" ? { fix } : {}) };
  }
}

function fail(message: string, fix: string): never {
  throw Object.assign(new Error(message), { fix });
}

export async function runChecks(parsed: ParsedArgs, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const { places } = parsed;
  const checks: Check[] = [];
  checks.push(
    await check("store", async () => {
      const store = await openStore(places, env);
      const n = (await store.list()).length;
      return `${store.kind === "os" ? "OS keychain" : "encrypted file store"} reachable, ${n} secret(s)`;
    }),
  );
  checks.push(
    await check("socket dir", async () => {
      const dir = dirname(places.socket);
      let stats;
      try {
        stats = lstatSync(dir);
      } catch {
        return `${dir} does not exist yet (the daemon creates it 0700)`;
      }
      const problem = privateDirProblem(stats);
      if (problem) fail(`${dir} ${problem}`, `chmod 700 ${dir} (owned by you), or choose another --socket path`);
      return `${dir} is private (0700, yours)`;
    }),
  );
  checks.push(
    await check("policies", async () => {
      const { policies, problems } = await loadPolicies(places.policies);
      if (problems.length > 0) fail(`${problems.length} problem(s):\n    ${problems.map(formatProblem).join("\n    ")}`, `fix them, then \`broker policy check ${places.policies}\``);
      return `${policies.size} valid in ${places.policies}`;
    }),
  );
  checks.push(
    await check("daemon", async () => {
      const health = await new BrokerClient(places.socket).health();
      if (health.coreDumps === "on") fail(`the daemon on ${places.socket} could write a core file holding secrets`, "run a broker daemon of this version (it turns core dumps off at start), and restart it");
      const cores = health.coreDumps === "off" ? "core dumps off" : "core dumps: unknown";
      return `answering on ${places.socket} (version ${health.version}, ${health.sessions} live session(s), ${cores})`;
    }),
  );
  checks.push(await check("sandbox", async () => probeSandbox(env)));
  checks.push(
    await check("clock", async () => {
      const year = new Date().getUTCFullYear();
      if (year < 2024) fail(`the system clock says ${new Date().toISOString()}`, "set the clock (e.g. enable NTP: timedatectl set-ntp true); AWS and GitHub refuse requests from a skewed clock");
      return `${new Date().toISOString()} (AWS and GitHub refuse requests more than a few minutes off; keep NTP on)`;
    }),
  );
  return checks;
}

export default async function doctor(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, {}, ctx.env, "doctor");
  if (parsed.values.help) {
    ctx.stdout.write("usage: broker doctor [--json]\n");
    return 0;
  }
  const checks = await runChecks(parsed, ctx.env);
  if (parsed.json) printJson(ctx.stdout, checks);
  else {
    for (const c of checks) {
      ctx.stdout.write(`${c.ok ? "ok  " : "FAIL"}  ${c.name}: ${c.detail}\n`);
      if (c.fix) ctx.stdout.write(`      fix: ${c.fix}\n`);
    }
  }
  return checks.every((c) => c.ok) ? 0 : 1;
}
