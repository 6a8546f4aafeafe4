/**
 * Wires the daemon together: store, policies, journal (recovering what a dead daemon left),
 * providers, sessions, the HTTP server on the socket, and the signals that stop or reload it.
 */
import { accessSync, constants, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { createNotifier } from "../approval/notifier.js";
import { createApprovals } from "../approval/pending-approvals.js";
import { openAuditLog } from "../audit/audit-log.js";
import { BrokerError } from "../errors.js";
import type { Places } from "../cli/places.js";
import { createAwsProvider } from "../providers/aws-sts.js";
import { createGithubProvider, revokeGithubToken } from "../providers/github-app.js";
import type { Provider } from "../providers/provider.js";
import { createStaticProvider } from "../providers/static.js";
import { openBudget } from "../sessions/budget.js";
import { loadHandleCipher } from "../sessions/handle-cipher.js";
import { openJournal } from "../sessions/journal.js";
import { loadJournalMac, sandboxMarker } from "../sessions/journal-mac.js";
import { recoverFromJournal } from "../sessions/recover.js";
import { createRevocationQueue } from "../sessions/revocation.js";
import { createSessionEvents } from "../sessions/session-events.js";
import { createSessionManager } from "../sessions/session-manager.js";
import { openStore } from "../store/open-store.js";
import { createSandboxSink } from "../sinks/sandbox-sink-impl.js";
import { isDumpable, makeNonDumpable } from "../native/process-controls.js";
import { checkPrivateDir } from "../util/private-dir.js";
import { createConnectionGate } from "./connection-gate.js";
import { connectionCaps, readOpenFileLimit } from "./descriptor-budget.js";
import { listenOnSocket } from "./listen.js";
import { jsonLogger, type Logger } from "./logger.js";
import { loadPolicyHolder } from "./policy-holder.js";
import { sessionExitsOpener, upstreamProxyFrom } from "./session-exits.js";
import { operatorCas } from "../egress/upstream-trust.js";
import { applyServerTimeouts } from "./server-timeouts.js";

/** Request bodies in flight, all connections together (128 bodies at the 64 KiB limit). */
const BODY_BUDGET_BYTES = 8 * 1024 * 1024;

export interface DaemonOptions {
  places: Places;
  env: NodeJS.ProcessEnv;
  version: string;
  logger?: Logger;
  now?: () => number;
  /** `--notify-command` / BROKER_NOTIFY_COMMAND: told of each request that waits for approval. */
  notifyCommand?: string;
  /** `--upstream-ca` / BROKER_UPSTREAM_CA: a PEM file of CAs the egress proxy trusts upstream. */
  upstreamCa?: string;
}

export interface RunningDaemon {
  /** Ends every session (revoking), closes the socket, flushes the journal and audit log. */
  stop(): Promise<void>;
  reload(): Promise<boolean>;
}

export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const { places } = options;
  const logger = options.logger ?? jsonLogger();
  const now = options.now ?? Date.now;
  // Before any secret is read: no core file can hold one, and other processes of this user can
  // read neither /proc/<pid>/environ (the passphrase, when given in the environment) nor mem.
  makeNonDumpable();
  prepareStateDir(places.stateDir);
  // Others able to write here could plant links or forge journal lines (the policy dir is checked as it loads).
  checkPrivateDir(places.stateDir, "the state directory", "--state-dir DIR");

  const store = await openStore(places, options.env);
  // Read once; any child this daemon starts must not inherit it.
  delete options.env.BROKER_STORE_PASSPHRASE;
  const audit = openAuditLog(places.stateDir, { now, onError: (code, lost) => logger.log("error", "writing the audit log failed; serving on", { code, lost }) });
  const [cipher, mac] = await Promise.all([loadHandleCipher(store, places.stateDir), loadJournalMac(store, places.stateDir)]);
  const { journal, records, torn, rejected } = await openJournal(places.stateDir, mac, (error) => logger.log("error", "writing the journal failed; serving on", { code: error.code ?? "EIO" }));
  if (torn) logger.log("warn", "the journal had a torn or corrupt tail; recovered up to the last good record", {});

  // What a dead daemon left is revoked first: before policies load and before the HTTP server
  // (fastify) is even loaded, so a restart's revocations wait for nothing they do not need.
  const revocation = createRevocationQueue({ revokers: { github: revokeGithubToken }, journal, audit, logger, now });
  const sandbox = createSandboxSink(sandboxMarker(mac));
  await recoverFromJournal(records, { journal, cipher, revocation, sandbox, audit, logger }, rejected);
  const policies = await loadPolicyHolder(places.policies, logger);
  const { buildServer } = await import("./build-server.js");

  const providerDeps = { store, now };
  const providers: Provider[] = [createStaticProvider(providerDeps), createAwsProvider(providerDeps), createGithubProvider(providerDeps)] as Provider[];
  // Confined sessions' sockets live beside the main one, under its 0700 directory.
  const exitsRoot = join(dirname(places.socket), "s");
  const upstreamProxy = upstreamProxyFrom(options.env);
  const caps = connectionCaps(readOpenFileLimit());
  const gate = createConnectionGate({ total: caps.total, bodyBudget: BODY_BUDGET_BYTES, bodyLimit: 64 * 1024 });
  const extraCas = operatorCas(options.upstreamCa, options.env);
  const openExits = sessionExitsOpener({ root: exitsRoot, version: options.version, audit, limits: { gate, perSession: caps.perSession }, extraCas, ...(upstreamProxy ? { upstreamProxy } : {}) });
  const hide = [places.stateDir, places.policies, dirname(places.socket), ...(places.passphraseFile ? [places.passphraseFile] : [])];
  const events = createSessionEvents();
  const budget = openBudget(places.stateDir, mac, { audit, logger, now });
  const approvals = createApprovals({ audit, now, notify: createNotifier(options.notifyCommand, logger, options.env) });
  const sessions = createSessionManager({ policies: policies.current, providers, journal, cipher, revocation, sandbox, audit, logger, now, openExits, hide, events, budget, approvals });

  let stopping = false;
  const afterWrite = (callback: () => void) => journal.afterWrite(() => audit.afterWrite(callback));
  const coreDumps = () => {
    const dumpable = isDumpable();
    return dumpable === undefined ? "unknown" : dumpable ? "on" : "off";
  };
  const app = buildServer({ sessions, logger, version: options.version, stopping: () => stopping, afterWrite, events, coreDumps, approvals });
  applyServerTimeouts(app.server);
  gate.guard(app.server, "main", caps.perPeer);
  await listenOnSocket(app, places.socket);
  // A dead daemon's session sockets: nothing answers them any more.
  rmSync(exitsRoot, { recursive: true, force: true });
  logger.log("info", "daemon listening", { socket: places.socket, store: store.kind, tasks: [...policies.current().keys()], connections: { total: caps.total, perPeer: caps.perPeer, openFileLimit: caps.limit, reserve: caps.reserve } });

  let stopped: Promise<void> | null = null;
  return {
    reload: policies.reload,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        approvals.cancelAll();
        const ended = await sessions.endAll("shutdown");
        revocation.stop();
        await app.close();
        await journal.close();
        budget.close();
        await audit.close();
        logger.log("info", "daemon stopped", { sessionsEnded: ended });
      })();
      return stopped;
    },
  };
}

/** The state dir must be ours to write: say so with a fix, not as an EACCES from the audit log. */
function prepareStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new BrokerError("ERR_STATE_DIR", `the state directory ${dir} cannot be used (${code})`, {
      cause: error,
      fix: `make it a directory of the daemon's user, mode 0700 (chown/chmod), or choose another --state-dir; a daemon in a container runs as the owner of its state mount (docker/README.md)`,
    });
  }
}
