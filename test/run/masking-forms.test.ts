/**
 * issue 15 item 7, masking: a credential is concealed in its URL-encoded and JSON-escaped forms
 * too, and when stdout and stderr go to one file or pipe, a value CMD splits between the two
 * streams is concealed there as well.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";
import { nodeCmd, randomValue } from "./run-fixture.js";

const MASK = "<concealed by broker>";
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe("broker run: masking every form of a credential, and both streams as one", () => {
  let d: TestDaemon;
  // Shaped like an AWS secret key: `/`, `+` and `=` are what URL-encoding and JSON escaping change.
  const secret = `${randomValue("k")}/a+b/c=d`;
  const tmp = tempDir("broker-mask-forms-");
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { agent: "task: agent\nenv:\n  SECRET_KEY: { secret: secret-key }\n" } });
    const set = await d.cli(["secret", "set", "secret-key", "--type", "generic"], { input: `${secret}\n` });
    if (set.code !== 0) throw new Error(set.stderr);
  });
  afterAll(async () => {
    await d.cleanup();
    tmp.cleanup();
  });

  it("conceals the URL-encoded (either case) and the JSON-escaped forms", async () => {
    const script = `const v = process.env.SECRET_KEY, u = encodeURIComponent(v);
      console.log('url=' + u);
      console.log('lower=' + u.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()));
      console.log('json=' + JSON.stringify({ v }));
      console.log('slash=' + JSON.stringify({ v }).replace(/\\//g, '\\\\/'));`;
    const result = await d.cli(["run", "--task", "agent", "--", ...nodeCmd(script)]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`url=${MASK}\nlower=${MASK}\njson={"v":"${MASK}"}\nslash={"v":"${MASK}"}\n`);
  });

  /** Runs broker run under sh with the given redirections; CMD writes the first half of the secret to stdout, closes it, then the rest to stderr. */
  function runSplit(redirect: string): Promise<number | null> {
    const script = `const v = process.env.SECRET_KEY, h = v.length >> 1;
      process.stdout.write('<' + v.slice(0, h), () => { require('fs').closeSync(1); setTimeout(() => process.stderr.write(v.slice(h) + '>\\n'), 200); });`;
    const line = `${shq(process.execPath)} ${shq(CLI)} run --task agent -- ${nodeCmd(script).map(shq).join(" ")} ${redirect}`;
    return new Promise((resolve, reject) => {
      const child = spawn("sh", ["-c", line], { env: d.env, stdio: "ignore" });
      child.once("error", reject);
      child.once("close", resolve);
    });
  }

  it("conceals a value split between stdout and stderr when both go to one file", async () => {
    const file = join(tmp.path, "both.txt");
    expect(await runSplit(`>${shq(file)} 2>&1`)).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(`<${MASK}>\n`);
  });

  it("conceals a value split between stdout and stderr when both go to one pipe", async () => {
    const file = join(tmp.path, "piped.txt");
    expect(await runSplit(`2>&1 | cat >${shq(file)}`)).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(`<${MASK}>\n`);
  });

  it("still masks each stream on its own when they go to different files", async () => {
    const [out, err] = [join(tmp.path, "out.txt"), join(tmp.path, "err.txt")];
    expect(await runSplit(`>${shq(out)} 2>${shq(err)}`)).toBe(0);
    // Halves of a value are not the value: each file holds its half (what a reader of one file sees anyway).
    expect(readFileSync(out, "utf8") + readFileSync(err, "utf8")).toBe(`<${secret}>\n`);
  });
});
