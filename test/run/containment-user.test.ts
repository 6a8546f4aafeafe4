/**
 * The box as a normal user makes it: daemon and `broker run` run as a throwaway non-root user
 * (bwrap then needs an unprivileged user namespace), and the command still cannot read the
 * user's planted credentials, reach the main socket, write outside its working directory, or
 * reach any host but the listed one, and only through the proxy.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { waitFor } from "../helpers/daemon.js";
import { canCreateUsers, createThrowawayUser, type ThrowawayUser } from "../helpers/throwaway-user.js";
import { tempDir } from "../helpers/tmp.js";
import { readReport, startStandIn, type StandIn } from "./box-fixture.js";

const b64 = (command: string): string => `$( (${command}) 2>&1 | base64 -w0)`;

describe.skipIf(!canCreateUsers() || !bwrapWorks())("broker run's box, as a non-root user", () => {
  let user: ThrowawayUser;
  let root: { path: string; cleanup: () => void };
  let daemon: ChildProcess;
  let env: NodeJS.ProcessEnv;
  let listed: StandIn;
  const asUser = (argv: string[]) => ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", ...argv];

  beforeAll(async () => {
    user = createThrowawayUser("brkbox");
    listed = await startStandIn("127.0.0.2", "listed stand-in\n");
    root = tempDir("broker-box-user-", "/var/tmp");
    const home = join(root.path, "home");
    for (const dir of ["", "home", "home/.aws", "policies", "work"]) mkdirSync(join(root.path, dir), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, ".aws", "credentials"), "[default]\naws_access_key_id = AKIAUSERPLANTED\n");
    writeFileSync(join(root.path, "policies", "boxed.yaml"), `task: boxed\nttl: 5m\nenv:\n  DEMO_TOKEN: { secret: box-demo }\negress:\n  - "127.0.0.2:${listed.port}"\n`);
    spawnSync("chown", ["-R", `${user.uid}:${user.gid}`, root.path]);
    chownSync(root.path, user.uid, user.gid);
    env = {
      PATH: process.env.PATH,
      HOME: home,
      BROKER_SOCKET: join(root.path, "run", "broker.sock"),
      BROKER_STATE_DIR: join(root.path, "state"),
      BROKER_POLICIES: join(root.path, "policies"),
      BROKER_STORE: "file",
      BROKER_STORE_PASSPHRASE: "throwaway user's test passphrase",
    };
    const set = asUser([process.execPath, CLI, "secret", "set", "box-demo", "--type", "generic"]);
    const stored = spawnSync(set[0]!, set.slice(1), { env, input: "the user's demo value\n", encoding: "utf8" });
    if (stored.status !== 0) throw new Error(`secret set as the user failed: ${stored.stderr}`);
    const argv = asUser([process.execPath, CLI, "daemon"]);
    daemon = spawn(argv[0]!, argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    daemon.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    await waitFor(() => stderr.includes("daemon listening") || undefined, 20_000).catch(() => {
      throw new Error(`the user's daemon did not start:\n${stderr}`);
    });
  });
  afterAll(async () => {
    daemon?.kill("SIGKILL");
    await new Promise((resolve) => listed?.server.close(resolve));
    root?.cleanup();
    user?.remove();
  });

  it("boxes the command with an unprivileged user namespace", async () => {
    const script = `
      echo "uid=$(id -u)"
      echo "aws_b64=${b64(`cat "$HOME/.aws/credentials"`)}"
      echo "main_b64=${b64(`curl -sS --max-time 5 --unix-socket '${env.BROKER_SOCKET}' http://broker/v1/sessions`)}"
      touch "$HOME/outside" 2>/dev/null; echo "home_rc=$?"
      touch ./inside 2>/dev/null; echo "cwd_rc=$?"
      echo "direct_b64=${b64(`curl -sS --max-time 5 --noproxy '*' http://127.0.0.2:${listed.port}/`)}"
      echo "listed_b64=${b64(`curl -sS --max-time 5 http://127.0.0.2:${listed.port}/`)}"
      echo "store_b64=${b64(`cat '${join(root.path, "state", "secrets.jwe")}'; echo "pass=$BROKER_STORE_PASSPHRASE"`)}"
      echo "open_b64=${b64(`curl -sS --max-time 5 --unix-socket "$BROKER_SOCKET" -X POST -H 'content-type: application/json' -d '{"task":"boxed"}' http://b/v1/sessions`)}"
      kill -0 ${daemon.pid} 2>/dev/null; echo "kill_rc=$?"
    `;
    const argv = asUser([process.execPath, CLI, "run", "--task", "boxed", "--", "sh", "-c", script]);
    // Not spawnSync: the stand-in answers from this process's event loop.
    const child = spawn(argv[0]!, argv.slice(1), { env, cwd: join(root.path, "work"), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const status = await new Promise<number | null>((resolve) => child.once("close", resolve));
    const result = { status, stdout, stderr };
    expect(result.status, result.stderr).toBe(0);
    const r = readReport(result.stdout);
    expect(r.uid).toBe(String(user.uid));
    expect(r.aws).not.toContain("AKIAUSERPLANTED");
    expect(r.main).not.toContain("[");
    expect(r.home_rc).not.toBe("0");
    expect(r.cwd_rc).toBe("0");
    expect(r.direct).not.toContain("stand-in");
    expect(r.listed).toBe("listed stand-in\n");
    expect(r.store).not.toMatch(/eyJ/);
    expect(r.store).toContain("pass=\n");
    expect(r.open).toContain("ERR_SESSION_SCOPE");
    expect(r.kill_rc).not.toBe("0");
  });
});
