import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, waitFor, type TestDaemon } from "../helpers/daemon.js";

const policy = (task: string, extra = "") => `task: ${task}\nttl: 5m\nmax_ttl: 1h\nmax_sessions: 3\nenv:\n  DEMO_TOKEN: { secret: demo-token }\n${extra}`;
const secretValue = `generic-${randomBytes(12).toString("hex")}`;

function auditLines(d: TestDaemon): Array<Record<string, unknown>> {
  try {
    return readFileSync(join(d.stateDir, "audit.jsonl"), "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    return [];
  }
}

describe("daemon sessions (a real daemon process on a temp socket)", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { report: policy("report"), short: policy("short", "") } });
    const set = await d.cli(["secret", "set", "demo-token", "--type", "generic"], { input: `${secretValue}\n` });
    expect(set.code, set.stderr).toBe(0);
  });
  afterAll(async () => d.cleanup());

  it("mints, lists and revokes a session with a generic secret", async () => {
    const minted = await d.cli(["mint", "--task", "report", "--format", "json"]);
    expect(minted.code, minted.stderr).toBe(0);
    const session = JSON.parse(minted.stdout) as { id: string; credentials: { env: Record<string, string> } };
    expect(session.credentials.env.DEMO_TOKEN).toBe(secretValue);

    const listed = await d.cli(["sessions", "--json"]);
    expect((JSON.parse(listed.stdout) as Array<{ id: string; credentials?: unknown }>).map((s) => s.id)).toContain(session.id);
    expect(listed.stdout).not.toContain(secretValue);

    const revoked = await d.cli(["revoke", session.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await d.client.listSessions()).map((s) => s.id)).not.toContain(session.id);
    const events = auditLines(d).filter((l) => l.session === session.id).map((l) => `${l.event}:${l.outcome}`);
    expect(events).toEqual(expect.arrayContaining(["session.open:ok", "mint:ok", "revoke:not-revocable", "session.close:ok"]));
  });

  it("ends a session and, asked with ?view=1, answers with it as it was, without credentials", async () => {
    const opened = await d.client.openSession({ task: "report" });
    const view = await d.client.closeSessionWithView(opened.id);
    expect(view).toMatchObject({ id: opened.id, task: "report", expiresAt: opened.expiresAt });
    expect(view).not.toHaveProperty("credentials");
    expect(JSON.stringify(view)).not.toContain(secretValue);
    expect((await d.client.listSessions()).map((s) => s.id)).not.toContain(opened.id);
    await expect(d.client.closeSessionWithView(opened.id)).rejects.toMatchObject({ code: "ERR_SESSION_NOT_FOUND" });
  });

  it("`broker revoke --task T` ends T's sessions and no others; `--all` ends the rest", async () => {
    const reports = [await d.client.openSession({ task: "report" }), await d.client.openSession({ task: "report" })];
    const other = await d.client.openSession({ task: "short" });
    const byTask = await d.cli(["revoke", "--task", "report", "--json"]);
    expect(byTask.code, byTask.stderr).toBe(0);
    expect((JSON.parse(byTask.stdout) as { revoked: string[] }).revoked.sort()).toEqual(reports.map((s) => s.id).sort());
    expect((await d.client.listSessions()).map((s) => s.id)).toEqual([other.id]);
    // Each ended as a single DELETE ends one: its credentials' revocation attempted and recorded, its close audited.
    for (const s of reports) expect(auditLines(d).filter((l) => l.session === s.id).map((l) => l.event)).toEqual(expect.arrayContaining(["revoke", "session.close"]));
    const all = await d.cli(["revoke", "--all"]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toBe(`revoked 1 session(s): ${other.id}\n`);
    expect(await d.client.listSessions()).toEqual([]);
    expect((await d.cli(["revoke", "--all"])).stdout).toBe("revoked 0 session(s)\n");
  });

  it("prints env and dotenv formats", async () => {
    const env = await d.cli(["mint", "--task", "report", "--format", "env"]);
    expect(env.stdout).toContain(`export DEMO_TOKEN='${secretValue}'`);
    const dotenv = await d.cli(["mint", "--task", "report", "--format", "dotenv"]);
    expect(dotenv.stdout).toContain(`DEMO_TOKEN=${secretValue}`);
    await d.cli(["revoke", "--task", "report"]);
  });

  it("creates the socket 0600 in a 0700 directory", () => {
    expect(statSync(dirname(d.socket)).mode & 0o777).toBe(0o700);
    expect(statSync(d.socket).mode & 0o777).toBe(0o600);
  });

  it("refuses a second daemon on the same socket", async () => {
    const second = await d.cli(["daemon"], { timeoutMs: 10_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("ERR_DAEMON_RUNNING");
    expect((await d.client.health()).ok).toBe(true);
  });

  it("ends a session when its TTL runs out, within a second", async () => {
    const session = await d.client.openSession({ task: "short", ttl: 2 });
    const due = Date.parse(session.expiresAt);
    await waitFor(async () => !(await d.client.listSessions()).some((s) => s.id === session.id), 5_000, 20);
    // The daemon's own record of when it ended the session, not when this poll happened to look.
    const expired = await waitFor(() => auditLines(d).find((l) => l.session === session.id && l.event === "expire"), 2_000, 20);
    expect(Date.parse(expired.time as string) - due).toBeLessThan(1_000);
    expect(Date.parse(expired.time as string)).toBeGreaterThanOrEqual(due);
  });

  it("refuses more than max_sessions with ERR_SESSION_LIMIT", async () => {
    const opened = await Promise.all([1, 2, 3].map(() => d.client.openSession({ task: "short" })));
    const fourth = await d.cli(["mint", "--task", "short"]);
    expect(fourth.code).toBe(3);
    expect(fourth.stderr).toContain("ERR_SESSION_LIMIT");
    for (const s of opened) await d.client.closeSession(s.id);
  });

  it("refuses a TTL beyond max_ttl instead of cutting it (exit 3)", async () => {
    const result = await d.cli(["mint", "--task", "short", "--ttl", "2h"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("ERR_POLICY_DENIED");
  });

  it("ends a connection-bound session when its client is SIGKILLed", async () => {
    const clientModule = new URL("../../dist/client/index.js", import.meta.url).href;
    const script = `const { BrokerClient } = await import(${JSON.stringify(clientModule)});
      const b = await new BrokerClient(process.env.BROKER_SOCKET).openBoundSession({ task: "short" });
      console.log(b.session.id); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { env: d.env, stdio: ["ignore", "pipe", "inherit"] });
    const id = await new Promise<string>((resolve) => child.stdout.once("data", (b: Buffer) => resolve(b.toString().trim())));
    expect((await d.client.listSessions()).map((s) => s.id)).toContain(id);
    await new Promise((r) => setTimeout(r, 300));
    expect((await d.client.listSessions()).map((s) => s.id)).toContain(id);
    const killedAt = Date.now();
    child.kill("SIGKILL");
    await waitFor(async () => !(await d.client.listSessions()).some((s) => s.id === id), 5_000, 10);
    expect(Date.now() - killedAt).toBeLessThan(1_000);
  });

  it("never writes the secret to its log or the audit file", () => {
    expect(d.stderr()).not.toContain(secretValue);
    expect(readFileSync(join(d.stateDir, "audit.jsonl"), "utf8")).not.toContain(secretValue);
  });
});
