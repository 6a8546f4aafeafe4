import { spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileStore } from "../../src/store/file-store.js";
import { CLI, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const PASSPHRASE = `pw-${randomBytes(8).toString("hex")}`;
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
const pick = (alphabet: string, n: number): string => [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join("");
const keyId = (prefix = "AKIA"): string => prefix + pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
const name = (label: string): string => `${label}-${randomBytes(4).toString("hex")}`;
const rsaPem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const ecPem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();

let home: { path: string; cleanup: () => void };
let env: NodeJS.ProcessEnv;
let storePath: string;
const store = () => fileStore({ path: storePath, passphrase: PASSPHRASE });

beforeEach(() => {
  home = tempDir("broker-secret-cli-");
  storePath = join(home.path, "state", "secrets.jwe");
  env = {
    PATH: process.env.PATH,
    HOME: home.path,
    XDG_CONFIG_HOME: join(home.path, ".config"),
    XDG_RUNTIME_DIR: join(home.path, "run"),
    BROKER_STATE_DIR: join(home.path, "state"),
    BROKER_STORE: "file",
    BROKER_STORE_PASSPHRASE: PASSPHRASE,
  };
});
afterEach(() => home.cleanup());

describe("broker secret set", () => {
  it("never has the secret in its command line while it waits on stdin", async () => {
    const n = name("cmdline");
    const value = `sk-${randomBytes(16).toString("hex")}`;
    const child = spawn(process.execPath, [CLI, "secret", "set", n, "--type", "generic"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    // Give it time to start and block on stdin; it cannot finish before stdin ends.
    await new Promise((r) => setTimeout(r, 700));
    expect(child.exitCode).toBeNull();
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8");
    expect(cmdline.split("\0")).toEqual([process.execPath, CLI, "secret", "set", n, "--type", "generic", ""]);
    expect(cmdline).not.toContain(value);
    child.stdin.end(`${value}\n`);
    expect(await exited).toBe(0);
    expect(await store().get(n)).toEqual({ type: "generic", value });
  });

  it("builds a github-app secret from --app-id and --private-key-file", async () => {
    const keyFile = join(home.path, "app.pem");
    writeFileSync(keyFile, rsaPem, { mode: 0o600 });
    const n = name("app");
    const result = await runCli(["secret", "set", n, "--type", "github-app", "--app-id", "123456", "--private-key-file", keyFile], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(await store().get(n)).toEqual({ type: "github-app", value: JSON.stringify({ appId: "123456", privateKey: rsaPem }) });
  });

  it("prints what it stored with --json, and never the value", async () => {
    const n = name("json");
    const result = await runCli(["secret", "set", n, "--type", "generic", "--json"], { env, input: "json-secret-value" });
    expect(JSON.parse(result.stdout)).toEqual({ name: n, type: "generic", store: "file", replaced: false });
    expect(result.stdout + result.stderr).not.toContain("json-secret-value");
  });

  it("says so when it replaces a secret of that name, and what type it was", async () => {
    const n = name("again");
    const first = await runCli(["secret", "set", n, "--type", "generic"], { env, input: "first-value" });
    expect(first.stdout).toBe(`stored generic secret "${n}" in the file store\n`);
    const second = await runCli(["secret", "set", n, "--type", "generic"], { env, input: "second-value" });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(`replaced generic secret "${n}" in the file store\n`);
    const retyped = await runCli(["secret", "set", n, "--type", "github-app", "--json"], { env, input: JSON.stringify({ appId: "4242", privateKey: rsaPem }) });
    expect(JSON.parse(retyped.stdout)).toMatchObject({ name: n, type: "github-app", replaced: true });
    const third = await runCli(["secret", "set", n, "--type", "generic"], { env, input: "third-value" });
    expect(third.stdout).toBe(`replaced github-app secret with generic secret "${n}" in the file store\n`);
    expect(JSON.stringify(await store().get(n))).toContain("third-value");
    expect(second.stdout + third.stdout).not.toMatch(/first-value|second-value|third-value/);
  });
});

describe("invalid input is refused and the store is left as it was", () => {
  const awsJson = (o: Record<string, unknown>) => JSON.stringify(o);
  const secretKey = pick(B64, 40);
  const cases: Array<[string, string[], string, string, number]> = [
    ["a bad access key id", ["--type", "aws"], awsJson({ accessKeyId: "AKIA-not-a-key-id-xx", secretAccessKey: secretKey }), "ERR_INVALID_SECRET", 2],
    ["a short secret access key", ["--type", "aws"], awsJson({ accessKeyId: keyId(), secretAccessKey: secretKey.slice(0, 30) }), "ERR_INVALID_SECRET", 2],
    ["ASIA without a session token", ["--type", "aws"], awsJson({ accessKeyId: keyId("ASIA"), secretAccessKey: secretKey }), "ERR_INVALID_SECRET", 2],
    ["aws input that is not JSON", ["--type", "aws"], `${keyId()}:${secretKey}`, "ERR_INVALID_SECRET", 2],
    ["a non-numeric app id", ["--type", "github-app"], JSON.stringify({ appId: "my-app", privateKey: rsaPem }), "ERR_INVALID_SECRET", 2],
    ["an EC key for a github-app", ["--type", "github-app"], JSON.stringify({ appId: "1", privateKey: ecPem }), "ERR_INVALID_SECRET", 2],
    ["a garbage PEM", ["--type", "github-app"], JSON.stringify({ appId: "1", privateKey: "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----" }), "ERR_INVALID_SECRET", 2],
    ["an empty generic value", ["--type", "generic"], "", "ERR_INVALID_SECRET", 2],
    ["a lone newline as generic value", ["--type", "generic"], "\n", "ERR_INVALID_SECRET", 2],
    ["an unknown type", ["--type", "ssh-key"], "whatever-value", "ERR_USAGE", 2],
    ["a missing --type", [], "whatever-value", "ERR_USAGE", 2],
    ["a --value flag", ["--type", "generic", "--value", "argv-secret"], "", "ERR_USAGE", 2],
    ["a value given as an extra argument", ["--type", "generic", "argv-secret-positional"], "", "ERR_USAGE", 2],
    ["--app-id without --private-key-file", ["--type", "github-app", "--app-id", "1"], "", "ERR_USAGE", 2],
    ["--app-id with another type", ["--type", "generic", "--app-id", "1", "--private-key-file", "/dev/null"], "", "ERR_USAGE", 2],
    ["an unreadable --private-key-file", ["--type", "github-app", "--app-id", "1", "--private-key-file", "/nonexistent.pem"], "", "ERR_INVALID_SECRET", 2],
  ];

  it.each(cases)("%s", async (_label, flags, input, code, exit) => {
    const seed = name("seed");
    expect((await runCli(["secret", "set", seed, "--type", "generic"], { env, input: "seed" })).code).toBe(0);
    const before = readFileSync(storePath);
    const n = name("bad");
    const result = await runCli(["secret", "set", n, ...flags], { env, input });
    expect(result.code, result.stderr).toBe(exit);
    expect(result.stderr).toContain(code);
    expect(result.stderr).toMatch(/fix: /);
    expect(result.stderr).not.toContain("    at ");
    for (const secretish of [secretKey, "argv-secret", "whatever-value", "Z2FyYmFnZQ"]) expect(result.stderr).not.toContain(secretish);
    expect(readFileSync(storePath).equals(before)).toBe(true);
    expect((await store().list()).map((e) => e.name)).toEqual([seed]);
  });

  it.each([
    ["a name with a space", "bad name"],
    ["a name starting with a dash", "-x"],
    ["a reserved internal name", "_broker-journal"],
  ])("%s", async (_label, badName) => {
    const result = await runCli(["secret", "set", badName, "--type", "generic"], { env, input: "v" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/ERR_INVALID_SECRET|ERR_USAGE/);
    expect((await runCli(["secret", "list", "--json"], { env })).stdout.trim()).toBe("[]");
  });
});

describe("broker secret list and rm", () => {
  it("lists names and types as a table and as JSON, sorted", async () => {
    const names = [name("b"), name("a")];
    for (const n of names) expect((await runCli(["secret", "set", n, "--type", "generic"], { env, input: `value-of-${n}` })).code).toBe(0);
    const table = await runCli(["secret", "list"], { env });
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+TYPE$/);
    expect(table.stdout).not.toContain("value-of-");
    const json = await runCli(["secret", "list", "--json"], { env });
    expect(JSON.parse(json.stdout)).toEqual([...names].sort().map((n) => ({ name: n, type: "generic" })));
  });

  it("rm of a missing name is ERR_SECRET_NOT_FOUND, exit 1", async () => {
    const result = await runCli(["secret", "rm", name("missing")], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_SECRET_NOT_FOUND");
  });

  it("prints its usage on --help (exit 0) and without a subcommand (exit 2)", async () => {
    const help = await runCli(["secret", "--help"], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("broker secret set NAME");
    expect((await runCli(["secret"], { env })).code).toBe(2);
    expect((await runCli(["secret", "frobnicate"], { env })).code).toBe(2);
  });
});

describe("the hidden prompt on a terminal", () => {
  /** Runs the CLI under a pseudo-terminal (util-linux `script`), typing `keys` once the prompt shows. */
  function typeAtPrompt(args: string[], keys: string): Promise<{ code: number | null; output: string }> {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    let typed = false;
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      // Typing before raw mode is on would let the terminal itself echo: wait for the prompt.
      if (!typed && output.includes("(input hidden): ")) {
        typed = true;
        child.stdin.write(keys);
      }
      if (/stored|ERR_/.test(output)) child.stdin.end();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    return new Promise((resolve) =>
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      }),
    );
  }

  it("does not echo what is typed, and stores it", async () => {
    const n = name("tty");
    const value = `typed-${randomBytes(12).toString("hex")}`;
    const result = await typeAtPrompt(["secret", "set", n, "--type", "generic"], `${value}\r`);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain("(input hidden)");
    expect(result.output).toContain("stored generic secret");
    expect(result.output).not.toContain(value);
    expect(result.output).not.toContain(value.slice(0, 10));
    expect(await store().get(n)).toEqual({ type: "generic", value });
  });

  it("handles backspace while typing", async () => {
    const n = name("tty-edit");
    const result = await typeAtPrompt(["secret", "set", n, "--type", "generic"], "abcX\u007fdef\r");
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toContain("abc");
    expect(await store().get(n)).toEqual({ type: "generic", value: "abcdef" });
  });

  it("takes one line of JSON for aws and validates it", async () => {
    const n = name("tty-aws");
    const value = JSON.stringify({ accessKeyId: keyId(), secretAccessKey: pick(B64, 40) });
    const result = await typeAtPrompt(["secret", "set", n, "--type", "aws"], `${value}\r`);
    expect(result.code, result.output).toBe(0);
    expect(result.output).not.toContain(value.slice(20, 50));
    expect(await store().get(n)).toEqual({ type: "aws", value });
  });
});
