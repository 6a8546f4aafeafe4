import { spawnSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tmp.js";
import { killLeftovers, nodeCmd, startCli, startRunFixture, type RunFixture } from "./run-fixture.js";

const mkfifo = (path: string): void => {
  const r = spawnSync("mkfifo", [path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mkfifo ${path}: ${r.stderr}`);
};

describe("broker run: things planted in the sandbox directory mid-session", () => {
  let f: RunFixture;
  beforeAll(async () => {
    f = await startRunFixture();
  });
  afterEach(() => killLeftovers());
  afterAll(async () => f.cleanup());

  it("ends the session without writing through, following or removing anything planted", async () => {
    const dir = tempDir("broker-run-planted-");
    const outside = tempDir("broker-run-outside-");
    try {
      const victim = join(outside.path, "victim");
      const credentials = join(outside.path, "credentials");
      writeFileSync(victim, "the operator's file\n");
      writeFileSync(credentials, "not the session's\n");

      const run = startCli(f.d, ["run", "--task", "agent", "--sandbox", dir.path, "--", ...nodeCmd("console.log('ready'); process.stdin.once('data', () => process.exit(0))")]);
      await run.waitForStdout(/ready/);
      expect(readdirSync(dir.path).sort()).toEqual(["env", "session.json"]);

      // What an agent inside could do to the files it was given.
      unlinkSync(join(dir.path, "env"));
      symlinkSync(victim, join(dir.path, "env"));
      unlinkSync(join(dir.path, "session.json"));
      mkfifo(join(dir.path, "session.json"));
      mkfifo(join(dir.path, "aws"));
      symlinkSync(outside.path, join(dir.path, "git"));

      run.child.stdin!.write("done\n");
      const { code } = await run.exited;
      expect(code, run.stderr()).toBe(0);
      expect(await f.d.client.listSessions()).toEqual([]);

      expect(readFileSync(victim, "utf8")).toBe("the operator's file\n");
      expect(readFileSync(credentials, "utf8")).toBe("not the session's\n");
      expect(readdirSync(outside.path).sort()).toEqual(["credentials", "victim"]);
      // The planted entries are not the session's files: left as they are, not followed.
      expect(readdirSync(dir.path).sort()).toEqual(["aws", "env", "git", "session.json"]);
      expect(lstatSync(join(dir.path, "env")).isSymbolicLink()).toBe(true);
      expect(lstatSync(join(dir.path, "session.json")).isFIFO()).toBe(true);
    } finally {
      dir.cleanup();
      outside.cleanup();
    }
  });
});
