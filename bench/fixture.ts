/**
 * Everything the bench sets up: a temp root (policies, state dir with a seeded file store, the
 * socket), a `broker daemon` from the tools build, and a stack of cleanups run at the end.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CompactEncrypt } from "jose";
import { BrokerClient } from "../src/client/broker-client.js";
import { FILE_STORE_NAME, PBES2_COUNT } from "../src/store/file-store.js";
import type { StoredSecret } from "../src/store/secret-store.js";

/** The CLI as installed: the bundle `npm run build` makes (dist/bin/broker.cjs). */
export const CLI = fileURLToPath(new URL("../../dist/bin/broker.cjs", import.meta.url));
export const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** Cleanups run last-in first-out, each bounded by its own try, so one failure does not skip the rest. */
export class Cleanups {
  private readonly stack: Array<() => Promise<void> | void> = [];
  add(cleanup: () => Promise<void> | void): void {
    this.stack.push(cleanup);
  }
  async runAll(): Promise<void> {
    while (this.stack.length > 0) {
      const cleanup = this.stack.pop()!;
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`bench: a cleanup failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  }
}

export interface BenchRoot {
  path: string;
  socket: string;
  stateDir: string;
  policiesDir: string;
  /** The environment for the daemon and every CLI run: file store, temp places, no session. */
  env: NodeJS.ProcessEnv;
}

export function makeRoot(cleanups: Cleanups): BenchRoot {
  const path = mkdtempSync(join(tmpdir(), "broker-bench-"));
  cleanups.add(() => rmSync(path, { recursive: true, force: true }));
  const stateDir = join(path, "state");
  const policiesDir = join(path, "policies");
  mkdirSync(stateDir, { mode: 0o700 });
  mkdirSync(policiesDir);
  mkdirSync(join(path, "home"));
  const socket = join(path, "run", "broker.sock");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(path, "home"),
    XDG_CONFIG_HOME: join(path, "home", ".config"),
    XDG_STATE_HOME: join(path, "home", ".local", "state"),
    BROKER_SOCKET: socket,
    BROKER_STATE_DIR: stateDir,
    BROKER_POLICIES: policiesDir,
    BROKER_STORE: "file",
    BROKER_STORE_PASSPHRASE: randomBytes(16).toString("hex"),
  };
  delete env.BROKER_SESSION;
  return { path, socket, stateDir, policiesDir, env };
}

/**
 * Writes the file store in one go (`{version:1, secrets}` as a PBES2 JWE, the format
 * src/store/file-store.ts reads): `broker secret set` 60 times would spend most of a minute in PBKDF2.
 */
export async function seedFileStore(root: BenchRoot, secrets: Record<string, StoredSecret>): Promise<void> {
  const plaintext = new TextEncoder().encode(JSON.stringify({ version: 1, secrets }));
  const jwe = await new CompactEncrypt(plaintext)
    .setProtectedHeader({ alg: "PBES2-HS512+A256KW", enc: "A256GCM" })
    .setKeyManagementParameters({ p2c: PBES2_COUNT })
    .encrypt(new TextEncoder().encode(root.env.BROKER_STORE_PASSPHRASE!));
  writeFileSync(join(root.stateDir, FILE_STORE_NAME), jwe, { mode: 0o600 });
}

export function writePolicy(root: BenchRoot, task: string, yaml: string): void {
  writeFileSync(join(root.policiesDir, `${task}.yaml`), yaml);
}

/** A random value shaped like an API token (base64url), never shorter than masking's minimum. */
export const tokenValue = (bytes = 24): string => randomBytes(bytes).toString("base64url");

export interface Daemon {
  pid: number;
  client: BrokerClient;
  /** VmRSS in bytes, from /proc. */
  rss(): number;
  log(): string;
  stop(): Promise<void>;
}

/** Stops `proc`: SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
export function stopper(proc: ChildProcess, graceMs: number): () => Promise<void> {
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(killer);
  };
}

export async function startDaemon(root: BenchRoot, cleanups: Cleanups): Promise<Daemon> {
  const proc: ChildProcess = spawn(process.execPath, [CLI, "daemon"], { env: root.env, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => {
    if (log.length < 1_000_000) log += d;
  });
  // Ending 10,000 sessions takes a moment; past 60 s something is wrong, and nothing may stay behind.
  const stop = stopper(proc, 60_000);
  cleanups.add(stop);
  const client = new BrokerClient(root.socket);
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited at start:\n${log}`);
    if (await client.health().then(() => true, () => false)) break;
    if (i >= 300) throw new Error(`the daemon did not answer within 15 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: proc.pid!,
    client,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, "utf8"))?.[1] ?? Number.NaN) * 1024,
    log: () => log,
    stop,
  };
}

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`); throws unless it exits 0. */
export function runChecked(file: string, args: string[], options: SpawnSyncOptions & { timeoutMs?: number } = {}): Ran {
  const r = spawnSync(file, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 60_000, killSignal: "SIGKILL", ...options });
  const ran = { status: r.status, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} exited ${r.status ?? r.signal}: ${ran.stderr.slice(0, 2000)}`);
  return ran;
}

/** `broker ARGS` with the bench's environment. */
export const broker = (root: BenchRoot, args: string[], options: SpawnSyncOptions & { timeoutMs?: number } = {}): Ran =>
  runChecked(process.execPath, [CLI, ...args], { env: root.env, ...options });
