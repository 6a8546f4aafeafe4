/**
 * From inside `broker run --task boxed`, through the real CLI, daemon and bwrap: each way around
 * the broker an agent would try fails, while its own task and its listed host work.
 */
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { PLANTED_AWS, readReport, startBoxFixture, type BoxFixture } from "./box-fixture.js";

const b64 = (command: string): string => `$( (${command}) 2>&1 | base64 -w0)`;

/**
 * A Node client that takes its proxy from HTTP_PROXY, as npm and most Node tools do. (Node 24's
 * fetch does so by itself under NODE_USE_ENV_PROXY=1, which the box sets; Node 20's does not.)
 */
const NODE_VIA_PROXY =
  "const p = new URL(process.env.HTTP_PROXY); const t = new URL(process.argv[1]); " +
  "require('http').get({ host: p.hostname, port: p.port, path: t.href, headers: { host: t.host } }, (r) => r.pipe(process.stdout)).on('error', (e) => console.log('error ' + e.message))";

describe.skipIf(!bwrapWorks())("broker run boxes its command (file store)", () => {
  let f: BoxFixture;
  beforeAll(async () => {
    f = await startBoxFixture();
  });
  afterAll(async () => f.cleanup());

  const run = (script: string, extra: string[] = []) =>
    f.d.cli(["run", "--task", "boxed", ...extra, "--", "sh", "-c", script], { cwd: f.work, timeoutMs: 30_000 });

  it("hides the operator's credential files, the broker's places and the file store", async () => {
    const secretsFile = join(f.d.stateDir, "secrets.jwe");
    const result = await run(`
      echo "aws_b64=${b64(`cat "$HOME/.aws/credentials"`)}"
      echo "ssh_b64=${b64(`cat "$HOME/.ssh/id_ed25519"`)}"
      echo "store_b64=${b64(`cat '${secretsFile}'`)}"
      echo "state=[$(ls -A '${f.d.stateDir}' 2>&1)]"
      echo "policies=[$(ls -A '${f.d.policiesDir}' 2>&1)]"
      echo "socketdir=[$(ls -A '${dirname(f.d.socket)}' 2>&1)]"
    `);
    expect(result.code, result.stderr).toBe(0);
    const r = readReport(result.stdout);
    expect(r.aws).not.toContain("AKIAPLANTEDOPERATOR");
    expect(r.aws).not.toBe(PLANTED_AWS);
    expect(r.ssh).not.toContain("planted-operator-key");
    expect(r.store).not.toMatch(/^eyJ/); // a JWE's protected header
    expect(r.state).toBe("[]");
    expect(r.policies).toBe("[]");
    expect(r.socketdir).toBe("[]");
  });

  it("passes only the allowlist, --pass-env and the policy's pass_env: no passphrase, agent socket or operator token", async () => {
    const result = await run(`env | cut -d= -f1 | sort | tr '\\n' ' '; echo`, ["--pass-env", "OPENAI_*"]);
    expect(result.code, result.stderr).toBe(0);
    const names = result.stdout.trim().split(" ");
    for (const dropped of ["BROKER_STORE_PASSPHRASE", "SSH_AUTH_SOCK", "BROKER_POLICIES", "BROKER_STATE_DIR"]) expect(names).not.toContain(dropped);
    expect(names).toContain("OPENAI_API_KEY"); // asked for with --pass-env
    expect(names).toContain("BOX_EXTRA_ONE"); // the policy's pass_env
    expect(names).toContain("DEMO_TOKEN");
    expect(names).toContain("HTTPS_PROXY");
    const without = await run(`env | cut -d= -f1 | tr '\\n' ' '`);
    expect(without.stdout.split(" ")).not.toContain("OPENAI_API_KEY");
  });

  it("reaches the broker only through its session socket, which answers for this session alone", async () => {
    const result = await run(`
      echo "main_b64=${b64(`curl -sS --max-time 5 --unix-socket '${f.d.socket}' http://broker/v1/sessions`)}"
      echo "open_b64=${b64(`curl -sS --max-time 5 --unix-socket "$BROKER_SOCKET" -X POST -H 'content-type: application/json' -d '{"task":"deploy"}' http://broker/v1/sessions`)}"
      echo "list_b64=${b64(`curl -sS --max-time 5 --unix-socket "$BROKER_SOCKET" http://broker/v1/sessions`)}"
      echo "own_b64=${b64(`curl -sS --max-time 5 --unix-socket "$BROKER_SOCKET" http://broker/v1/session/credentials`)}"
      node '${CLI}' mint --task deploy >/dev/null 2>/tmp/mint.err; echo "mint_rc=$?"; echo "mint_b64=$(base64 -w0 /tmp/mint.err)"
      node '${CLI}' revoke --all >/dev/null 2>&1; echo "revoke_rc=$?"
      node '${CLI}' sessions --socket '${f.d.socket}' >/dev/null 2>/tmp/main.err; echo "main_cli_rc=$?"; echo "main_cli_b64=$(base64 -w0 /tmp/main.err)"
    `);
    expect(result.code, result.stderr).toBe(0);
    const r = readReport(result.stdout);
    expect(r.main).not.toContain('"task"');
    expect(r.open).toContain("ERR_SESSION_SCOPE");
    expect(r.list).toContain("ERR_SESSION_SCOPE");
    expect(JSON.parse(r.own!).env.DEMO_TOKEN).toBe(f.demo);
    expect(r.mint_rc).toBe("3");
    expect(r.mint).toContain("ERR_SESSION_SCOPE");
    expect(r.revoke_rc).not.toBe("0");
    // The main socket's directory is an empty tmpfs in the box: not there, or not trusted.
    expect(r.main_cli_rc).toMatch(/^[14]$/);
    expect(r.main_cli).toMatch(/ERR_DAEMON_UNREACHABLE|ERR_SOCKET_UNTRUSTED/);
    // Nothing was opened for "deploy", and the box's own session is gone after the run.
    expect((await f.d.client.listSessions()).map((s) => s.task)).toEqual([]);
  });

  it("can neither see nor signal the daemon", async () => {
    const pid = f.d.process.pid!;
    const result = await run(`kill -0 ${pid} 2>/dev/null; echo "kill_rc=$?"; kill -STOP ${pid} 2>/dev/null; echo "stop_rc=$?"; echo "pids=$(ls /proc | grep -c '^[0-9]')"`);
    const r = readReport(result.stdout);
    expect(r.kill_rc).not.toBe("0");
    expect(r.stop_rc).not.toBe("0");
    expect(Number(r.pids)).toBeLessThan(10);
    expect((await f.d.client.health()).ok).toBe(true);
  });

  it("writes only in the working directory and the policy's write paths", async () => {
    const result = await run(`
      touch ./made-here 2>/dev/null; echo "cwd_rc=$?"
      touch "$HOME/agent-cache/x" 2>/dev/null; echo "cache_rc=$?"
      touch "$HOME/outside" 2>/dev/null; echo "home_rc=$?"
      touch /var/tmp/broker-box-escape 2>/dev/null; echo "vartmp_rc=$?"
      touch /tmp/private 2>/dev/null; echo "tmp_rc=$?"
    `);
    const r = readReport(result.stdout);
    expect(r).toMatchObject({ cwd_rc: "0", cache_rc: "0", tmp_rc: "0" });
    expect(r.home_rc).not.toBe("0");
    expect(r.vartmp_rc).not.toBe("0");
  });

  it("reaches only the listed host, only through the proxy, and says at exit what it refused", async () => {
    const listed = `http://127.0.0.2:${f.listed.port}/`;
    const unlisted = `http://127.0.0.3:${f.unlisted.port}/`;
    const before = f.unlisted.seen.length;
    const result = await run(`
      echo "direct_b64=${b64(`curl -sS --max-time 5 --noproxy '*' ${listed}`)}"
      echo "listed_b64=${b64(`curl -sS --max-time 5 ${listed}`)}"
      echo "unlisted_b64=${b64(`curl -sS --max-time 5 ${unlisted}`)}"
      echo "front_b64=${b64(`curl -sS --max-time 5 -H 'Host: 127.0.0.3:${f.unlisted.port}' ${listed}`)}"
      echo "node_b64=${b64(`node -e "${NODE_VIA_PROXY}" '${listed}'`)}"
      echo "python_b64=${b64(`python3 -c "import urllib.request; print(urllib.request.urlopen('${listed}', timeout=5).read().decode())"`)}"
    `);
    expect(result.code, result.stderr).toBe(0);
    const r = readReport(result.stdout);
    expect(r.direct).not.toContain("listed stand-in");
    expect(r.listed).toBe("listed stand-in\n");
    expect(r.unlisted).toContain(`127.0.0.3`);
    expect(r.unlisted).toContain("egress:");
    expect(r.front).not.toContain("stand-in");
    expect(r.node).toContain("listed stand-in");
    expect(r.python).toContain("listed stand-in");
    expect(f.unlisted.seen.length).toBe(before);
    expect(result.stderr).toMatch(/egress proxy refused .*127\.0\.0\.3/);
    const audit = await import("node:fs").then((fs) => fs.readFileSync(join(f.d.stateDir, "audit.jsonl"), "utf8"));
    expect(audit).toMatch(/"event":"egress".*"outcome":"denied"/);
  });

  it("keeps exit codes and runs unconfined only on request, with a warning", async () => {
    expect((await run("exit 7")).code).toBe(7);
    expect((await run("kill -TERM $$")).code).toBe(143);
    const open = await f.d.cli(["run", "--task", "boxed", "--no-sandbox", "--", "sh", "-c", `cat "$HOME/.aws/credentials"`], { cwd: f.work });
    expect(open.code).toBe(0);
    expect(open.stderr).toContain("--no-sandbox");
    expect(open.stdout).toContain("AKIAPLANTEDOPERATOR"); // the control above is what hid it
  });
});

describe.skipIf(!bwrapWorks() || !process.env.DBUS_SESSION_BUS_ADDRESS)("broker run boxes its command (OS keychain)", () => {
  let f: BoxFixture;
  beforeAll(async () => {
    f = await startBoxFixture({ store: "os" });
  });
  afterAll(async () => f.cleanup());

  // Even handed the bus address on purpose, the box reaches no bus: an abstract socket is cut off
  // by the network namespace, a path one by the private /tmp and the hidden XDG_RUNTIME_DIR.
  const probe = `
    echo "search_b64=${b64("secret-tool search --all service broker")}"
    echo "dbus_b64=${b64("dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.ListNames")}"
  `;

  it("reaches no Secret Service and no session bus", async () => {
    const result = await f.d.cli(["run", "--task", "boxed", "--pass-env", "DBUS_SESSION_BUS_ADDRESS", "--", "sh", "-c", probe], { cwd: f.work });
    expect(result.code, result.stderr).toBe(0);
    const r = readReport(result.stdout);
    expect(r.search).not.toContain(f.demo);
    expect(r.search).not.toContain("box-demo");
    expect(r.dbus).not.toContain("org.freedesktop.secrets");
  });

  it("(the attack is real: unconfined, the same probe reads the keychain)", async () => {
    const result = await f.d.cli(["run", "--task", "boxed", "--no-sandbox", "--pass-env", "DBUS_SESSION_BUS_ADDRESS", "--no-masking", "--", "sh", "-c", probe], { cwd: f.work });
    const r = readReport(result.stdout);
    expect(r.search).toContain("box-demo");
  });
});
