/** `broker daemon`: run the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads policies. */
import { isBrokerError } from "../../errors.js";
import { parseCommandArgs, stringFlag } from "../args.js";
import type { CommandContext } from "../context.js";
import { packageVersion } from "../version.js";

export default async function daemon(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, { "notify-command": { type: "string" }, "upstream-ca": { type: "string" } }, ctx.env, "daemon");
  if (parsed.values.help) {
    ctx.stdout.write("usage: broker daemon [--socket PATH] [--policies DIR] [--state-dir DIR] [--store os|file] [--passphrase-file F] [--notify-command CMD] [--upstream-ca FILE]\n");
    ctx.stdout.write("\n  --notify-command CMD  run CMD (no shell, no arguments) with a request's summary as JSON on stdin when it waits for approval\n");
    ctx.stdout.write("                        (default: BROKER_NOTIFY_COMMAND, else notify-send if on PATH, else nothing)\n");
    ctx.stdout.write("  --upstream-ca FILE    PEM CAs the egress proxy trusts upstream besides the system roots and NODE_EXTRA_CA_CERTS\n");
    ctx.stdout.write("                        (default: BROKER_UPSTREAM_CA)\n");
    return 0;
  }
  const notifyCommand = stringFlag(parsed, "notify-command") ?? (ctx.env.BROKER_NOTIFY_COMMAND || undefined);
  const upstreamCa = stringFlag(parsed, "upstream-ca") ?? (ctx.env.BROKER_UPSTREAM_CA || undefined);
  const [{ startDaemon }, { jsonLogger }, { routeProcessWarnings }] = await Promise.all([
    import("../../daemon/start-daemon.js"),
    import("../../daemon/logger.js"),
    import("../../daemon/process-warnings.js"),
  ]);
  const logger = jsonLogger();
  routeProcessWarnings(logger);
  let running: Awaited<ReturnType<typeof startDaemon>>;
  try {
    running = await startDaemon({ places: parsed.places, env: ctx.env, version: packageVersion(), logger, ...(notifyCommand ? { notifyCommand } : {}), ...(upstreamCa ? { upstreamCa } : {}) });
  } catch (error) {
    // Its stderr is JSON lines, a failed start included: the message, the code and the fix.
    if (!isBrokerError(error)) {
      logger.log("error", `daemon not started: unexpected error: ${error instanceof Error ? error.message : String(error)}`, { code: "ERR_INTERNAL" });
      return 1;
    }
    logger.log("error", `daemon not started: ${error.message}`, { code: error.code, ...(error.fix ? { fix: error.fix } : {}) });
    return error.exitCode;
  }
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      running.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    process.on("SIGHUP", () => void running.reload());
  });
}
