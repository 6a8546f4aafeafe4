/**
 * `npm run demo`: the broker end to end on this machine, with no cloud account. Starts local
 * stand-ins of AWS STS and the GitHub API, a daemon on a temporary socket, stores demo secrets,
 * runs an agent-like command under `broker run` (in its box), ends it, and shows what the
 * stand-ins recorded. The agent also tries the keychain, another task, ~/.aws and an unlisted host.
 */
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BrokerClient } from "../src/client/broker-client.js";
import { journalKeyName } from "../src/sessions/handle-cipher.js";
import { createBareRepo, startGithubStub } from "../test/stubs/github-stub.js";
import { startStsStub } from "../test/stubs/sts-stub.js";
import { demoPolicy, randomAwsKey } from "./demo-fixtures.js";

const CLI = fileURLToPath(new URL("../../dist/bin/broker.cjs", import.meta.url));
const AGENT = fileURLToPath(new URL("../../demo/agent.mjs", import.meta.url));
const out = (line = "") => process.stdout.write(`${line}\n`);

function broker(args: string[], env: NodeJS.ProcessEnv, input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, input: input ?? "", encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(tmpdir(), "broker-demo-"));
  const suffix = randomBytes(3).toString("hex");
  const names = { aws: `demo-aws-root-${suffix}`, app: `demo-gh-app-${suffix}`, openai: `demo-openai-${suffix}` };
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(root, { recursive: true, force: true })];
  try {
    out("broker demo: task-scoped credentials for an agent, with local stand-ins of AWS STS and GitHub\n");
    // On 127.0.0.2: the box reaches them through its egress proxy (127.0.0.1 inside is its own).
    const sts = await startStsStub({ listenHost: "127.0.0.2" });
    cleanups.unshift(() => sts.close());
    const root_key = randomAwsKey();
    sts.addRootKey(root_key.accessKeyId, root_key.secretAccessKey, { userName: "operator" });
    const app = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const gitRoot = join(root, "repos");
    for (const repo of ["reports", "website"]) createBareRepo(gitRoot, "acme", repo);
    const github = await startGithubStub({
      listenHost: "127.0.0.2",
      appId: 1001,
      publicKey: app.publicKey,
      gitRoot,
      installations: [{ id: 7, account: { login: "acme", type: "Organization" }, repositories: ["reports", "website"], permissions: { contents: "write", metadata: "read" } }],
    });
    cleanups.unshift(() => github.close());
    // An "attacker's" host the policy does not list: it records anything that reaches it.
    const exfil: string[] = [];
    const paste = createServer((req, res) => {
      exfil.push(`${req.method} ${req.url}`);
      res.end("ok");
    });
    await new Promise<void>((resolve) => paste.listen(0, "127.0.0.3", resolve));
    cleanups.unshift(() => new Promise<void>((resolve) => paste.close(() => resolve())));
    const exfilUrl = `http://127.0.0.3:${(paste.address() as { port: number }).port}/paste`;
    out(`1. stand-ins: STS ${sts.url}, GitHub ${github.url} (org acme: reports, website); an unlisted "paste site" at ${exfilUrl}`);

    const policies = join(root, "policies");
    mkdirSync(policies);
    writeFileSync(join(policies, "demo-agent.yaml"), demoPolicy(names, sts.url, github.url));
    writeFileSync(join(policies, "demo-admin.yaml"), `task: demo-admin\nenv:\n  OPENAI_API_KEY: { secret: ${names.openai} }\n`);
    // The operator's HOME for this run, with an AWS key where the AWS CLI keeps one.
    const home = join(root, "home");
    mkdirSync(join(home, ".aws"), { recursive: true });
    writeFileSync(join(home, ".aws", "credentials"), `[default]\naws_access_key_id = ${randomAwsKey().accessKeyId}\n`, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = { ...process.env, BROKER_SOCKET: join(root, "run", "broker.sock"), BROKER_STATE_DIR: join(root, "state"), BROKER_POLICIES: policies };
    delete env.BROKER_SESSION;
    const osStore = broker(["secret", "list", "--store", "os"], env).code === 0;
    env.BROKER_STORE = osStore ? "os" : "file";
    if (!osStore) env.BROKER_STORE_PASSPHRASE = randomBytes(16).toString("hex");

    const daemon = spawn(process.execPath, [CLI, "daemon"], { env, stdio: ["ignore", "ignore", "pipe"] });
    let daemonLog = "";
    daemon.stderr.setEncoding("utf8").on("data", (d: string) => (daemonLog += d));
    cleanups.unshift(() => stopDaemon(daemon));
    const client = new BrokerClient(env.BROKER_SOCKET!);
    await waitForHealth(client, daemon, () => daemonLog);
    out(`2. daemon on ${env.BROKER_SOCKET} (secret store: ${osStore ? "the OS keychain" : "an encrypted file; no keychain reachable"})`);

    const privateKey = app.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const stored = [
      broker(["secret", "set", names.aws, "--type", "aws"], env, JSON.stringify(root_key)),
      broker(["secret", "set", names.app, "--type", "github-app"], env, JSON.stringify({ appId: "1001", privateKey })),
      broker(["secret", "set", names.openai, "--type", "generic"], env, `sk-demo-${randomBytes(18).toString("hex")}`),
    ];
    if (osStore) cleanups.push(() => removeFromKeychain([...Object.values(names), journalKeyName(env.BROKER_STATE_DIR!)]));
    const failed = stored.find((r) => r.code !== 0);
    if (failed) throw new Error(`storing a demo secret failed: ${failed.stderr}`);
    out(`3. long-lived secrets stored (values never printed): ${names.aws} (aws), ${names.app} (github-app), ${names.openai} (generic)`);
    out("4. policy demo-agent: AWS role report-reader narrowed to s3:GetObject on one bucket; GitHub acme/reports, contents: read; OPENAI_API_KEY\n");

    out("$ broker run --task demo-agent --sandbox-tmp --pass-env 'DEMO_*' -- node demo/agent.mjs");
    const runEnv = { ...env, HOME: home, AWS_ACCESS_KEY_ID: root_key.accessKeyId, AWS_SECRET_ACCESS_KEY: root_key.secretAccessKey, DEMO_OPERATOR_KEY: root_key.accessKeyId, DEMO_STS_ENDPOINT: sts.url, DEMO_GITHUB_URL: github.url, DEMO_EXFIL_URL: exfilUrl, DEMO_BROKER_CLI: CLI };
    mkdirSync(join(root, "work"));
    const run = await runAgent(runEnv, join(root, "work"));
    const endedAt = Date.now();
    for (const line of run.stdout.trim().split("\n")) out(`   agent | ${line}`);
    for (const line of run.stderr.split("\n").filter((l) => l.startsWith("broker:"))) out(`  broker | ${line.slice("broker: ".length)}`);
    if (run.code !== 0) throw new Error(`the agent failed (exit ${run.code}): ${run.stderr}`);

    out("\n5. after the run:");
    const token = github.tokens.at(-1);
    out(`   GitHub stand-in: 1 installation token issued for ${token?.repositories.join(",")} with ${JSON.stringify(token?.permissions)}; ${token?.revokedAt ? (token.revokedAt <= endedAt ? "revoked before `broker run` returned" : `revoked ${token.revokedAt - endedAt} ms after the run ended`) : "NOT revoked"}`);
    const assume = sts.calls.find((c) => c.action === "AssumeRole");
    out(`   STS stand-in: AssumeRole as ${assume?.params.RoleSessionName}, ${assume?.params.DurationSeconds} s, source identity ${assume?.params.SourceIdentity}, session policy attached: ${assume?.params.Policy ? "yes" : "no"}`);
    out("   (STS credentials cannot be revoked one by one: they were removed from the sandbox and expire on their own)");
    const audit = readFileSync(join(env.BROKER_STATE_DIR!, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; outcome: string; provider?: string; sandbox?: string; host?: string; port?: number });
    const sandboxDir = audit.find((a) => a.event === "session.open")?.sandbox ?? "";
    out(`   live sessions now: ${(await client.listSessions()).length}; sandbox directory removed: ${sandboxDir && !existsSync(sandboxDir) ? "yes" : "NO"}`);
    out(`   the paste site received: ${exfil.length === 0 ? "nothing" : exfil.join(", ")}`);
    const egress = audit.filter((a) => a.event === "egress");
    const counts = new Map<string, number>();
    for (const a of egress) counts.set(`${a.host}:${a.port} ${a.outcome}`, (counts.get(`${a.host}:${a.port} ${a.outcome}`) ?? 0) + 1);
    out(`   egress through the proxy (audited): ${[...counts].map(([k, n]) => `${k} ×${n}`).join(", ")}`);
    out(`   audit log: ${audit.filter((a) => a.event !== "egress").map((a) => `${a.event}${a.provider ? `(${a.provider})` : ""}:${a.outcome}`).join(", ")}`);
    const leaked = [root_key.secretAccessKey, token?.token ?? "\0"].some((s) => daemonLog.includes(s) || JSON.stringify(audit).includes(s) || run.stdout.includes(s));
    out(`   any secret in the agent's log, the daemon's log or the audit log: ${leaked ? "YES" : "none"}`);
    return token?.revokedAt && !leaked && sandboxDir && !existsSync(sandboxDir) && exfil.length === 0 ? 0 : 1;
  } finally {
    for (const cleanup of cleanups) await cleanup();
    out("\ncleaned up: daemon stopped, stand-ins closed, temporary files and demo secrets removed.");
  }
}

/** The demo's secrets and the daemon's journal key for its temporary state dir go with it. */
async function removeFromKeychain(accounts: string[]): Promise<void> {
  const keytar = (await import("keytar")).default;
  for (const account of accounts) await keytar.deletePassword("broker", account);
}

function runAgent(env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, "run", "--task", "demo-agent", "--sandbox-tmp", "--pass-env", "DEMO_*", "--", process.execPath, AGENT], { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

async function waitForHealth(client: BrokerClient, daemon: ReturnType<typeof spawn>, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (daemon.exitCode !== null) throw new Error(`the daemon exited at start: ${log()}`);
    if (await client.health().then(() => true, () => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the daemon did not answer");
}

function stopDaemon(daemon: ReturnType<typeof spawn>): Promise<void> {
  if (daemon.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    daemon.once("exit", () => resolve());
    daemon.kill("SIGTERM");
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
