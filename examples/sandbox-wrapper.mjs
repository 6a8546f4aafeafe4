#!/usr/bin/env node
// A launch wrapper that brings its own sandbox (bubblewrap), on the typed client (node built-ins
// only). It opens a confined session bound to this process, boxes the command so that the only
// ways out are the session's own socket and its egress proxy (never the daemon's main socket,
// the session bus or the host network), and ends the session when the box exits. If this
// wrapper is killed outright, the daemon sees the connection close and ends the session anyway;
// the box dies with it (--die-with-parent).
//
//   node examples/sandbox-wrapper.mjs TASK -- CMD [ARGS...]
//   (after `npm run build`; from an installed package import from "broker/client")
//
// Inside: BROKER_SOCKET=/run/broker-session/session.sock, HTTP(S)_PROXY to a local socat that
// forwards to the proxy, the session's files at /run/broker, and the variables of its `env` file
// but the tokens: AWS_SHARED_CREDENTIALS_FILE, GH_CONFIG_DIR and git's credential helper point at
// the files, which the daemon refreshes in place, so a session may outlive one token. (A token in
// the environment dies at the first refresh, and gh prefers GH_TOKEN over its hosts.yml.)
import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { BrokerClient, defaultSocketPath } from "../dist/client/index.js";

const [task, separator, ...command] = process.argv.slice(2);
if (!task || separator !== "--" || command.length === 0) {
  console.error("usage: sandbox-wrapper.mjs TASK -- CMD [ARGS...]");
  process.exit(2);
}

const home = process.env.HOME ?? "/";
const socketPath = process.env.BROKER_SOCKET ?? defaultSocketPath(process.env);
const client = new BrokerClient(socketPath);
// confine: the daemon makes the session's own socket and proxy, in a directory of their own.
const { session, release } = await client.openBoundSession({ task, sandbox: { tmp: true, path: "/run/broker" }, confine: true });
const { confinement } = session;
const end = () => client.closeSession(session.id).catch(() => undefined).then(release);
if (!confinement) {
  console.error("sandbox-wrapper: the daemon gave no confinement (too old?)");
  await end();
  process.exit(1);
}

// What the box must not see: the daemon's list (its socket, state and policy dirs; the policy's
// `hide`), the usual credential places, the session bus and agents ($XDG_RUNTIME_DIR), and the
// socket we were given. A directory is covered by an empty tmpfs, a file by /dev/null.
const expand = (p) => (p === "~" || p.startsWith("~/") ? join(home, p.slice(1)) : p);
const hide = [...confinement.hide, "~/.aws", "~/.ssh", "~/.gnupg", "~/.config/gh", process.env.XDG_RUNTIME_DIR, dirname(socketPath)]
  .filter(Boolean)
  .map(expand)
  .filter((p) => p.startsWith("/") && !/^\/(tmp|run)(\/|$)/.test(p)); // /tmp, /run: fresh inside anyway
const cover = (p) => {
  try {
    return statSync(p).isDirectory() ? ["--tmpfs", p] : ["--ro-bind", "/dev/null", p];
  } catch {
    return []; // missing: nothing to see
  }
};

const cwd = process.cwd();
if (cwd === "/") {
  console.error("sandbox-wrapper: cd to the project first (the working directory is bound read-write)");
  await end();
  process.exit(2);
}
const port = randomInt(20_000, 60_000); // on the box's own loopback: rarely one CMD wants itself
const args = [
  "--unshare-all", // own user, pid, net (loopback only), ipc, uts, cgroup namespaces
  "--die-with-parent",
  "--new-session", // no TIOCSTI into the operator's terminal
  "--ro-bind", "/", "/",
  "--dev", "/dev",
  "--proc", "/proc",
  "--tmpfs", "/tmp",
  "--tmpfs", "/run", // hides /run/user/UID (session bus, keyring, agents) and other sockets
  "--bind", cwd, cwd,
  ...[...new Set(hide)].flatMap(cover), // after the cwd bind: a hidden path in it stays hidden
  // Bind sources are host paths, so these show through even where a hide covers their parent.
  "--ro-bind", confinement.dir, "/run/broker-session",
  "--ro-bind", session.sandbox.dir, "/run/broker",
  "--chdir", cwd,
  "--",
  // The box's first process: start socat (double-forked, so CMD's `wait` never waits for it),
  // wait until /proc/net/tcp shows it listening on 127.0.0.1:PORT, then become CMD.
  "sh", "-c",
  `(socat TCP-LISTEN:$0,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/run/broker-session/proxy.sock </dev/null >/dev/null 2>&1 &)
  hex=$(printf %04X "$0"); n=0
  until grep -q "0100007F:$hex 00000000:0000 0A" /proc/net/tcp; do
    n=$((n + 1)); if [ $n -gt 5000 ]; then echo "sandbox-wrapper: socat did not start" >&2; exit 1; fi
  done
  exec "$@"`,
  String(port),
  ...command,
];

// The session's `env` file (`K=V`, `K='V'` or `K="V"` with backslash escapes), without the
// values that expire with one token.
const TOKEN_VARIABLES = new Set(["GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"]);
const unquote = (v) =>
  v.startsWith("'") ? v.slice(1, -1) : v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, (_, c) => ({ n: "\n", r: "\r" })[c] ?? c) : v;
const fileVars = Object.fromEntries(
  readFileSync(join(session.sandbox.dir, "env"), "utf8")
    .split("\n")
    .map((line) => /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line))
    .filter((m) => m && !TOKEN_VARIABLES.has(m[1]) && !m[1].startsWith("BROKER_"))
    .map((m) => [m[1], unquote(m[2])]),
);

// A clean environment, through bwrap's own env (never argv, where `ps` would show it).
const proxy = `http://127.0.0.1:${port}`;
const noProxy = "localhost,127.0.0.1,::1";
const env = {
  ...Object.fromEntries(["PATH", "HOME", "TERM", "LANG"].filter((k) => process.env[k]).map((k) => [k, process.env[k]])),
  ...fileVars,
  BROKER_SESSION: session.id,
  BROKER_TASK: session.task,
  BROKER_SANDBOX_DIR: "/run/broker",
  BROKER_SOCKET: "/run/broker-session/session.sock",
  HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy,
  NO_PROXY: noProxy, no_proxy: noProxy,
};

const box = spawn("bwrap", args, { stdio: "inherit", env });
// bwrap does not pass signals on; killing it kills the box (--die-with-parent), which is enough.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => box.kill(signal));
box.on("error", async (error) => {
  console.error(`sandbox-wrapper: cannot run bwrap (${error.code ?? error.message})`);
  await end();
  process.exit(127);
});
box.on("exit", async (code, signal) => {
  await end(); // DELETE answers once tokens are revoked and files removed
  process.exit(code ?? 128 + (constants.signals[signal] ?? 15));
});
