/**
 * `broker run --task T … -- CMD`: open a session bound to this process's own connection to the
 * daemon, run CMD with the session's credentials (in a bubblewrap box unless --no-sandbox),
 * forward signals, and end the session when CMD exits. If this process is killed outright, the
 * daemon sees the connection close and ends it; the box dies with this process.
 */
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { BrokerClient, type SessionView } from "../../client/broker-client.js";
import { BrokerError } from "../../errors.js";
import { checkSandboxPath, DEFAULT_SANDBOX_PATH, planBox, type BoxPlan } from "../../sandbox/box-plan.js";
import { inheritedEnv } from "../../sandbox/env-allowlist.js";
import { launchConfined } from "../../sandbox/launch-confined.js";
import { assertSandboxAvailable, sandboxSetupFailed } from "../../sandbox/sandbox-available.js";
import { buildChildEnv } from "../../sinks/child-env.js";
import { parseDotenv, resolveEnvEntries } from "../../sinks/env-file.js";
import { approvalNotice, parentOf } from "../approval-notice.js";
import { firstPositional, parseCommandArgs, splitAtDoubleDash, stringFlag } from "../args.js";
import type { CommandContext } from "../context.js";
import { printWarnings, runEnvDelivery } from "../env-delivery.js";
import { runChild, unconfinedLauncher, type Launcher } from "../run-child.js";
import { credentialValues } from "../run-output.js";
import { RUN_HELP, RUN_OPTIONS, RUN_USAGE as USAGE } from "../run-flags.js";
import { followRunSession, SESSION_ENDED_EXIT, type OnSessionEnd } from "../run-session-end.js";
import { sessionRequestFromFlags } from "../session-request.js";

const UNCONFINED_WARNING =
  "broker: warning: --no-sandbox: the command runs unconfined; it can reach your keychain, the broker's socket, your files and the network\n";

