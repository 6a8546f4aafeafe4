#!/usr/bin/env node
// Runs a command with a Secret Service to talk to. On Linux with no session bus
// (a fresh CI machine, an SSH shell) and gnome-keyring installed, it starts a private
// D-Bus session with an unlocked, throw-away gnome-keyring for the command's lifetime.
// Elsewhere it runs the command as it is.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const command = process.argv.slice(2);
if (command.length === 0) {
  console.error("usage: with-keyring.mjs CMD [ARGS...]");
  process.exit(2);
}

const has = (tool) => spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
const needsKeyring =
  process.platform === "linux" && !process.env.DBUS_SESSION_BUS_ADDRESS && has("dbus-run-session") && has("gnome-keyring-daemon");

let child;
let keyringHome;
if (needsKeyring) {
  // The keyring's files go to a temporary XDG_DATA_HOME, never the user's own keyrings.
  keyringHome = mkdtempSync(join(tmpdir(), "broker-keyring-"));
  const script =
    'printf test-keyring | XDG_DATA_HOME="$BROKER_KEYRING_HOME" gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec "$@"';
  child = spawn("dbus-run-session", ["--", "sh", "-c", script, "sh", ...command], {
    stdio: "inherit",
    env: { ...process.env, BROKER_KEYRING_HOME: keyringHome },
  });
} else {
  child = spawn(command[0], command.slice(1), { stdio: "inherit" });
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => {
  if (keyringHome) rmSync(keyringHome, { recursive: true, force: true });
  process.exit(code ?? 128 + (signal === "SIGINT" ? 2 : 15));
});
