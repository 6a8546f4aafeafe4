/**
 * What the CLI says when asked for help or given something it cannot use, through the built CLI
 * and a real daemon: each command's help, unknown flags and tasks with "did you mean", a command
 * without `--`, and outcomes that used to pass in silence (`revoke --task` of a typo).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RUN_OPTIONS } from "../../src/cli/run-flags.js";
import { SESSION_OPTIONS } from "../../src/cli/session-request.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";

const REPORT_POLICY = "task: report\nttl: 5m\nmax_ttl: 1h\nenv:\n  DEMO_TOKEN: { secret: demo-token }\n";

describe("broker help and flags", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { report: REPORT_POLICY } });
    const set = await d.cli(["secret", "set", "demo-token", "--type", "generic"], { input: "demo-value\n" });
    expect(set.code, set.stderr).toBe(0);
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it("`broker help run` prints run's own help, the same as `broker run --help`", async () => {
    const viaHelp = await d.cli(["help", "run"]);
    const viaFlag = await d.cli(["run", "--help"]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toMatch(/^usage: broker run /);
    const general = await d.cli(["help"]);
    expect(viaHelp.stdout).not.toBe(general.stdout);
  });

  it("`broker help CMD` answers for every command", async () => {
    for (const command of ["daemon", "secret", "policy", "mint", "run", "sessions", "revoke", "credential-process", "git-credential", "doctor"]) {
      const result = await d.cli(["help", command]);
      expect([command, result.code]).toEqual([command, 0]);
      expect(result.stdout, command).toMatch(new RegExp(`^(usage|Usage):?\\s+broker ${command}`, "m"));
    }
  });

  it("`broker run --help` lists every flag run takes, --repositories and --permissions too", async () => {
    const help = (await d.cli(["run", "--help"])).stdout;
    for (const flag of Object.keys(RUN_OPTIONS)) expect(help, flag).toMatch(new RegExp(`^  --${flag}\\b`, "m"));
    expect(help).toContain("--repositories a,b");
    expect(help).toContain("--permissions k=v");
    const mint = (await d.cli(["help", "mint"])).stdout;
    for (const flag of [...Object.keys(SESSION_OPTIONS), "format"]) expect(mint, flag).toMatch(new RegExp(`^  --${flag}\\b`, "m"));
  });

  it("an unknown flag is named with the nearest known one, in plain words", async () => {
    const result = await d.cli(["run", "--sandbx-tmp", "--task", "report", "--", "true"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("broker: unknown flag --sandbx-tmp (did you mean --sandbox-tmp?) [ERR_USAGE]");
    expect(result.stderr).toContain("broker run --help");
    expect(result.stderr).not.toContain("'");
    const far = await d.cli(["sessions", "--frobnicate=secret-looking-value"]);
    expect(far.stderr).toContain("unknown flag --frobnicate [ERR_USAGE]");
    expect(far.stderr).not.toContain("secret-looking-value");
    const missing = await d.cli(["mint", "--task"]);
    expect(missing.stderr).toContain("--task needs a value [ERR_USAGE]");
  });

  it("a command given without -- is told to go after --", async () => {
    const result = await d.cli(["run", "--task", "report", "aws", "sts", "get-caller-identity", "--endpoint-url", "http://127.0.0.1:9"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('the command to run goes after --: "aws" is not a flag of broker run [ERR_USAGE]');
    expect(result.stderr).toContain("fix: broker run --task report -- aws …");
    const split = await d.cli(["run", "--task", "report", "aws", "--", "sts"]);
    expect(split.code).toBe(2);
    expect(split.stderr).toContain('"aws" before -- is not a flag of broker run [ERR_USAGE]');
    expect(await d.client.listSessions()).toEqual([]);
  });

  it("a mistyped task gets a did-you-mean from the daemon", async () => {
    for (const args of [["mint", "--task", "reprot"], ["run", "--no-sandbox", "--task", "reprot", "--", "true"]]) {
      const result = await d.cli(args);
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('no policy for task "reprot" (did you mean report?) [ERR_TASK_UNKNOWN]');
      expect(result.stderr).toContain("fix: use --task report");
    }
  });

  it("`broker revoke --task` of a task that does not exist is an error naming it, not `revoked 0`", async () => {
    const typo = await d.cli(["revoke", "--task", "reprot"]);
    expect(typo.code).toBe(3);
    expect(typo.stdout).toBe("");
    expect(typo.stderr).toContain('no policy for task "reprot" (did you mean report?) [ERR_TASK_UNKNOWN]');
    // A real task with nothing live is still a plain success.
    const none = await d.cli(["revoke", "--task", "report"]);
    expect([none.code, none.stdout]).toEqual([0, "revoked 0 session(s)\n"]);
    const minted = await d.cli(["mint", "--task", "report", "--json"]);
    const id = (JSON.parse(minted.stdout) as { id: string }).id;
    const one = await d.cli(["revoke", "--task", "report"]);
    expect([one.code, one.stdout]).toEqual([0, `revoked 1 session(s): ${id}\n`]);
  });

  it("--permissions with a level GitHub does not allow: the message and the fix agree", async () => {
    const result = await d.cli(["mint", "--task", "report", "--permissions", "contents=admin"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--permissions: contents must be one of read, write, found admin [ERR_USAGE]");
    expect(result.stderr).toContain("fix: write contents=read or contents=write: the levels GitHub allows for contents");
    expect(result.stderr).not.toMatch(/admin.*allow|levels are read, write and admin/);
    // Where GitHub does allow admin, the fix offers it.
    const projects = await d.cli(["mint", "--task", "report", "--permissions", "repository_projects=owner"]);
    expect(projects.stderr).toContain("repository_projects=read or repository_projects=write or repository_projects=admin");
  });
});
