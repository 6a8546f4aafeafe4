/**
 * `broker approve ID [--yes]`: lets a waiting session request through. The request is shown and,
 * on a terminal, confirmed (y/N) unless --yes; without a terminal --yes is required. The approval
 * names the plan digest that was shown, so a request that changed in between is not approved.
 */
import { BrokerClient } from "../../client/broker-client.js";
import { BrokerError } from "../../errors.js";
import { parseCommandArgs } from "../args.js";
import { formatPending } from "../approval-format.js";
import { commandHelp } from "../command-help.js";
import type { CommandContext } from "../context.js";

const USAGE = "broker approve ID [--yes]";
const OPTIONS = { yes: { type: "boolean", short: "y" } } as const;
const HELP = commandHelp(USAGE, "Approves a session request waiting for approval (see `broker approvals`); it is used once.", OPTIONS, {
  yes: "approve without asking (needed when stdin is not a terminal)",
});

export default async function approve(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, OPTIONS, ctx.env, "approve");
  if (parsed.values.help) {
    ctx.stdout.write(HELP);
    return 0;
  }
  const [id, ...extra] = parsed.positionals;
  if (id === undefined || extra.length > 0) throw new BrokerError("ERR_USAGE", "name one request id", { fix: `usage: ${USAGE}; the ids are in \`broker approvals\`` });
  const yes = parsed.values.yes === true;
  if (!yes && ctx.stdin.isTTY !== true) {
    throw new BrokerError("ERR_CONFIRMATION_REQUIRED", "approving needs a confirmation on a terminal, and stdin is not one", { fix: `pass --yes to approve without asking: broker approve ${id} --yes` });
  }
  const client = new BrokerClient(parsed.places.socket);
  const request = (await client.listApprovals()).find((p) => p.id === id);
  if (!request) {
    throw new BrokerError("ERR_APPROVAL_NOT_FOUND", `no session request "${id.slice(0, 64)}" is waiting for approval`, { fix: "list the waiting requests with `broker approvals`" });
  }
  ctx.stderr.write(formatPending(request));
  if (!yes && !(await confirm(ctx, "approve this request? [y/N] "))) {
    ctx.stderr.write("not approved\n");
    return 1;
  }
  await client.approve(id, request.digest);
  ctx.stdout.write(`approved ${id}\n`);
  return 0;
}

/** One line from the terminal; yes only for y or yes. */
function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  ctx.stderr.write(question);
  return new Promise((resolve) => {
    let line = "";
    const onData = (chunk: Buffer | string) => {
      line += chunk.toString();
      if (!line.includes("\n")) return;
      done(/^\s*y(es)?\s*$/i.test(line.split("\n")[0] ?? ""));
    };
    const done = (answer: boolean) => {
      ctx.stdin.off("data", onData);
      ctx.stdin.off("end", onEnd);
      (ctx.stdin as NodeJS.ReadableStream & { pause?: () => void }).pause?.();
      resolve(answer);
    };
    const onEnd = () => done(false);
    ctx.stdin.on("data", onData);
    ctx.stdin.once("end", onEnd);
  });
}
