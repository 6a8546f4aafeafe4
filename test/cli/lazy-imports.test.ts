import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const HEAVY = ["@aws-sdk", "@octokit", "fastify"];

// The real CLI bundle runs with a preload: a resolve hook (module.register, Node >= 20.6) notes
// every ES module resolved, and at exit require.cache adds what CommonJS loaded. Together: every
// file the command pulled in. The hook runs on its own thread, so it writes straight to the file.
const HOOKS = `
import { appendFileSync } from "node:fs";
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(out, result.url + "\\n");
  return result;
}
`;
const PRELOAD = `
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
const out = process.env.PROBE_OUT;
register(new URL("./hooks.mjs", import.meta.url), { data: { out } });
const require = createRequire(import.meta.url);
process.on("exit", () => appendFileSync(out, Object.keys(require.cache).map((f) => "file://" + f + "\\n").join("")));
`;

let dir: { path: string; cleanup: () => void };
let runs = 0;
beforeAll(() => {
  dir = tempDir("broker-lazy-");
  writeFileSync(join(dir.path, "hooks.mjs"), HOOKS);
  writeFileSync(join(dir.path, "preload.mjs"), PRELOAD);
});
afterAll(() => dir.cleanup());

function loadedBy(args: string[], extraEnv: NodeJS.ProcessEnv = {}, input = ""): { code: number; packages: string[] } {
  const out = join(dir.path, `loaded-${++runs}.txt`);
  writeFileSync(out, "");
  const result = spawnSync(process.execPath, ["--import", join(dir.path, "preload.mjs"), "--", CLI, ...args], {
    encoding: "utf8",
    input,
    env: { ...process.env, HOME: dir.path, XDG_STATE_HOME: join(dir.path, "state"), ...extraEnv, PROBE_OUT: out },
    timeout: 20_000,
  });
  expect(result.status, result.stderr).not.toBeNull();
  const loaded = readFileSync(out, "utf8").split("\n").filter(Boolean);
  expect(loaded.some((url) => url.endsWith("/broker.cjs")), "the probe saw the CLI itself load").toBe(true);
  // The package part of every node_modules path: "@scope/name" or "name".
  const packages = new Set<string>();
  for (const url of loaded) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match?.[1]) packages.add(match[1]);
  }
  return { code: result.status!, packages: [...packages] };
}

const heavy = (packages: string[]): string[] => packages.filter((p) => HEAVY.some((h) => p === h || p.startsWith(`${h}/`)));

describe("the CLI path stays light", () => {
  it("`broker --help` loads no package at all", () => {
    const { code, packages } = loadedBy(["--help"]);
    expect(code).toBe(0);
    expect(packages).toEqual([]);
  });

  it("`broker secret list` (os store) loads keytar but not the AWS SDK, Octokit or fastify", () => {
    const { code, packages } = loadedBy(["secret", "list"]);
    expect(code).toBe(0);
    expect(packages).toContain("keytar"); // the probe does see packages
    expect(heavy(packages)).toEqual([]);
  });

  it("`broker secret set` and `list` with the file store load jose and nothing heavy", () => {
    const fileEnv = { BROKER_STORE: "file", BROKER_STORE_PASSPHRASE: "lazy-test" };
    const set = loadedBy(["secret", "set", "lazy", "--type", "generic"], fileEnv, "v");
    expect(set.code).toBe(0);
    expect(set.packages).toContain("jose");
    expect(heavy(set.packages)).toEqual([]);
    const list = loadedBy(["secret", "list"], fileEnv);
    expect(list.code).toBe(0);
    expect(heavy(list.packages)).toEqual([]);
  });
});

describe("the client commands stay light too", () => {
  const away = { BROKER_SOCKET: "/nonexistent/broker.sock", BROKER_SESSION: "" };
  it.each([
    [["mint", "--task", "report"]],
    [["run", "--task", "report", "--", "true"]],
    [["run", "--no-sandbox", "--task", "report", "--", "true"]],
    [["sessions"]],
    [["revoke", "--all"]],
    [["credential-process", "--task", "report"]],
    [["approvals"]],
    [["approve", "00000000-0000-4000-8000-000000000000", "--yes"]],
    [["deny", "00000000-0000-4000-8000-000000000000"]],
  ])("`broker %s` loads neither the AWS SDK, Octokit nor fastify", (args) => {
    const { code, packages } = loadedBy(args, away);
    expect(code).toBe(4); // it got as far as calling the daemon
    expect(heavy(packages)).toEqual([]);
  });
});
