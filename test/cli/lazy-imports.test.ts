import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tmp.js";

const MAIN = pathToFileURL(join(import.meta.dirname, "../../dist/cli/main.js")).href;
const HEAVY = ["@aws-sdk", "@octokit", "fastify"];

// A resolve hook (module.register, Node >= 20.6) reports every ESM resolution to the main thread;
// require.cache adds what CommonJS loaded. Together: every file the command pulled in.
const HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}
`;
const PROBE = `
import { createRequire, register } from "node:module";
import { Readable, Writable } from "node:stream";
import { MessageChannel } from "node:worker_threads";
const { port1, port2 } = new MessageChannel();
const loaded = new Set();
port1.on("message", (url) => loaded.add(url));
register(new URL("./hooks.mjs", import.meta.url), { data: { port: port2 }, transferList: [port2] });
const { main } = await import(process.env.PROBE_MAIN);
const sink = new Writable({ write(_chunk, _encoding, done) { done(); } });
const stdin = Readable.from([process.env.PROBE_INPUT ?? ""]);
const code = await main(JSON.parse(process.env.PROBE_ARGS), { env: process.env, stdin, stdout: sink, stderr: sink });
await new Promise((resolve) => setTimeout(resolve, 300));
for (const file of Object.keys(createRequire(import.meta.url).cache)) loaded.add(pathToHref(file));
port1.close();
process.stdout.write(JSON.stringify({ code, loaded: [...loaded] }));
function pathToHref(file) { return file.startsWith("/") ? "file://" + file : file; }
`;

let dir: { path: string; cleanup: () => void };
beforeAll(() => {
  dir = tempDir("broker-lazy-");
  writeFileSync(join(dir.path, "hooks.mjs"), HOOKS);
  writeFileSync(join(dir.path, "probe.mjs"), PROBE);
});
afterAll(() => dir.cleanup());

function loadedBy(args: string[], extraEnv: NodeJS.ProcessEnv = {}, input = ""): { code: number; packages: string[] } {
  const result = spawnSync(process.execPath, [join(dir.path, "probe.mjs")], {
    encoding: "utf8",
    env: {
      ...process.env,
      HOME: dir.path,
      XDG_STATE_HOME: join(dir.path, "state"),
      ...extraEnv,
      PROBE_MAIN: MAIN,
      PROBE_ARGS: JSON.stringify(args),
      PROBE_INPUT: input,
    },
    timeout: 20_000,
  });
  expect(result.status, result.stderr).toBe(0);
  const { code, loaded } = JSON.parse(result.stdout) as { code: number; loaded: string[] };
  // The package part of every node_modules path: "@scope/name" or "name".
  const packages = new Set<string>();
  for (const url of loaded) {
    const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (match?.[1]) packages.add(match[1]);
  }
  return { code, packages: [...packages] };
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
    [["sessions"]],
    [["revoke", "--all"]],
    [["credential-process", "--task", "report"]],
  ])("`broker %s` loads neither the AWS SDK, Octokit nor fastify", (args) => {
    const { code, packages } = loadedBy(args, away);
    expect(code).toBe(4); // it got as far as calling the daemon
    expect(heavy(packages)).toEqual([]);
  });
});
