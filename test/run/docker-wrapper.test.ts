import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks, parseReport } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { tempDir } from "../helpers/tmp.js";
import { startStandIn, type StandIn } from "./box-fixture.js";

const WRAPPER = fileURLToPath(new URL("../../docker/broker-docker-run", import.meta.url));
const SECRET = "docker-wrapper-secret-value-0123456789";

// No Docker engine runs here, so `docker` is the one thing stood in for: a script that records
// the argv and environment it was given (which is exactly what the real CLI would act on), asks
// the socket it was handed for the operator's routes, and, with DOCKER_FAKE_CONTAINER=1, plays
// the container: a bwrap box with no network, the argv's --mount binds, its -e variables and
// its entrypoint, so the wrapper's socat prelude runs for real.
const FAKE_DOCKER = String.raw`
const { spawnSync } = require("node:child_process");
const { writeFileSync } = require("node:fs");
const argv = process.argv.slice(2);
const asked = spawnSync("curl", ["-s", "-w", " %{http_code}", "--unix-socket", process.env.BROKER_SOCKET, "http://x/v1/sessions"], { encoding: "utf8" });
writeFileSync(process.env.DOCKER_FAKE_REPORT, JSON.stringify({ argv, env: process.env, sessions: asked.stdout }));
console.log("API_KEY " + process.env.API_KEY);
if (process.env.DOCKER_FAKE_CONTAINER !== "1") process.exit(3);
const box = ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", "/var/tmp"];
const env = { PATH: "/usr/local/bin:/usr/bin:/bin" };
let entrypoint;
let i = 1; // after "run"
for (; i < argv.length && argv[i].startsWith("-"); i++) {
  const flag = argv[i];
  if (flag === "--rm" || flag === "--init") continue;
  const value = argv[++i];
  if (flag === "--mount") {
    const m = Object.fromEntries(value.split(",").map((kv) => kv.split("=")));
    box.push("--ro-bind", m.src, m.dst);
  } else if (flag === "-e") {
    const eq = value.indexOf("=");
    if (eq < 0) env[value] = process.env[value];
    else env[value.slice(0, eq)] = value.slice(eq + 1);
  } else if (flag === "--entrypoint") entrypoint = value;
  else if (flag === "--network" && value !== "none") box.push("--share-net");
}
const command = [entrypoint, ...argv.slice(i + 1)]; // without the image
const run = spawnSync("bwrap", [...box, "--", ...command], { stdio: "inherit", env });
process.exit(run.status ?? 1);
`;

function runWrapper(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  // Not spawnSync: the stand-in answers from this process's event loop.
  const child = spawn(WRAPPER, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}

interface Report {
  argv: string[];
  env: Record<string, string>;
  sessions: string;
}

describe("docker/broker-docker-run", () => {
  let d: TestDaemon;
  let listed: StandIn;
  const bin = tempDir("broker-fake-bin-");
  const reportFile = join(bin.path, "report.json");
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    listed = await startStandIn("127.0.0.2", "listed stand-in\n");
    d = await startTestDaemon({ policies: { agent: `task: agent\nenv:\n  API_KEY: { secret: api-key }\negress:\n  - "127.0.0.2:${listed.port}"\n` } });
    await d.cli(["secret", "set", "api-key", "--type", "generic"], { input: SECRET });
    writeFileSync(join(bin.path, "broker"), `#!/bin/sh\nexec "${process.execPath}" -- "${CLI}" "$@"\n`);
    writeFileSync(join(bin.path, "docker"), `#!${process.execPath}\n${FAKE_DOCKER}`);
    for (const f of ["broker", "docker"]) chmodSync(join(bin.path, f), 0o755);
    // The operator's shell: a session bus and a runtime dir, which must not reach the container.
    env = {
      ...d.env,
      PATH: `${bin.path}:${process.env.PATH}`,
      DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
      XDG_RUNTIME_DIR: "/run/user/1000",
      DOCKER_FAKE_REPORT: reportFile, // DOCKER_* is passed on to `docker` on purpose
    };
  });
  afterAll(async () => {
    await new Promise((resolve) => listed?.server.close(resolve));
    await d?.cleanup();
    bin.cleanup();
  });

  it("gives the container the session's socket and the proxy, no network, the env by name only, and ends the session with it", async () => {
    const run = await runWrapper(["--task", "agent", "--", "agent-image", "claude", "-p", "hi"], env);
    expect(run.status, run.stderr).toBe(3);
    const { argv, env: seen, sessions } = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
    const joined = argv.join(" ");
    expect(argv.slice(0, 2)).toEqual(["run", "--rm"]);
    expect(joined).toMatch(/--mount type=bind,src=\S+,dst=\/run\/broker,readonly/);
    const sessionMount = argv.find((a) => a.endsWith(",dst=/run/broker-session,readonly"));
    expect(sessionMount).toBe(`type=bind,src=${join(d.root, "run", "s", seen.BROKER_SESSION!)},dst=/run/broker-session,readonly`);
    expect(argv[argv.indexOf("--network") + 1]).toBe("none");
    // The session's files are 0600 and the operator's: the container runs as that uid.
    expect(argv[argv.indexOf("--user") + 1]).toBe(`${process.getuid!()}:${process.getgid!()}`);
    for (const e of ["API_KEY", "BROKER_SESSION", "BROKER_SOCKET=/run/broker-session/session.sock", "HTTPS_PROXY=http://127.0.0.1:3128", "HTTP_PROXY=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128", "NO_PROXY=localhost,127.0.0.1,::1"]) {
      expect(argv[argv.indexOf(e) - 1], e).toBe("-e");
    }
    expect(argv[argv.indexOf("--entrypoint") + 1]).toBe("/bin/sh");
    expect(argv.slice(argv.indexOf("agent-image"))).toEqual(["agent-image", "-c", expect.stringContaining("UNIX-CONNECT:/run/broker-session/proxy.sock"), "broker-entry", "claude", "-p", "hi"]);
    // Nothing of the operator's reaches the container: no main socket, no bus, no runtime dir, no value.
    for (const leak of [d.socket, "DBUS_", "XDG_RUNTIME_DIR", "/run/user", SECRET]) expect(joined).not.toContain(leak);
    expect(Object.keys(seen).filter((k) => k.startsWith("DBUS_") || k === "XDG_RUNTIME_DIR")).toEqual([]);
    // `docker` itself (on the host) holds the session's socket, not the main one: it refuses the operator's routes.
    expect(seen.BROKER_SOCKET).toBe(join(d.root, "run", "s", seen.BROKER_SESSION!, "session.sock"));
    expect(sessions).toContain("ERR_SESSION_SCOPE");
    expect(sessions).toMatch(/ 403$/);
    expect(seen.API_KEY).toBe(SECRET);
    // The value reached docker's environment (masked in this piped output, which proves it was there).
    expect(run.stdout).toContain("API_KEY <concealed by broker>");
    const hostDir = /src=(\S+?),dst=\/run\/broker,/.exec(joined)![1]!;
    expect(existsSync(hostDir)).toBe(false);
    expect(existsSync(seen.BROKER_SOCKET!)).toBe(false);
    expect(await d.client.listSessions()).toEqual([]);
  });

  it.skipIf(!bwrapWorks())("in the (stand-in) container, reaches the broker through the session socket and the network only through the proxy", async () => {
    const probe = [
      'echo "creds=$(curl -s --unix-socket "$BROKER_SOCKET" http://x/v1/session/credentials)"',
      `echo "direct=$(curl -s -o /dev/null -w "%{http_code}" --max-time 5 --noproxy "*" http://127.0.0.2:${listed.port}/)"`,
      `echo "proxied=$(curl -s --max-time 10 http://127.0.0.2:${listed.port}/)"`,
      'echo "leaked=$(env | grep -c -e DBUS_ -e XDG_RUNTIME_DIR)"',
      "exit 5",
    ].join("\n");
    const run = await runWrapper(["--task", "agent", "--no-masking", "--", "agent-image", "sh", "-c", probe], { ...env, DOCKER_FAKE_CONTAINER: "1" });
    expect(run.status, run.stderr + run.stdout).toBe(5);
    const r = parseReport(run.stdout);
    expect(r.creds).toContain(SECRET);
    expect(r.direct).toBe("000");
    expect(r.proxied).toBe("listed stand-in");
    expect(r.leaked).toBe("0");
    expect(await d.client.listSessions()).toEqual([]);
  });
});