export default async function run(ctx: CommandContext): Promise<number> {
  const { own, rest: command } = splitAtDoubleDash(ctx.args);
  const stray = ctx.args.includes("--") ? undefined : firstPositional(own, RUN_OPTIONS);
  if (stray !== undefined && !own.includes("--help") && !own.includes("-h")) {
    // Only the first word is named: the rest of a command line may carry a value nobody should see twice.
    throw new BrokerError("ERR_USAGE", `the command to run goes after --: "${stray.slice(0, 40)}" is not a flag of broker run`, { fix: `broker run ${own.slice(0, own.indexOf(stray)).join(" ")} -- ${stray.slice(0, 40)} …` });
  }
  const parsed = parseCommandArgs(own, RUN_OPTIONS, ctx.env, "run");
  if (parsed.values.help) {
    ctx.stdout.write(RUN_HELP);
    return 0;
  }
  if (parsed.positionals.length > 0) {
    throw new BrokerError("ERR_USAGE", `"${parsed.positionals[0]!.slice(0, 40)}" before -- is not a flag of broker run`, { fix: "the whole command goes after --; run `broker run --help` for the flags" });
  }
  if (command.length === 0) throw new BrokerError("ERR_USAGE", "no command to run", { fix: `usage: ${USAGE}` });
  if (ctx.env.BROKER_SESSION && parsed.values.nested !== true) {
    throw new BrokerError("ERR_NESTED_SESSION", `already inside broker session ${ctx.env.BROKER_SESSION}`, { fix: "pass --nested to open another session inside this one on purpose" });
  }
  const confined = parsed.values["no-sandbox"] !== true;
  const bridge = confined ? assertSandboxAvailable(ctx.env) : undefined;
  const request = await sessionRequestFromFlags(parsed, USAGE, { sandboxTmp: parsed.values["sandbox-tmp"] === true });
  if (confined && request.sandbox) {
    request.sandbox.path ??= DEFAULT_SANDBOX_PATH;
    checkSandboxPath(request.sandbox.path);
  }
  const envFilePath = stringFlag(parsed, "env-file");
  const envFile = envFilePath === undefined ? undefined : parseDotenv(await readEnvFile(envFilePath), envFilePath);
  const passEnv = (parsed.values["pass-env"] as string[] | undefined) ?? [];
  const onEnd = stringFlag(parsed, "on-session-end") ?? "stop";
  if (onEnd !== "stop" && onEnd !== "warn") throw new BrokerError("ERR_USAGE", `--on-session-end ${JSON.stringify(onEnd)}: must be stop or warn`, { fix: `usage: ${USAGE}` });

  const client = new BrokerClient(parsed.places.socket);
  const envDelivery = runEnvDelivery({ noEnv: parsed.values["no-env"] === true, awsEndpoint: parsed.values["aws-endpoint"] === true, ...(envFile ? { envFile } : {}) });
  const bound = await client.openBoundSession({ ...request, confine: true, ...(confined ? {} : { unboxed: true }), envDelivery, ...parentOf(ctx.env) }, approvalNotice(ctx.stderr));
  const session = bound.session;
  if (!confined) ctx.stderr.write(UNCONFINED_WARNING);
  printWarnings(ctx.stderr, session);
  // DELETE answers once revocation and file removal are done: the session is over before we
  // exit, on every path (CMD exited, CMD could not start, a bad --env-file reference). Its answer
  // names the hosts the proxy refused, for the summary line.
  let denied: string[] = [];
  let leaks: string[] = [];
  let ending: Promise<void> | undefined;
  const endSession = (): Promise<void> =>
    (ending ??= client.closeSessionWithView(session.id).then(
      (s) => {
        denied = s?.confinement?.denied ?? [];
        leaks = s?.confinement?.leaks ?? [];
      },
      () => undefined,
    ));
  let endpoint: { url: string; token: string; close(): Promise<void> } | undefined;
  let endpointDir: string | undefined;
  let follower: ReturnType<typeof followRunSession> | undefined;
  try {
    // Started before CMD: no refresh or end may go unheard.
    follower = followRunSession(client, session.id, { stderr: ctx.stderr, onEnd: onEnd as OnSessionEnd });
    const following = follower;
    const credentials = session.credentials ?? { env: {} };
    const extra = envFile === undefined ? {} : resolveEnvEntries(envFile, { ...session, credentials }, envFilePath);
    const home = ctx.env.HOME || homedir();
    const wantsEndpoint = parsed.values["aws-endpoint"] === true;
    if (wantsEndpoint && confined) endpointDir = mkdtempSync(join(tmpdir(), "broker-aws-"));
    // The bridge program is the box's first process: its directory stays visible inside too.
    const plan = bridge !== undefined ? planBox({ session, env: ctx.env, home, cwd: process.cwd(), places: parsed.places, installs: [...installs(), dirname(bridge)], ...(endpointDir ? { awsEndpointDir: endpointDir } : {}) }) : undefined;
    if (wantsEndpoint) {
      if (!credentials.aws) throw new BrokerError("ERR_USAGE", `--aws-endpoint: task "${session.task}" gives no AWS credentials`, { fix: "drop --aws-endpoint or use a task with an aws: block" });
      endpoint = await startEndpoint(client, session, plan, endpointDir);
    }
    const base = inheritedEnv(ctx.env, [...passEnv, ...(session.confinement?.passEnv ?? [])]);
    const keepSocket = parsed.values["keep-socket"] === true;
    const env = {
      ...buildChildEnv(base, { ...session, credentials }, {
        noEnv: parsed.values["no-env"] === true,
        // The file-pointing variables use the path the command sees, as the sandbox `env` file does.
        ...(session.sandbox ? { sandboxDir: confined ? session.sandbox.path : session.sandbox.dir, sandboxPath: session.sandbox.path } : {}),
        ...(endpoint ? { awsEndpoint: { url: endpoint.url, token: endpoint.token } } : {}),
      }),
      ...extra,
      ...(plan?.env ?? {}),
      // Unconfined, --keep-socket hands out the session's own socket, never the operator's.
      ...(!confined && keepSocket && session.confinement ? { BROKER_SOCKET: session.confinement.socket } : {}),
    };
    const launcher: Launcher = plan && bridge !== undefined ? (stdio) => launchConfined(command, { box: plan.box, bridge, bridges: plan.bridges, env, stdio }) : unconfinedLauncher(command, env);
    const masking = parsed.values["no-masking"] !== true;
    const code = await runChild(command, launcher, ctx, {
      secrets: masking ? credentialValues(credentials) : null,
      onMaskers: (add) => following.attachMaskers(add),
      onStoppable: (stop) => following.attachStop(stop),
      // The session ends when CMD exits, not when its output does: a background child of CMD
      // may hold the pipes open long after; its output is still masked, but it has no session.
      onExit: () => {
        following.close();
        void endSession();
      },
      notStarted: sandboxSetupFailed,
    });
    return following.stoppedCmd() ? SESSION_ENDED_EXIT : code;
  } finally {
    follower?.close();
    await endpoint?.close();
    if (endpointDir) rmSync(endpointDir, { recursive: true, force: true });
    await endSession();
    bound.release();
    if (denied.length > 0) ctx.stderr.write(deniedSummary(session.task, denied));
    for (const leak of leaks) ctx.stderr.write(`broker: the egress proxy refused what looked like an exfiltration attempt: ${leak}\n`);
  }
}

/** This broker's package root (…/dist/bin/broker.cjs → …) and Node's prefix (…/bin/node → …). */
function installs(): string[] {
  const entry = process.argv[1];
  const roots = [resolve(dirname(process.execPath), "..")];
  if (entry) {
    try {
      roots.push(resolve(dirname(realpathSync(entry)), "..", ".."));
    } catch {
      // run some other way (tests import the command): nothing to keep
    }
  }
  return roots;
}

function deniedSummary(task: string, denied: string[]): string {
  const shown = denied.slice(0, 10).join(", ") + (denied.length > 10 ? `, and ${denied.length - 10} more` : "");
  return `broker: the sandbox's egress proxy refused ${denied.length} host${denied.length === 1 ? "" : "s"}: ${shown} (to allow one, add it to egress: in ${task}.yaml)\n`;
}

async function startEndpoint(client: BrokerClient, session: SessionView, plan: BoxPlan | undefined, dir: string | undefined) {
  const { startAwsEndpoint } = await import("../../sinks/aws-endpoint.js");
  // Only an ended session answers 404; any other failure becomes a 5xx the SDKs retry.
  const fetch = async () => {
    try {
      return (await client.credentials(session.id)).aws ?? null;
    } catch (error) {
      if (error instanceof BrokerError && error.code === "ERR_SESSION_NOT_FOUND") return null;
      throw error;
    }
  };
  return plan?.awsPort !== undefined && dir !== undefined ? startAwsEndpoint(fetch, { socketPath: join(dir, "aws.sock"), port: plan.awsPort }) : startAwsEndpoint(fetch);
}

async function readEnvFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new BrokerError("ERR_USAGE", `cannot read --env-file ${path} (${(error as NodeJS.ErrnoException).code})`, { fix: "check the path" });
  }
}
