/**
 * Wires the daemon together: store, policies, journal (recovering what a dead daemon left),
 * providers, sessions, the HTTP server on the socket, and the signals that stop or reload it.
 */
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { openAuditLog } from "../audit/audit-log.js";
import type { Places } from "../cli/places.js";
import { createAwsProvider } from "../providers/aws-sts.js";
import { createGithubProvider, revokeGithubToken } from "../providers/github-app.js";
import type { Provider } from "../providers/provider.js";
import { createStaticProvider } from "../providers/static.js";
import { loadHandleCipher } from "../sessions/handle-cipher.js";
import { openJournal } from "../sessions/journal.js";
import { recoverFromJournal } from "../sessions/recover.js";
import { createRevocationQueue } from "../sessions/revocation.js";
import { createSessionManager } from "../sessions/session-manager.js";
import { openStore } from "../store/open-store.js";
import { createSandboxSink } from "../sinks/sandbox-sink-impl.js";
import { buildServer } from "./build-server.js";
import { createConnectionGate } from "./connection-gate.js";
import { connectionCaps, readOpenFileLimit } from "./descriptor-budget.js";
import { listenOnSocket } from "./listen.js";
import { jsonLogger, type Logger } from "./logger.js";
import { loadPolicyHolder } from "./policy-holder.js";
import { sessionExitsOpener, upstreamProxyFrom } from "./session-exits.js";
import { applyServerTimeouts } from "./server-timeouts.js";

/** Request bodies in flight, all connections together (128 bodies at the 64 KiB limit). */
const BODY_BUDGET_BYTES = 8 * 1024 * 1024;

export interface DaemonOptions {
  places: Places;
  env: NodeJS.ProcessEnv;
  version: string;
  logger?: Logger;
  now?: () => number;
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
  mkdirSync(places.stateDir, { recursive: true, mode: 0o700 });

  const store = await openStore(places, options.env);
  const policies = await loadPolicyHolder(places.policies, logger);
  const audit = openAuditLog(places.stateDir, { now, onError: (code, lost) => logger.log("error", "writing the audit log failed; serving on", { code, lost }) });
  const cipher = await loadHandleCipher(store, places.stateDir);
  const { journal, records, torn } = await openJournal(places.stateDir, (error) => logger.log("error", "writing the journal failed; serving on", { code: error.code ?? "EIO" }));
  if (torn) logger.log("warn", "the journal had a torn or corrupt tail; recovered up to the last good record", {});

  const revocation = createRevocationQueue({ revokers: { github: revokeGithubToken }, journal, audit, logger, now });
  const sandbox = createSandboxSink();
  await recoverFromJournal(records, { journal, cipher, revocation, sandbox, audit, logger });

  const providerDeps = { store, now };
  const providers: Provider[] = [createStaticProvider(providerDeps), createAwsProvider(providerDeps), createGithubProvider(providerDeps)] as Provider[];
  // Confined sessions' sockets live beside the main one, under its 0700 directory.
  const exitsRoot = join(dirname(places.socket), "s");
  const upstreamProxy = upstreamProxyFrom(options.env);
  const caps = connectionCaps(readOpenFileLimit());
  const gate = createConnectionGate({ total: caps.total, bodyBudget: BODY_BUDGET_BYTES, bodyLimit: 64 * 1024 });
  const openExits = sessionExitsOpener({ root: exitsRoot, version: options.version, audit, limits: { gate, perSession: caps.perSession }, ...(upstreamProxy ? { upstreamProxy } : {}) });
  const hide = [places.stateDir, places.policies, dirname(places.socket), ...(places.passphraseFile ? [places.passphraseFile] : [])];
  const sessions = createSessionManager({ policies: policies.current, providers, journal, cipher, revocation, sandbox, audit, logger, now, openExits, hide });

  let stopping = false;
  const afterWrite = (callback: () => void) => journal.afterWrite(() => audit.afterWrite(callback));
  const app = buildServer({ sessions, logger, version: options.version, stopping: () => stopping, afterWrite });
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
        const ended = await sessions.endAll("shutdown");
        revocation.stop();
        await app.close();
        await journal.close();
        await audit.close();
        logger.log("info", "daemon stopped", { sessionsEnded: ended });
      })();
      return stopped;
    },
  };
}
