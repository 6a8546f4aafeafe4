/**
 * A human in the loop, through the real CLI and daemon: a session request of a task whose policy
 * says `approval:` waits (its open blocks) until `broker approve` in another process lets it
 * through, `broker deny` or the timeout refuses it (exit 3, nothing minted); an approved plan is
 * reused within `approval.reuse`; a waiting request holds a place among max_sessions; the
 * notifier is fed the request's summary.
 */
import { spawn } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PendingApproval } from "../../src/client/broker-client.js";
import { startTestDaemon, waitFor, type TestDaemon } from "../helpers/daemon.js";
import { CLI } from "../helpers/cli.js";
import { startCli } from "../helpers/pending-cli.js";

const SECRET = "approval-secret-value-0123456789";
const env = (task: string, approval: string, extra = "") => `task: ${task}\nttl: 10m\nmax_ttl: 1h\n${extra}env:\n  DEPLOY_KEY: { secret: deploy-key }\napproval:\n${approval}`;

describe("approval of session requests", () => {
  let d: TestDaemon;
  let notified: string;
  beforeAll(async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const dir = mkdtempSync(join(tmpdir(), "broker-notify-"));
    notified = join(dir, "notified.jsonl");
    const script = join(dir, "notify.sh");
    writeFileSync(script, `#!/bin/sh\ncat >> '${notified}'\n`);
    chmodSync(script, 0o700);
    d = await startTestDaemon({
      policies: {
        deploy: env("deploy", "  required: true\n  timeout: 1m\n"),
        quick: env("quick", "  required: true\n  timeout: 1s\n"),
        again: env("again", "  required: true\n  timeout: 1m\n  reuse: 10m\n"),
        single: env("single", "  required: true\n  timeout: 1m\n", "max_sessions: 1\n"),
        long: env("long", "  when: { ttl_over: 30m }\n  timeout: 1m\n"),
      },
      env: { BROKER_NOTIFY_COMMAND: script },
    });
    const set = await d.cli(["secret", "set", "deploy-key", "--type", "generic"], { input: `${SECRET}\n` });
    if (set.code !== 0) throw new Error(set.stderr);
  });
  afterAll(async () => d?.cleanup());

  const audit = () => readFileSync(join(d.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  const linesOf = (id: string) => audit().filter((l) => l.approval === id);

  it("a waiting mint is let through by `broker approve` in another process", async () => {
    const mint = startCli(["mint", "--task", "deploy"], d.env);
    const id = await mint.pendingId();
    const listed = JSON.parse((await d.cli(["approvals", "--json"])).stdout) as PendingApproval[];
    const mine = listed.find((p) => p.id === id)!;
    expect(mine.task).toBe("deploy");
    expect(mine.summary).toMatchObject({ ttlSeconds: 600, providers: ["env"], reasons: ["required"] });
    expect(mine.requester.pid).toBe(mint.child.pid);
    expect(mine.requester.executable).toBe(process.execPath);
    expect(mine.requester.cwd).toBe(process.cwd());
    expect(JSON.stringify(listed)).not.toContain(SECRET);
    expect((await d.cli(["approvals"])).stdout).toContain(`${id}  task deploy`);

    const approve = await d.cli(["approve", id, "--yes"]);
    expect(approve.code, approve.stderr).toBe(0);
    const result = await mint.result;
    expect(result.code, result.stderr).toBe(0);
    const minted = JSON.parse(result.stdout) as { id: string; credentials: { env: Record<string, string> } };
    expect(minted.credentials.env.DEPLOY_KEY).toBe(SECRET);
    // The session's own open line names the approval that let it: the audit links who approved to what was minted.
    const events = linesOf(id).map((l) => [l.event, l.outcome, l.session]);
    expect(events).toEqual([["approval.request", "pending", null], ["approve", "approved", null], ["session.open", "ok", minted.id]]);
    expect(linesOf(id)[1]).toMatchObject({ approverUid: process.getuid!() });
    expect(typeof linesOf(id)[1]!.approverPid).toBe("number");
    // Used once: the same id approves nothing more.
    expect((await d.cli(["approve", id, "--yes"])).stderr).toContain("[ERR_APPROVAL_NOT_FOUND]");
  });

  it("`broker deny` refuses it: exit 3, ERR_APPROVAL_DENIED, the reason cleaned of control characters, nothing minted", async () => {
    const mint = startCli(["mint", "--task", "deploy"], d.env);
    const id = await mint.pendingId();
    const deny = await d.cli(["deny", id, "--reason", "not \u001b[31mnow\u0007 please"]);
    expect(deny.code, deny.stderr).toBe(0);
    const result = await mint.result;
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("denied: not [31mnow please [ERR_APPROVAL_DENIED]");
    expect(result.stdout).toBe("");
    expect(linesOf(id).map((l) => [l.event, l.outcome])).toEqual([["approval.request", "pending"], ["deny", "approval-denied"]]);
    expect(audit().filter((l) => l.event === "mint" && l.outcome === "ok").length).toBe(1);
  });

  it("a request nobody approves in time is refused: exit 3, ERR_APPROVAL_TIMEOUT", async () => {
    const result = await d.cli(["mint", "--task", "quick"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^waiting for approval: broker approve \S+$/m);
    expect(result.stderr).toContain("[ERR_APPROVAL_TIMEOUT]");
    expect(audit().filter((l) => l.task === "quick").map((l) => l.event)).toEqual(["approval.request", "approval.timeout"]);
  });

  it("an approved plan is reused within approval.reuse; another plan is asked for again", async () => {
    const first = startCli(["mint", "--task", "again"], d.env);
    const firstId = await first.pendingId();
    expect((await d.cli(["approve", firstId, "--yes"])).code).toBe(0);
    expect((await first.result).code).toBe(0);
    const second = await d.cli(["mint", "--task", "again"]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).not.toContain("waiting for approval");
    expect(audit().filter((l) => l.task === "again" && l.event === "approve").map((l) => l.outcome)).toEqual(["approved", "reused"]);
    // Both opens name the one approval: the reused session is traced to the person who approved the first.
    const opened = audit().filter((l) => l.task === "again" && l.event === "session.open");
    expect(opened.map((l) => l.approval)).toEqual([firstId, firstId]);
    // A shorter TTL is another plan: its digest was never approved.
    const other = startCli(["mint", "--task", "again", "--ttl", "5m"], d.env);
    await d.cli(["deny", await other.pendingId()]);
    expect((await other.result).code).toBe(3);
  });

  it("only the conditions of approval.when make a request wait (ttl_over)", async () => {
    const short = await d.cli(["mint", "--task", "long", "--ttl", "20m"]);
    expect(short.code, short.stderr).toBe(0);
    const longer = startCli(["mint", "--task", "long", "--ttl", "45m"], d.env);
    const id = await longer.pendingId();
    const listed = JSON.parse((await d.cli(["approvals", "--json"])).stdout) as Array<{ id: string; summary: { reasons: string[] } }>;
    expect(listed.find((p) => p.id === id)?.summary.reasons).toEqual(["ttl_over"]);
    await d.cli(["deny", id]);
    expect((await longer.result).code).toBe(3);
  });

  it("a waiting request holds its place among max_sessions", async () => {
    const waiting = startCli(["mint", "--task", "single"], d.env);
    const id = await waiting.pendingId();
    const second = await d.cli(["mint", "--task", "single"]);
    expect(second.code).toBe(3);
    expect(second.stderr).toContain("[ERR_SESSION_LIMIT]");
    await d.cli(["deny", id]);
    expect((await waiting.result).code).toBe(3);
  });

  it("`broker approve` without a terminal and without --yes refuses with a code", async () => {
    const mint = startCli(["mint", "--task", "deploy"], d.env);
    const id = await mint.pendingId();
    const approve = await d.cli(["approve", id]);
    expect(approve.code).toBe(2);
    expect(approve.stderr).toContain("[ERR_CONFIRMATION_REQUIRED]");
    expect((await d.client.listApprovals()).map((p) => p.id)).toContain(id);
    await d.cli(["deny", id]);
    expect((await mint.result).code).toBe(3);
  });

  it("on a terminal `broker approve` shows the request and asks y/N: only y approves", async () => {
    const mint = startCli(["mint", "--task", "deploy"], d.env);
    const id = await mint.pendingId();
    const onTerminal = (answer: string) => new Promise<{ code: number | null; out: string }>((resolve) => {
      // script(1) gives the command a pseudo-terminal and forwards our input to it.
      const child = spawn("script", ["-qec", `'${process.execPath}' -- '${CLI}' approve ${id}`, "/dev/null"], { env: d.env, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        out += c;
        if (out.includes("[y/N]")) child.stdin.write(answer);
      });
      child.on("close", (code) => resolve({ code, out }));
    });
    const no = await onTerminal("n\n");
    expect(no.out).toContain("task deploy");
    expect(no.out).toContain("not approved");
    expect(no.code).toBe(1);
    expect((await d.client.listApprovals()).map((p) => p.id)).toContain(id);
    const yes = await onTerminal("y\n");
    expect(yes.out).toContain(`approved ${id}`);
    expect((await mint.result).code).toBe(0);
  });

  it("the notifier is fed each waiting request's summary as JSON, without secrets", async () => {
    const mint = startCli(["mint", "--task", "deploy"], d.env);
    const id = await mint.pendingId();
    const notice = await waitFor(() => {
      const lines = readFileSync(notified, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      return lines.find((l) => l.id === id);
    });
    expect(notice).toMatchObject({ id, task: "deploy", ttlSeconds: 600, reasons: ["required"], requester: { pid: mint.child.pid } });
    expect(readFileSync(notified, "utf8")).not.toContain(SECRET);
    await d.cli(["deny", id]);
    await mint.result;
  });
});