// Issue 16, item 1: a token in the environment dies at the first refresh (and gh prefers it over
// hosts.yml), so the wrapper hands the container the refreshed files and the variables that point
// at them, not the token itself.
describe("docker/broker-docker-run with a GitHub task", () => {
  let f: GithubFixture;
  const bin = tempDir("broker-fake-bin-");
  const reportFile = join(bin.path, "report.json");
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    f = await startGithubFixture((api) => ({ coder: githubPolicy("coder", api, "  repositories: [reports]\n  permissions: { contents: read }\n") }));
    writeFileSync(join(bin.path, "broker"), `#!/bin/sh\nexec "${process.execPath}" -- "${CLI}" "$@"\n`);
    writeFileSync(join(bin.path, "docker"), `#!${process.execPath}\n${FAKE_DOCKER}`);
    for (const file of ["broker", "docker"]) chmodSync(join(bin.path, file), 0o755);
    env = { ...f.daemon.env, PATH: `${bin.path}:${process.env.PATH}`, DOCKER_FAKE_REPORT: reportFile };
  });
  afterAll(async () => {
    await f?.cleanup();
    bin.cleanup();
  });

  const passed = (argv: string[]) => argv.flatMap((a, i) => (argv[i - 1] === "-e" ? [a.split("=")[0]!] : []));

  it("passes gh's and git's file pointers, never GH_TOKEN or GITHUB_TOKEN", async () => {
    const run = await runWrapper(["--task", "coder", "--", "agent-image", "gh", "pr", "list"], env);
    expect(run.status, run.stderr).toBe(3);
    const { argv, env: seen } = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
    const names = passed(argv);
    expect(names).toEqual(expect.arrayContaining(["GH_CONFIG_DIR", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_0", "BROKER_SESSION"]));
    expect(names).not.toContain("GH_TOKEN");
    expect(names).not.toContain("GITHUB_TOKEN");
    expect(seen.GH_CONFIG_DIR).toBe("/run/broker/gh");
    const token = f.stub.tokens.at(-1)!;
    expect(argv.join(" ")).not.toContain(token.token);
    expect(token.revokedAt).not.toBeNull();
  });

  it("passes the token too when asked to (BROKER_DOCKER_TOKEN_ENV=1), and no --user when BROKER_DOCKER_USER is empty", async () => {
    const run = await runWrapper(["--task", "coder", "--", "agent-image", "gh", "pr", "list"], { ...env, BROKER_DOCKER_TOKEN_ENV: "1", BROKER_DOCKER_USER: "" });
    expect(run.status, run.stderr).toBe(3);
    const { argv } = JSON.parse(readFileSync(reportFile, "utf8")) as Report;
    expect(passed(argv)).toEqual(expect.arrayContaining(["GH_TOKEN", "GITHUB_TOKEN", "GH_CONFIG_DIR"]));
    expect(argv).not.toContain("--user");
  });
});
