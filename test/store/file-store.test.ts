import { spawn, spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileStore, PBES2_COUNT } from "../../src/store/file-store.js";
import { CLI, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const PASSPHRASE = `pw-${randomBytes(8).toString("hex")}`;
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
const pick = (alphabet: string, n: number): string => [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join("");

let home: { path: string; cleanup: () => void };
let env: NodeJS.ProcessEnv;
let stateDir: string;
let storePath: string;

beforeEach(() => {
  home = tempDir("broker-file-store-");
  stateDir = join(home.path, ".local", "state", "broker");
  storePath = join(stateDir, "secrets.jwe");
  env = {
    PATH: process.env.PATH,
    HOME: home.path,
    XDG_CONFIG_HOME: join(home.path, ".config"),
    XDG_STATE_HOME: join(home.path, ".local", "state"),
    XDG_RUNTIME_DIR: join(home.path, "run"),
    BROKER_STORE: "file",
    BROKER_STORE_PASSPHRASE: PASSPHRASE,
  };
});
afterEach(() => home.cleanup());

const name = (label: string): string => `${label}-${randomBytes(4).toString("hex")}`;
const set = (n: string, type: string, input: string, extraEnv: NodeJS.ProcessEnv = {}) =>
  runCli(["secret", "set", n, "--type", type], { env: { ...env, ...extraEnv }, input });
const listJson = async (): Promise<unknown> => {
  const result = await runCli(["secret", "list", "--json"], { env });
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout);
};

/** Every byte under HOME (which holds the state dir): nothing may be there in the clear. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => readFileSync(join(entry.parentPath, entry.name)));
}

function samples(): Array<{ type: string; input: string; stored: string; needle: string }> {
  const accessKeyId = `AKIA${pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}`;
  const secretAccessKey = pick(B64, 40);
  const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const generic = `sk-${randomBytes(16).toString("hex")}`;
  return [
    {
      type: "aws",
      input: JSON.stringify({ accessKeyId, secretAccessKey }),
      stored: JSON.stringify({ accessKeyId, secretAccessKey }),
      needle: secretAccessKey,
    },
    {
      type: "github-app",
      input: JSON.stringify({ appId: "4242", privateKey: pem }),
      stored: JSON.stringify({ appId: "4242", privateKey: pem }),
      needle: pem.split("\n")[3] ?? "",
    },
    { type: "generic", input: `${generic}\n`, stored: generic, needle: generic },
  ];
}

describe("file store through the CLI", () => {
  it("sets, lists and removes each type, keeping values only in encrypted form", async () => {
    const reader = fileStore({ path: storePath, passphrase: PASSPHRASE });
    for (const sample of samples()) {
      const n = name(sample.type);
      const setResult = await set(n, sample.type, sample.input);
      expect(setResult.stderr).toBe("");
      expect(setResult.code).toBe(0);
      expect(await listJson()).toContainEqual({ name: n, type: sample.type });
      expect(await reader.get(n)).toEqual({ type: sample.type, value: sample.stored });
      for (const bytes of filesUnder(home.path)) expect(bytes.includes(sample.needle)).toBe(false);
      const listed = await runCli(["secret", "list"], { env });
      expect(listed.stdout).toMatch(new RegExp(`^${n}\\s+${sample.type}$`, "m"));
      expect(listed.stdout).not.toContain(sample.needle);

      expect((await runCli(["secret", "rm", n], { env })).code).toBe(0);
      expect(await listJson()).not.toContainEqual({ name: n, type: sample.type });
      expect(await reader.get(n)).toBeNull();
    }
  });

  it("reads the passphrase from the first line of --passphrase-file", async () => {
    const file = join(home.path, "pass");
    writeFileSync(file, `${PASSPHRASE}\nsecond line ignored\n`, { mode: 0o600 });
    const noEnvPass = { ...env, BROKER_STORE_PASSPHRASE: undefined };
    const n = name("pf");
    const result = await runCli(["secret", "set", n, "--type", "generic", "--passphrase-file", file], { env: noEnvPass, input: "v" });
    expect(result.code).toBe(0);
    expect(await fileStore({ path: storePath, passphrase: PASSPHRASE }).get(n)).toEqual({ type: "generic", value: "v" });
  });

  it.each(["0640", "0604", "0620", "0602"])("refuses a --passphrase-file others may read or change (mode %s), naming the fix", async (mode) => {
    const file = join(home.path, "pass");
    writeFileSync(file, `${PASSPHRASE}\n`);
    chmodSync(file, parseInt(mode, 8));
    const result = await runCli(["secret", "set", name("pm"), "--type", "generic", "--passphrase-file", file], { env: { ...env, BROKER_STORE_PASSPHRASE: undefined }, input: "v" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_PASSPHRASE_FILE_UNSAFE");
    expect(result.stderr).toContain(`chmod 600 ${file}`);
    expect(result.stderr).not.toContain(PASSPHRASE);
    expect(existsSync(storePath)).toBe(false);
  });

  it.skipIf(process.getuid?.() !== 0)("refuses a --passphrase-file that belongs to another user, even mode 0600", async () => {
    const file = join(home.path, "pass");
    writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
    chownSync(file, 65534, 65534);
    const result = await runCli(["secret", "set", name("po"), "--type", "generic", "--passphrase-file", file], { env: { ...env, BROKER_STORE_PASSPHRASE: undefined }, input: "v" });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_PASSPHRASE_FILE_UNSAFE");
    expect(result.stderr).toMatch(/belongs to uid 65534/);
    expect(existsSync(storePath)).toBe(false);
  });

  it("writes the file 0600 in a 0700 directory, encrypted as PBES2 JWE, and leaves no lock behind", async () => {
    expect((await set(name("m"), "generic", "v")).code).toBe(0);
    expect(statSync(storePath).mode & 0o777).toBe(0o600);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    const header = JSON.parse(Buffer.from(readFileSync(storePath, "utf8").split(".")[0] ?? "", "base64url").toString()) as Record<string, unknown>;
    expect(header).toMatchObject({ alg: "PBES2-HS512+A256KW", enc: "A256GCM", p2c: PBES2_COUNT });
    expect(readdirSync(stateDir)).toEqual(["secrets.jwe"]);
  });

  it("asks for a passphrase when none is given, before reading any value", async () => {
    const result = await set(name("np"), "generic", "v", { BROKER_STORE_PASSPHRASE: undefined });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("ERR_STORE_PASSPHRASE_MISSING");
    expect(result.stderr).toMatch(/BROKER_STORE_PASSPHRASE/);
    expect(result.stderr).toMatch(/--passphrase-file/);
    expect(existsSync(storePath)).toBe(false);
  });

  describe("when the file cannot be opened, it is left byte for byte as it was", () => {
    let before: Buffer;
    beforeEach(async () => {
      expect((await set(name("seed"), "generic", "seed-value")).code).toBe(0);
      before = readFileSync(storePath);
    });

    async function expectRefused(code: string, exit: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
      const file = readFileSync(storePath);
      for (const args of [["secret", "list"], ["secret", "set", name("after"), "--type", "generic"], ["secret", "rm", "nothing"]]) {
        const result = await runCli(args, { env: { ...env, ...extraEnv }, input: "new-value" });
        expect(result.code, result.stderr).toBe(exit);
        expect(result.stderr).toContain(code);
        expect(result.stderr).not.toContain("new-value");
        expect(result.stderr).not.toContain("    at ");
        expect(readFileSync(storePath).equals(file)).toBe(true);
      }
      expect(readdirSync(stateDir)).toEqual(["secrets.jwe"]);
    }

    it("a wrong passphrase is ERR_STORE_PASSPHRASE", async () => {
      await expectRefused("ERR_STORE_PASSPHRASE", 1, { BROKER_STORE_PASSPHRASE: "not-the-passphrase" });
      expect(readFileSync(storePath).equals(before)).toBe(true);
    });

    it("a flipped byte in the ciphertext is ERR_STORE_CORRUPT", async () => {
      const text = before.toString("utf8");
      const at = text.lastIndexOf(".") - 5; // inside the ciphertext segment
      const flipped = Buffer.from(text);
      flipped[at] = flipped[at] === 0x41 ? 0x42 : 0x41;
      writeFileSync(storePath, flipped);
      await expectRefused("ERR_STORE_CORRUPT", 1);
      const result = await runCli(["secret", "list"], { env });
      expect(result.stderr).toMatch(/damaged/);
      expect(result.stderr).toMatch(/left untouched/);
    });

    it("a flipped byte in the authentication tag is ERR_STORE_CORRUPT", async () => {
      const flipped = Buffer.from(before);
      const at = flipped.length - 3;
      flipped[at] = flipped[at] === 0x41 ? 0x42 : 0x41;
      writeFileSync(storePath, flipped);
      await expectRefused("ERR_STORE_CORRUPT", 1);
    });

    it.each([0.5, 0.95])("a file truncated to %s of its length is ERR_STORE_CORRUPT", async (fraction) => {
      writeFileSync(storePath, before.subarray(0, Math.floor(before.length * fraction)));
      await expectRefused("ERR_STORE_CORRUPT", 1);
    });

    it.each([
      ["an empty file", ""],
      ["a file that is not a JWE", "this is not a JWE\n"],
      ["a JWE with another algorithm", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA"],
    ])("%s is ERR_STORE_CORRUPT", async (_label, content) => {
      writeFileSync(storePath, content);
      await expectRefused("ERR_STORE_CORRUPT", 1);
    });
  });

  it("lands both of two concurrent `secret set` processes, every time", async () => {
    for (let round = 0; round < 4; round += 1) {
      const names = [name(`a${round}`), name(`b${round}`), name(`c${round}`)];
      const results = await Promise.all(names.map((n) => set(n, "generic", `value-${n}`)));
      for (const result of results) expect(result.code, result.stderr).toBe(0);
      const listed = (await listJson()) as Array<{ name: string }>;
      for (const n of names) expect(listed.map((e) => e.name)).toContain(n);
    }
    const reader = fileStore({ path: storePath, passphrase: PASSPHRASE });
    expect((await reader.list()).length).toBe(12);
  });

  it("breaks a lock left by a process that died", async () => {
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(`${storePath}.lock`, `${dead.stdout}\n${hostname()}\nabandoned\n`);
    const n = name("after-crash");
    const result = await set(n, "generic", "v");
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(`${storePath}.lock`)).toBe(false);
    expect(await listJson()).toContainEqual({ name: n, type: "generic" });
  });

  it("waits for a live lock holder instead of writing past it", async () => {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const lock = `${storePath}.lock`;
    writeFileSync(lock, `${process.pid}\n${hostname()}\nheld-by-test\n`);
    const child = spawn(process.execPath, [CLI, "secret", "set", name("w"), "--type", "generic"], {
      env,
      stdio: ["pipe", "ignore", "ignore"],
    });
    child.stdin.end("v");
    await new Promise((r) => setTimeout(r, 1500));
    expect(existsSync(storePath)).toBe(false);
    expect(child.exitCode).toBeNull();
    rmSync(lock);
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(0);
    expect(existsSync(storePath)).toBe(true);
  });
});

describe("file store API", () => {
  it("hides internal names from list but keeps them", async () => {
    const store = fileStore({ path: storePath, passphrase: PASSPHRASE });
    await store.set("_broker-journal-key", { type: "generic", value: "k" });
    await store.set("visible", { type: "generic", value: "v" });
    expect(await store.list()).toEqual([{ name: "visible", type: "generic" }]);
    expect(await store.get("_broker-journal-key")).toEqual({ type: "generic", value: "k" });
  });

  it("does not mistake inherited object keys for secrets", async () => {
    const store = fileStore({ path: storePath, passphrase: PASSPHRASE });
    await store.set("x", { type: "generic", value: "v" });
    expect(await store.get("constructor")).toBeNull();
    expect(await store.get("toString")).toBeNull();
    expect(await store.delete("constructor")).toBe(false);
  });

  it("sees a change written by another process", async () => {
    const store = fileStore({ path: storePath, passphrase: PASSPHRASE });
    await store.set("one", { type: "generic", value: "1" });
    expect(await store.get("two")).toBeNull();
    expect((await set("two", "generic", "2")).code).toBe(0);
    expect(await store.get("two")).toEqual({ type: "generic", value: "2" });
  });
});
