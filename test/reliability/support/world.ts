/**
 * A daemon wired to STS and GitHub stand-ins through one fault proxy per task and upstream, so a
 * test can break exactly one task's upstream while the others run. Everything a test must later
 * prove about secrets is recorded as evidence: the stored secrets, every credential the proxies
 * saw minted, the daemon's log, audit log and journal, and each CLI call's argv and errors.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { randomAwsKey, REGION, ROLE_ARN } from "../../helpers/aws-fixture.js";
import type { CliResult } from "../../helpers/cli.js";
import { CLI } from "../../helpers/cli.js";
import { startTestDaemon, type TestDaemon } from "../../helpers/daemon.js";
import { startFaultProxy, type FaultProxy } from "../../helpers/fault-proxy.js";
import { tempDir } from "../../helpers/tmp.js";
import { startGithubStub, type GithubStub } from "../../stubs/github-stub.js";
import { startStsStub, type StsStub } from "../../stubs/sts-stub.js";
import { recordArgv, recordCreated, recordPem, recordSecret, recordText } from "./evidence.js";

export const PASSPHRASE = "test passphrase for a throwaway store";

export interface TaskSpec {
  name: string;
  aws?: boolean;
  github?: boolean;
  env?: boolean;
  ttl?: string;
  maxTtl?: string;
  maxSessions?: number;
}

export interface TaskUpstreams {
  sts?: FaultProxy;
  github?: FaultProxy;
  /** GitHub tokens minted through this task's proxy, in order. */
  tokens: string[];
  /** Every credential value minted through this task's proxies (AWS secret keys and session tokens, GitHub tokens). */
  credentials: string[];
}

export interface World {
  daemon: TestDaemon;
  sts: StsStub;
  github: GithubStub;
  /** The value of the generic secret behind DEMO_TOKEN. */
  demo: string;
  upstream(task: string): TaskUpstreams;
  /** Daemon exits nobody asked for, since the start. */
  crashes(): number;
  /** SIGKILLs the daemon on purpose (not counted as a crash). */
  kill(): Promise<void>;
  restart(): Promise<void>;
  audit(): Record<string, unknown>[];
  cli(args: string[], timeoutMs?: number): Promise<CliResult>;
  /** A temp directory removed by close(). */
  dir(prefix: string): string;
  close(): Promise<void>;
}

export interface WorldOptions {
  stsLifetimeSeconds?: number;
  githubLifetimeSeconds?: number;
}

function policyText(spec: TaskSpec, up: TaskUpstreams): string {
  let text = `task: ${spec.name}\nttl: ${spec.ttl ?? "10m"}\nmax_ttl: ${spec.maxTtl ?? "2h"}\nmax_sessions: ${spec.maxSessions ?? 200}\n`;
  if (up.sts) text += `aws:\n  source: aws-root\n  role_arn: ${ROLE_ARN}\n  region: ${REGION}\n  endpoint: ${up.sts.url}\n`;
  if (up.github) text += `github:\n  app: gh-app\n  api_url: ${up.github.url}\n  owner: acme\n  repositories: [reports]\n  permissions: { contents: read }\n`;
  if (spec.env) text += "env:\n  DEMO_TOKEN: { secret: demo }\n";
  return text;
}

