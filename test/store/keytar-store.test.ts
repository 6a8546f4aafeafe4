import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as KeytarModule from "keytar";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

// These tests use the real Secret Service: run them under `node scripts/with-keyring.mjs`.
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
const pick = (alphabet: string, n: number): string => [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join("");
const RUN = randomBytes(4).toString("hex");
const created = new Set<string>();
const name = (label: string): string => {
  const n = `test-${label}-${RUN}-${randomBytes(2).toString("hex")}`;
  created.add(n);
  return n;
};

/** libsecret's own CLI; `search` prints the attributes on stderr, so both streams are kept. */
function secretTool(args: string[]): { status: number | null; stdout: string; output: string } {
  const result = spawnSync("secret-tool", args, { encoding: "utf8" });
  return { status: result.status, stdout: result.stdout, output: result.stdout + result.stderr };
}

type Keytar = typeof KeytarModule;
async function keytar(): Promise<Keytar> {
  const mod = (await import("keytar")) as Keytar & { default?: Keytar };
  return mod.default ?? mod;
}

let home: { path: string; cleanup: () => void };
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  if (process.platform === "linux" && !process.env.DBUS_SESSION_BUS_ADDRESS) {
    throw new Error("no D-Bus session: run these tests as `node scripts/with-keyring.mjs npx vitest run …`");
  }
});
beforeEach(() => {
  home = tempDir("broker-keytar-store-");
  env = {
    PATH: process.env.PATH,
    DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS,
    HOME: home.path,
    XDG_CONFIG_HOME: join(home.path, ".config"),
    XDG_STATE_HOME: join(home.path, ".local", "state"),
    XDG_DATA_HOME: join(home.path, ".local", "share"),
    XDG_RUNTIME_DIR: join(home.path, "run"),
  };
});
afterEach(() => home.cleanup());
afterAll(async () => {
  const k = await keytar();
  for (const n of created) await k.deletePassword("broker", n);
});

const listJson = async (): Promise<Array<{ name: string; type: string }>> => {
  const result = await runCli(["secret", "list", "--json"], { env });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Array<{ name: string; type: string }>;
};

function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => readFileSync(join(entry.parentPath, entry.name)));
}

function samples(): Array<{ type: string; input: string; stored: string; needle: string }> {
  const accessKeyId = `ASIA${pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}`;
  const secretAccessKey = pick(B64, 40);
  const sessionToken = `IQoJ${pick(B64, 200)}`;
  const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const generic = `ghp_${randomBytes(18).toString("hex")}`;
  const aws = JSON.stringify({ accessKeyId, secretAccessKey, sessionToken });
  return [
    { type: "aws", input: aws, stored: aws, needle: secretAccessKey },
    {
      type: "github-app",
      input: JSON.stringify({ appId: 31337, privateKey: pem }),
      stored: JSON.stringify({ appId: "31337", privateKey: pem }),
      needle: pem.split("\n")[3] ?? "",
    },
    { type: "generic", input: `${generic}\n`, stored: generic, needle: generic },
  ];
}

describe("os store (keytar) through the CLI", () => {
  it("sets, lists and removes each type in the Secret Service, writing nothing to disk", async () => {
    for (const sample of samples()) {
      const n = name(sample.type);
      const setResult = await runCli(["secret", "set", n, "--type", sample.type], { env, input: sample.input });
      expect(setResult.code, setResult.stderr).toBe(0);
      expect(setResult.stdout).toContain("os store");

      expect(await listJson()).toContainEqual({ name: n, type: sample.type });
      const table = await runCli(["secret", "list"], { env });
      expect(table.stdout).toMatch(new RegExp(`^${n}\\s+${sample.type}$`, "m"));
      expect(table.stdout).not.toContain(sample.needle);

      // libsecret's own tool sees the entry under service "broker", account = name.
      const search = secretTool(["search", "--all", "service", "broker"]);
      expect(search.output).toContain(`attribute.account = ${n}`);
      const envelope = JSON.parse(secretTool(["lookup", "service", "broker", "account", n]).stdout) as unknown;
      expect(envelope).toEqual({ type: sample.type, value: sample.stored });

      for (const bytes of filesUnder(home.path)) expect(bytes.includes(sample.needle)).toBe(false);

      const rm = await runCli(["secret", "rm", n], { env });
      expect(rm.code, rm.stderr).toBe(0);
      expect((await listJson()).map((e) => e.name)).not.toContain(n);
      expect(secretTool(["search", "--all", "service", "broker"]).output).not.toContain(`attribute.account = ${n}`);
    }
  });

  it("replaces a secret set twice under the same name", async () => {
    const n = name("twice");
    expect((await runCli(["secret", "set", n, "--type", "generic"], { env, input: "first" })).code).toBe(0);
    expect((await runCli(["secret", "set", n, "--type", "generic"], { env, input: "second" })).code).toBe(0);
    expect(JSON.parse(secretTool(["lookup", "service", "broker", "account", n]).stdout)).toEqual({ type: "generic", value: "second" });
    expect((await listJson()).filter((e) => e.name === n)).toHaveLength(1);
  });

  it("says ERR_SECRET_NOT_FOUND (exit 1) when removing a name that is not there", async () => {
    const result = await runCli(["secret", "rm", name("missing")], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_SECRET_NOT_FOUND");
  });

  it("does not list internal entries or entries it did not write", async () => {
    const internal = name("x").replace(/^test-/, "_broker-");
    const foreign = name("foreign");
    created.add(internal);
    const k = await keytar();
    await k.setPassword("broker", internal, JSON.stringify({ type: "generic", value: "k" }));
    await k.setPassword("broker", foreign, "not an envelope");
    expect((await k.findCredentials("broker")).map((c) => c.account)).toEqual(expect.arrayContaining([internal, foreign]));
    const names = (await listJson()).map((e) => e.name);
    expect(names).not.toContain(internal);
    expect(names).not.toContain(foreign);
    // It can still be removed by name, so the user can clean up.
    expect((await runCli(["secret", "rm", foreign], { env })).code).toBe(0);
  });
});

describe("os store when the keychain cannot be reached", () => {
  const noBus = (): NodeJS.ProcessEnv => ({ ...env, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(home.path, "no-such-bus")}`, DISPLAY: undefined });

  it.each([
    ["secret list", ["secret", "list"]],
    ["secret set", ["secret", "set", "unreachable-test", "--type", "generic"]],
    ["secret rm", ["secret", "rm", "unreachable-test"]],
  ])("%s says so and names --store file as the way out", async (_label, args) => {
    const value = `value-${randomBytes(8).toString("hex")}`;
    const result = await runCli(args, { env: noBus(), input: value });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_STORE_UNAVAILABLE");
    expect(result.stderr).toMatch(/OS keychain .*could not be reached/);
    expect(result.stderr).toContain("--store file");
    expect(result.stderr).toMatch(/BROKER_STORE_PASSPHRASE|--passphrase-file/);
    expect(result.stderr).not.toContain(value);
    expect(result.stderr).not.toContain("    at ");
  });
});
