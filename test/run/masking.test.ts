import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { killLeftovers, nodeCmd, startCli, startRunFixture, type RunFixture } from "./run-fixture.js";

const MASK = "<concealed by broker>";
const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

describe("broker run: masking CMD's output", () => {
  let f: RunFixture;
  const tmp = tempDir("broker-run-mask-");
  beforeAll(async () => {
    f = await startRunFixture();
  });
  afterAll(async () => {
    killLeftovers();
    await f.cleanup();
    tmp.cleanup();
  });

  const run = (script: string, flags: string[] = []) => f.d.cli(["run", "--task", "agent", ...flags, "--", ...nodeCmd(script)]);

  it("conceals a credential printed whole on a pipe", async () => {
    const result = await run("process.stdout.write('token=' + process.env.DEMO_TOKEN + ' end\\n')");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`token=${MASK} end\n`);
  });

  it("conceals a credential split across two writes with a pause between", async () => {
    const result = await run(
      "const t = process.env.DEMO_TOKEN, h = t.length >> 1; process.stdout.write('a:' + t.slice(0, h)); setTimeout(() => process.stdout.write(t.slice(h) + ':b\\n'), 300)",
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`a:${MASK}:b\n`);
  });

  it("conceals a credential written one byte at a time", async () => {
    const result = await run(
      "const t = [...('<' + process.env.OTHER_KEY + '>\\n')]; const next = () => { const c = t.shift(); if (c !== undefined) process.stdout.write(c, () => setTimeout(next, 2)); }; next()",
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`<${MASK}>\n`);
  });

  it("conceals every occurrence of every credential", async () => {
    const result = await run("const { DEMO_TOKEN: d, OTHER_KEY: o } = process.env; console.log([d, o, d + d, o].join(' | '))");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${MASK} | ${MASK} | ${MASK}${MASK} | ${MASK}\n`);
  });

  it("conceals credentials on stderr too", async () => {
    const result = await run("console.error('oops ' + process.env.DEMO_TOKEN); console.log('fine')");
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`oops ${MASK}\n`);
    expect(result.stdout).toBe("fine\n");
  });

  it("conceals values CMD reads from the sandbox files, not only its environment", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--no-env", "--sandbox-tmp", "--", "sh", "-c", 'cat "$BROKER_SANDBOX_DIR/env"']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`DEMO_TOKEN=${MASK}`);
    expect(result.stdout).toContain(`OTHER_KEY=${MASK}`);
    expect(result.stdout).not.toContain(f.demo);
  });

  it("passes everything else through byte-exact, including a prefix of a secret left at the end", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--", ...nodeCmd(
      "const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)); process.stdout.write(Buffer.concat([all, Buffer.from(process.env.DEMO_TOKEN.slice(0, 12))]))",
    )]);
    expect(result.code, result.stderr).toBe(0);
    // runCli decodes as UTF-8, so compare through the same decoding.
    const expected = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from(f.demo.slice(0, 12))]).toString("utf8");
    expect(result.stdout).toBe(expected);
  });

  it("passes credentials through with --no-masking", async () => {
    const result = await run("console.log(process.env.DEMO_TOKEN); console.error(process.env.OTHER_KEY)", ["--no-masking"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${f.demo}\n`);
    expect(result.stderr).toBe(`${f.other}\n`);
  });

  it("hands CMD the closed pipe and returns CMD's code when broker run's reader goes away (… | head)", async () => {
    const writer = nodeCmd(
      `process.stdout.on("error", (e) => { console.error("cmd saw " + (["EPIPE", "ECONNRESET"].includes(e.code) ? "a closed pipe" : e.code)); process.exit(7); });
       const write = () => process.stdout.write(process.env.DEMO_TOKEN + "\\n", (e) => e || setImmediate(write)); write();`,
    );
    const run = startCli(f.d, ["run", "--task", "agent", "--", ...writer]);
    await run.waitForStdout(new RegExp(`${MASK}\\n${MASK}\\n`));
    run.child.stdout!.destroy();
    const { code } = await run.exited;
    expect(run.stderr()).toBe("cmd saw a closed pipe\n"); // and no crash of broker run on EPIPE
    expect(code).toBe(7);
    expect(run.stdout()).not.toContain(f.demo);
    expect(await f.d.client.listSessions()).toEqual([]);
  });

  /** Runs `broker run …` with its stdout and stderr on a pseudo-terminal (script(1)); returns what the terminal showed. */
  function runOnTerminal(shellTail: string): Promise<{ code: number | null; output: string }> {
    const line = `${shq(process.execPath)} ${shq(CLI)} run --task agent -- ${nodeCmd("console.log('out:' + process.env.DEMO_TOKEN); console.error('err:' + process.env.OTHER_KEY)").map(shq).join(" ")} ${shellTail}`;
    return new Promise((resolve, reject) => {
      const child = spawn("script", ["-qec", line, "/dev/null"], { env: f.d.env, stdio: ["ignore", "pipe", "inherit"] });
      let output = "";
      child.stdout.setEncoding("utf8").on("data", (s: string) => (output += s));
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  it("leaves output to a terminal untouched", async () => {
    const { code, output } = await runOnTerminal("");
    expect(code).toBe(0);
    expect(output).toContain(`out:${f.demo}`);
    expect(output).toContain(`err:${f.other}`);
    expect(output).not.toContain(MASK);
  });

  it("decides per stream: stdout on a terminal untouched, stderr to a file concealed", async () => {
    const errFile = join(tmp.path, "stderr.txt");
    const { code, output } = await runOnTerminal(`2>${shq(errFile)}`);
    expect(code).toBe(0);
    expect(output).toContain(`out:${f.demo}`);
    expect(readFileSync(errFile, "utf8")).toBe(`err:${MASK}\n`);
  });
});
