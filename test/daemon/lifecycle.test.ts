import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startTestDaemon, waitFor, type TestDaemon } from "../helpers/daemon.js";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const POLICY = (task: string) => `task: ${task}\nttl: 10m\nmax_ttl: 1h\nenv:\n  DEMO: { secret: demo }\n`;
const audit = (d: TestDaemon) => readFileSync(join(d.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, string>);

describe("daemon lifecycle", () => {
  const daemons: TestDaemon[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) await d.cleanup();
  });
  async function start(tasks = ["report"]): Promise<TestDaemon> {
    const d = await startTestDaemon({ policies: Object.fromEntries(tasks.map((t) => [t, POLICY(t)])) });
    daemons.push(d);
    await d.cli(["secret", "set", "demo", "--type", "generic"], { input: "demo-value-456" });
    return d;
  }

  it("refuses to start on a socket dir others can reach", async () => {
    const tmp = tempDir();
    try {
      const dir = join(tmp.path, "open");
      mkdirSync(dir, { mode: 0o755 });
      const env = { ...process.env, BROKER_SOCKET: join(dir, "broker.sock"), BROKER_STATE_DIR: join(tmp.path, "state"), BROKER_POLICIES: tmp.path, BROKER_STORE: "file", BROKER_STORE_PASSPHRASE: "x-passphrase" };
      const result = await runCli(["daemon"], { env, timeoutMs: 10_000 });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("ERR_UNSAFE_PATH");
      expect(result.stderr).toContain("accessible to group or others");
      expect(existsSync(join(dir, "broker.sock"))).toBe(false);
    } finally {
      tmp.cleanup();
    }
  });

  it("replaces a stale socket left by a dead daemon", async () => {
    const d = await start();
    await d.stop("SIGKILL");
    expect(existsSync(d.socket)).toBe(true);
    await d.restart();
    expect((await d.client.health()).ok).toBe(true);
  });

  it("keeps the old policies when a SIGHUP reload finds a broken file", async () => {
    const d = await start();
    writeFileSync(join(d.policiesDir, "broken.yaml"), "task: broken\nttl: forever\nbogus: 1\n");
    d.process.kill("SIGHUP");
    await waitFor(() => d.stderr().includes("policy reload refused"));
    expect(d.stderr()).toMatch(/broken\.yaml:\d+: /);
    const session = await d.client.openSession({ task: "report" });
    expect(session.credentials?.env.DEMO).toBe("demo-value-456");

    writeFileSync(join(d.policiesDir, "broken.yaml"), POLICY("broken"));
    d.process.kill("SIGHUP");
    await waitFor(() => d.stderr().includes("policies reloaded"));
    expect((await d.client.openSession({ task: "broken" })).task).toBe("broken");
  });

  it("ends every session on SIGTERM before it exits", async () => {
    const d = await start();
    const sandbox = tempDir();
    try {
      const session = await d.client.openSession({ task: "report", sandbox: { dir: sandbox.path } });
      expect(existsSync(join(sandbox.path, "env"))).toBe(true);
      expect(await d.stop("SIGTERM")).toBe(0);
      expect(existsSync(join(sandbox.path, "env"))).toBe(false);
      const closes = audit(d).filter((l) => l.session === session.id && l.event === "session.close");
      expect(closes).toEqual([expect.objectContaining({ reason: "shutdown" })]);
    } finally {
      sandbox.cleanup();
    }
  });

  it("recovers sessions a SIGKILLed daemon left, before it answers a new request", async () => {
    const d = await start();
    const sandbox = tempDir();
    try {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await d.client.openSession({ task: "report", sandbox: { dir: sandbox.path } })).id);
      const tmpSession = await d.client.openSession({ task: "report", sandbox: { tmp: true } });
      ids.push(tmpSession.id);
      expect(existsSync(tmpSession.sandbox!.dir)).toBe(true);
      await d.stop("SIGKILL");
      expect(existsSync(join(sandbox.path, "env"))).toBe(true);

      await d.restart();
      // health answered, so recovery is done: files gone, each session audited as recover.
      expect(existsSync(join(sandbox.path, "env"))).toBe(false);
      expect(existsSync(tmpSession.sandbox!.dir)).toBe(false);
      const recovered = audit(d).filter((l) => l.event === "recover").map((l) => l.session);
      expect(recovered).toEqual(expect.arrayContaining(ids));
      expect(await d.client.listSessions()).toEqual([]);
    } finally {
      sandbox.cleanup();
    }
  });

  it("recovers from a journal with a torn tail", async () => {
    const d = await start();
    const session = await d.client.openSession({ task: "report" });
    await d.stop("SIGKILL");
    writeFileSync(join(d.stateDir, "journal.jsonl"), `${readFileSync(join(d.stateDir, "journal.jsonl"), "utf8")}0badc0de {"t":"open","sess`);
    await d.restart();
    expect(audit(d).some((l) => l.event === "recover" && l.session === session.id)).toBe(true);
    expect(d.stderr()).toContain("torn or corrupt tail");
  });
});
