/**
 * issue 16 item 4: when `broker run`'s session ends under CMD (TTL, `broker revoke`, the daemon's
 * SIGTERM, the daemon dying), broker run says why on stderr, stops CMD (SIGTERM, then SIGKILL
 * after a grace) and exits 121; `--on-session-end warn` only says it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { isAlive, killLeftovers, killPid, nodeCmd, startCli, startRunFixture, type RunFixture } from "./run-fixture.js";

/** CMD that says it is ready (with its pid), and on SIGTERM says so and exits 0 (or ignores it). */
const cmd = (onTerm: "exit" | "ignore" | "default") =>
  nodeCmd(
    `${onTerm === "exit" ? "process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); });" : ""}
     ${onTerm === "ignore" ? "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));" : ""}
     console.log('ready ' + process.pid); setInterval(() => {}, 1000);`,
  );

const endLine = (why: string, then = "stopping the command") => new RegExp(`^broker: session [0-9a-f-]{36} ended \\(${why}\\); ${then}\\n$`);

/** The last line of the output (after --no-sandbox's warning), with its newline. */
const lastLine = (text: string): string => `${text.trimEnd().split("\n").at(-1)}\n`;

describe("broker run: a session that ends under its command", () => {
  let f: RunFixture;
  const orphans: number[] = [];
  beforeAll(async () => {
    f = await startRunFixture();
  });
  afterEach(() => {
    killLeftovers();
    for (const pid of orphans.splice(0)) killPid(pid);
  });
  afterAll(async () => f.cleanup());

  it("stops the boxed command when the TTL runs out, says why, and exits 121", { timeout: 20_000 }, async () => {
    const run = startCli(f.d, ["run", "--task", "agent", "--ttl", "2", "--", ...cmd("exit")]);
    await run.waitForStdout(/ready \d+/);
    const { code } = await run.exited;
    expect(run.stdout()).toMatch(/got SIGTERM\n$/);
    expect(run.stderr()).toMatch(endLine("ttl expired"));
    expect(code).toBe(121);
  });

  it("stops the command on `broker revoke`", { timeout: 20_000 }, async () => {
    const run = startCli(f.d, ["run", "--task", "agent", "--no-sandbox", "--", ...cmd("default")]);
    const pid = Number((await run.waitForStdout(/ready (\d+)/))[1]);
    orphans.push(pid);
    const revoked = await f.d.cli(["revoke", "--task", "agent"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const { code } = await run.exited;
    expect(lastLine(run.stderr())).toMatch(endLine("revoked"));
    expect(code).toBe(121);
    expect(isAlive(pid)).toBe(false);
  });

  it("sends SIGKILL when the command ignores SIGTERM for the grace period", { timeout: 30_000 }, async () => {
    const run = startCli(f.d, ["run", "--task", "agent", "--", ...cmd("ignore")]);
    await run.waitForStdout(/ready \d+/);
    const sessions = await f.d.client.listSessions();
    const revokedAt = Date.now();
    await f.d.client.closeSession(sessions[0]!.id);
    await run.waitForStdout(/ignoring SIGTERM/);
    const { code } = await run.exited;
    const took = Date.now() - revokedAt;
    expect(code).toBe(121);
    expect(took).toBeGreaterThan(9_000);
    expect(took).toBeLessThan(20_000);
  });

  it("with --on-session-end warn, only says so and returns the command's own code", { timeout: 20_000 }, async () => {
    const run = startCli(f.d, ["run", "--task", "agent", "--no-sandbox", "--on-session-end", "warn", "--", ...nodeCmd("console.log('ready'); process.stdin.once('data', () => process.exit(4))")]);
    await run.waitForStdout(/ready/);
    await f.d.cli(["revoke", "--task", "agent"]);
    await waitFor(() => run.stderr().includes("ended (revoked)"), 5_000);
    expect(run.child.exitCode).toBe(null);
    run.child.stdin!.write("go\n");
    const { code } = await run.exited;
    expect(lastLine(run.stderr())).toMatch(/ended \(revoked\); the command keeps running without it \(--on-session-end warn\)\n$/);
    expect(code).toBe(4);
  });

  it("refuses an --on-session-end it does not know", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--on-session-end", "ignore", "--", "true"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--on-session-end \"ignore\": must be stop or warn");
  });

  it("stops the command when the daemon shuts down (SIGTERM)", { timeout: 30_000 }, async () => {
    const run = startCli(f.d, ["run", "--task", "agent", "--", ...cmd("exit")]);
    await run.waitForStdout(/ready \d+/);
    await f.d.stop("SIGTERM");
    try {
      const { code } = await run.exited;
      expect(run.stderr()).toMatch(endLine("the daemon is shutting down"));
      expect(run.stdout()).toMatch(/got SIGTERM\n$/);
      expect(code).toBe(121);
    } finally {
      await f.d.restart();
    }
  });

  it("stops the command when the daemon dies (its connection drops)", { timeout: 30_000 }, async () => {
    const run = startCli(f.d, ["run", "--task", "agent", "--", ...cmd("exit")]);
    await run.waitForStdout(/ready \d+/);
    await f.d.stop("SIGKILL");
    try {
      const { code } = await run.exited;
      expect(run.stderr()).toMatch(endLine("lost the connection to the daemon"));
      expect(code).toBe(121);
    } finally {
      await f.d.restart();
    }
  });
});
