/**
 * Hostile files around the daemon (issue: other local users and hostile files cannot hurt the
 * broker): `$HOME/.config` as a sandbox, a symlinked journal, forged journal lines, a state or
 * policy directory others can write, and a `--sandbox-tmp` directory renamed away by its command.
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32Hex } from "../../src/util/crc32.js";
import { awsPolicy, EXTERNAL_ID, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";

const TASK = "report";

/** Path → [mode, content] of every entry under `dir`, to compare before and after. */
function snapshot(dir: string): Record<string, [number, string]> {
  const out: Record<string, [number, string]> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p);
      out[p] = [st.mode, st.isDirectory() ? "" : readFileSync(p, "utf8")];
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** Every path under `dir` whose name is `credentials` inside an `aws` directory (the root's other entries may be live sessions of other runs). */
function awsCredentialFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name === "credentials" && d.endsWith("/aws")) found.push(p);
    }
  };
  walk(dir);
  return found;
}

describe("hostile files", () => {
  let f: AwsFixture;
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({ [TASK]: awsPolicy(TASK, endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` }) }));
  });
  afterAll(async () => f?.cleanup());

  it("refuses $HOME/.config as a sandbox dir and changes nothing in it", async () => {
    const config = join(f.daemon.env.HOME!, ".config");
    mkdirSync(join(config, "gh"), { recursive: true, mode: 0o755 });
    mkdirSync(join(config, "git"), { recursive: true, mode: 0o755 });
    mkdirSync(join(config, "aws"), { recursive: true, mode: 0o755 });
    writeFileSync(join(config, "gh", "hosts.yml"), "github.com:\n    oauth_token: gho_operators_own\n", { mode: 0o644 });
    writeFileSync(join(config, "git", "credentials"), "https://operator:operators-own@github.com\n", { mode: 0o644 });
    chmodSync(config, 0o755);
    const before = snapshot(config);
    for (const args of [["--sandbox", config], ["--sandbox", f.daemon.env.HOME!]]) {
      const result = await f.daemon.cli(["run", "--no-sandbox", "--task", TASK, ...args, "--", "true"], { env: f.awsEnv() });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("ERR_SANDBOX_UNSAFE");
    }
    const ended = await f.daemon.cli(["revoke", "--all"]);
    expect(ended.code, ended.stderr).toBe(0);
    expect(snapshot(config)).toEqual(before);
    expect(statSync(config).mode & 0o777).toBe(0o755);
  });

  it("refuses a sandbox dir that holds files broker did not write, and takes back one it wrote", async () => {
    const dir = join(f.root, "given");
    mkdirSync(join(dir, "aws"), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "aws", "credentials"), "[default]\naws_access_key_id = AKIAOPERATOR\n");
    const refused = await f.daemon.cli(["run", "--no-sandbox", "--task", TASK, "--sandbox", dir, "--", "true"], { env: f.awsEnv() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("ERR_SANDBOX_UNSAFE");
    expect(readFileSync(join(dir, "aws", "credentials"), "utf8")).toContain("AKIAOPERATOR");
    // Once emptied it is taken; a session's leftovers (its session.json carries the daemon's marker) too.
    rmSync(join(dir, "aws"), { recursive: true });
    const first = await f.daemon.client.openSession({ task: TASK, sandbox: { dir } });
    const second = await f.daemon.client.openSession({ task: TASK, sandbox: { dir } });
    await f.daemon.client.closeSession(second.id);
    await f.daemon.client.closeSession(first.id);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("leaves no copy of aws/credentials when the command renames its --sandbox-tmp dir away", async () => {
    const script = 'mv "$BROKER_SANDBOX_DIR" "$BROKER_SANDBOX_DIR.moved" && mkdir "$BROKER_SANDBOX_DIR" && ls "$BROKER_SANDBOX_DIR.moved/aws" && echo "dir=$BROKER_SANDBOX_DIR"';
    const result = await f.daemon.cli(["run", "--no-sandbox", "--task", TASK, "--sandbox-tmp", "--", "sh", "-c", script], { env: f.awsEnv() });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("credentials");
    const dir = /dir=(.+)/.exec(result.stdout)![1]!;
    expect(existsSync(`${dir}.moved`)).toBe(false);
    // The moved copy is gone, and nothing was written into the empty directory put in its place.
    expect(awsCredentialFiles(dir)).toEqual([]);
    rmSync(dir, { recursive: true, force: true }); // the command's own empty directory
  });

  describe("the state directory", () => {
    it("refuses a symlinked journal and leaves the file it points at whole", async () => {
      await f.daemon.stop();
      const journal = join(f.daemon.stateDir, "journal.jsonl");
      const victim = join(f.root, "victim.txt");
      writeFileSync(victim, "not a journal line: a torn journal would be cut to 0 bytes\n");
      rmSync(journal, { force: true });
      symlinkSync(victim, journal);
      const result = await f.daemon.cli(["daemon"], { timeoutMs: 15_000 });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("ERR_UNSAFE_PATH");
      expect(readFileSync(victim, "utf8")).toBe("not a journal line: a torn journal would be cut to 0 bytes\n");
      rmSync(journal);
      await f.daemon.restart();
    });

    it("does not let forged journal lines make recovery delete a directory tree", async () => {
      const victim = join(f.root, "victim-tree");
      mkdirSync(join(victim, "deep"), { recursive: true });
      writeFileSync(join(victim, "deep", "work.txt"), "keep me");
      await f.daemon.stop("SIGKILL");
      const json = JSON.stringify({ t: "open", session: "forged-1", task: TASK, expiresAt: Date.now() + 60_000, sandbox: { dir: victim, tmp: true } });
      const json2 = JSON.stringify({ t: "open", session: "forged-2", task: TASK, expiresAt: Date.now() + 60_000, sandbox: { dir: victim, tmp: false } });
      // A valid-looking CRC over the JSON (the old format), over a made-up MAC and the JSON, and none at all.
      appendFileSync(join(f.daemon.stateDir, "journal.jsonl"), `${crc32Hex(json)} ${json}\n${crc32Hex(`${"a".repeat(64)} ${json2}`)} ${"a".repeat(64)} ${json2}\n0badc0de ${json}\n`);
      await f.daemon.restart();
      expect(readFileSync(join(victim, "deep", "work.txt"), "utf8")).toBe("keep me");
      expect(f.audit()).toContainEqual(expect.objectContaining({ event: "recover", outcome: "rejected", reason: "unauthenticated", lines: 2 }));
    });

    it("refuses to start with a policy file others can write, naming the fix", async () => {
      await f.daemon.stop();
      const file = join(f.daemon.policiesDir, `${TASK}.yaml`);
      chmodSync(file, 0o666);
      try {
        const result = await f.daemon.cli(["daemon"], { timeoutMs: 15_000 });
        expect(result.code).not.toBe(0);
        expect(result.stderr).toContain("writable by group or others (mode 0666)");
        expect(result.stderr).toContain(`chmod go-w ${file}`);
        const checked = await f.daemon.cli(["policy", "check"]);
        expect(checked.code).toBe(1);
        expect(checked.stdout + checked.stderr).toContain(`chmod go-w ${file}`);
      } finally {
        chmodSync(file, 0o644);
        await f.daemon.restart();
      }
    });

    it.each([
      ["state", () => f.daemon.stateDir],
      ["policy", () => f.daemon.policiesDir],
    ])("refuses to start with a %s directory others can write, naming the fix", async (_what, dirOf) => {
      await f.daemon.stop();
      const dir = dirOf();
      chmodSync(dir, 0o777);
      try {
        const result = await f.daemon.cli(["daemon"], { timeoutMs: 15_000 });
        expect(result.code).toBe(1);
        expect(result.stderr).toContain("ERR_UNSAFE_PATH");
        expect(result.stderr).toContain(`chmod go-w ${dir}`);
      } finally {
        chmodSync(dir, 0o755);
        await f.daemon.restart();
      }
    });
  });
});
