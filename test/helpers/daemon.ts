import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BrokerClient } from "../../src/client/broker-client.js";
import { CLI, runCli, type CliResult } from "./cli.js";
import { tempDir } from "./tmp.js";

export interface TestDaemonOptions {
  /** file name (without .yaml) → YAML text */
  policies?: Record<string, string>;
  store?: "os" | "file";
  env?: NodeJS.ProcessEnv;
  /** Where the daemon's root (socket, state, policies, HOME) is made; default the temp dir. */
  parent?: string;
  /** A command the daemon runs under (e.g. bwrap giving it its own /etc/hosts), followed by the daemon's own command line. */
  wrap?: string[];
}

export interface TestDaemon {
  root: string;
  socket: string;
  stateDir: string;
  policiesDir: string;
  /** The environment a CLI run against this daemon needs (socket, store, state dir…). */
  env: NodeJS.ProcessEnv;
  client: BrokerClient;
  process: ChildProcess;
  stderr(): string;
  cli(args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string }): Promise<CliResult>;
  /** Starts the daemon process again on the same dirs (after a stop or a kill). */
  restart(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  cleanup(): Promise<void>;
}

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, stepMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Starts a real `broker daemon` process on a temp socket, state dir and policies dir. */
export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const tmp = tempDir("broker-daemon-", options.parent);
  const root = tmp.path;
  const socket = join(root, "run", "broker.sock");
  const stateDir = join(root, "state");
  const policiesDir = join(root, "policies");
  mkdirSync(policiesDir, { recursive: true });
  for (const [name, text] of Object.entries(options.policies ?? {})) writeFileSync(join(policiesDir, `${name}.yaml`), text);
  const store = options.store ?? "file";
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(root, "home"),
    XDG_CONFIG_HOME: join(root, "home", ".config"),
    XDG_STATE_HOME: join(root, "home", ".local", "state"),
    BROKER_SOCKET: socket,
    BROKER_STATE_DIR: stateDir,
    BROKER_POLICIES: policiesDir,
    BROKER_STORE: store,
    ...(store === "file" ? { BROKER_STORE_PASSPHRASE: "test passphrase for a throwaway store" } : {}),
    ...options.env,
  };
  delete env.BROKER_SESSION;
  mkdirSync(join(root, "home"), { recursive: true });
  let stderr = "";
  let proc!: ChildProcess;
  const client = new BrokerClient(socket);

  async function launch(): Promise<void> {
    const [command, ...args] = [...(options.wrap ?? []), process.execPath, CLI, "daemon"];
    proc = spawn(command!, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<never>((_, reject) => proc.once("exit", (code) => reject(new Error(`daemon exited with ${code}:\n${stderr}`))));
    await Promise.race([waitFor(() => client.health(), 15_000), exited]);
  }

  const daemon: TestDaemon = {
    root,
    socket,
    stateDir,
    policiesDir,
    env,
    client,
    get process() {
      return proc;
    },
    stderr: () => stderr,
    cli: (args, o = {}) => runCli(args, { env: { ...env, ...o.env }, ...(o.input !== undefined ? { input: o.input } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}), ...(o.cwd ? { cwd: o.cwd } : {}) }),
    restart: launch,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const done = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
      proc.kill(signal);
      return done;
    },
    async cleanup() {
      await daemon.stop("SIGKILL");
      tmp.cleanup();
    },
  };
  await launch();
  return daemon;
}
