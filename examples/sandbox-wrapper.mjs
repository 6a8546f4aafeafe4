#!/usr/bin/env node
// A launch wrapper of your own, on the typed client (node:http only; no SDKs are loaded).
// It opens a session bound to this process, with its files in a fresh private directory,
// runs a command that sees only that directory, and ends the session when the command exits.
// If this wrapper is killed outright, the daemon sees the connection close and ends it anyway.
//
//   node examples/sandbox-wrapper.mjs TASK -- CMD [ARGS...]
//   (after `npm run build`; from an installed package import from "broker/client")
import { spawn } from "node:child_process";
import { BrokerClient, defaultSocketPath } from "../dist/client/index.js";

const [task, separator, ...command] = process.argv.slice(2);
if (!task || separator !== "--" || command.length === 0) {
  console.error("usage: sandbox-wrapper.mjs TASK -- CMD [ARGS...]");
  process.exit(2);
}

const client = new BrokerClient(process.env.BROKER_SOCKET ?? defaultSocketPath(process.env));
const { session, release } = await client.openBoundSession({ task, sandbox: { tmp: true } });

// Give the command the session's directory, not our own credentials: start from a clean env.
const env = { PATH: process.env.PATH, HOME: session.sandbox.dir, BROKER_SESSION: session.id, BROKER_SANDBOX_DIR: session.sandbox.dir };
const child = spawn(command[0], command.slice(1), { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
child.on("exit", async (code, signal) => {
  await client.closeSession(session.id).catch(() => undefined);
  release();
  process.exit(code ?? 128 + (signal === "SIGINT" ? 2 : 15));
});