export async function startWorld(tasks: TaskSpec[], options: WorldOptions = {}): Promise<World> {
  const dirs: { path: string; cleanup: () => void }[] = [];
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const rootKey = randomAwsKey();
  const demo = `demo-${randomBytes(18).toString("hex")}`;
  recordPem("github-app-key", privateKey);
  recordSecret("aws-root-secret", rootKey.secretAccessKey);
  recordSecret("generic-demo", demo);
  recordSecret("store-passphrase", PASSPHRASE);

  const sts = await startStsStub({ region: REGION, ...(options.stsLifetimeSeconds ? { credentialLifetimeSeconds: options.stsLifetimeSeconds } : {}) });
  sts.addRootKey(rootKey.accessKeyId, rootKey.secretAccessKey, { userName: "broker-root" });
  const github = await startGithubStub({
    appId: 4242,
    publicKey: keys.publicKey,
    installations: [{ id: 42, account: { login: "acme", type: "Organization" }, repositories: ["reports", "website"], permissions: { contents: "write", metadata: "read" } }],
    ...(options.githubLifetimeSeconds ? { tokenLifetimeSeconds: options.githubLifetimeSeconds } : {}),
  });

  const upstreams = new Map<string, TaskUpstreams>();
  const policies: Record<string, string> = {};
  for (const spec of tasks) {
    const up: TaskUpstreams = { tokens: [], credentials: [] };
    if (spec.aws) {
      up.sts = await startFaultProxy(sts.url, "sts", (v) => {
        up.credentials.push(v);
        recordSecret("minted-aws", v);
      });
    }
    if (spec.github) {
      up.github = await startFaultProxy(github.url, "github", (v) => {
        up.tokens.push(v);
        up.credentials.push(v);
        recordSecret("minted-github", v);
      });
    }
    upstreams.set(spec.name, up);
    policies[spec.name] = policyText(spec, up);
  }

  const daemon = await startTestDaemon({ policies });
  recordCreated("dir", daemon.root);
  let crashes = 0;
  let expected = false;
  const watch = () => {
    expected = false;
    daemon.process.once("exit", () => {
      if (!expected) crashes += 1;
    });
  };
  watch();

  const cli = async (args: string[], timeoutMs = 30_000): Promise<CliResult> => {
    recordArgv([process.execPath, CLI, ...args]);
    const result = await daemon.cli(args, { timeoutMs });
    recordText("cli-stderr", result.stderr);
    return result;
  };
  const set = async (name: string, type: string, input: string) => {
    const r = await daemon.cli(["secret", "set", name, "--type", type], { input });
    recordArgv([process.execPath, CLI, "secret", "set", name, "--type", type]);
    if (r.code !== 0) throw new Error(`secret set ${name}: ${r.stderr}`);
  };
  await set("aws-root", "aws", JSON.stringify(rootKey));
  await set("gh-app", "github-app", JSON.stringify({ appId: "4242", privateKey }));
  await set("demo", "generic", demo);

  const auditText = () => {
    try {
      return readFileSync(join(daemon.stateDir, "audit.jsonl"), "utf8");
    } catch {
      return "";
    }
  };

  return {
    daemon,
    sts,
    github,
    demo,
    upstream(task) {
      const up = upstreams.get(task);
      if (!up) throw new Error(`no task ${task}`);
      return up;
    },
    crashes: () => crashes,
    async kill() {
      expected = true;
      await daemon.stop("SIGKILL");
    },
    async restart() {
      await daemon.restart();
      watch();
    },
    audit: () =>
      auditText()
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    cli,
    dir(prefix) {
      const d = tempDir(prefix);
      dirs.push(d);
      recordCreated("dir", d.path);
      return d.path;
    },
    async close() {
      expected = true;
      recordText("daemon-log", daemon.stderr());
      recordText("audit", auditText());
      try {
        recordText("journal", readFileSync(join(daemon.stateDir, "journal.jsonl"), "utf8"));
      } catch {
        // no journal: nothing to keep
      }
      await daemon.cleanup();
      for (const up of upstreams.values()) {
        await up.sts?.close();
        await up.github?.close();
      }
      await sts.close();
      await github.close();
      for (const d of dirs) d.cleanup();
    },
  };
}

/** Audit lines of one session (or of sessions of one task when `session` is null). */
export function auditOf(world: World, filter: { session?: string; task?: string; event?: string }): Record<string, unknown>[] {
  return world.audit().filter((l) => (filter.session === undefined || l.session === filter.session) && (filter.task === undefined || l.task === filter.task) && (filter.event === undefined || l.event === filter.event));
}
