/** Puts the server on its Unix socket: dir 0700, socket 0600, a stale socket replaced, a live daemon refused. */
import { lstatSync, unlinkSync } from "node:fs";
import { connect } from "node:net";
import type { FastifyInstance } from "fastify";
import { BrokerError } from "../errors.js";
import { ensureSocketDir } from "./socket-dir.js";

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function clearStaleSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return;
  }
  if (!stats.isSocket()) {
    throw new BrokerError("ERR_UNSAFE_PATH", `${path} exists and is not a socket`, { fix: "remove it or choose another --socket path" });
  }
  if (await answers(path)) {
    throw new BrokerError("ERR_DAEMON_RUNNING", `a daemon is already listening on ${path}`, { fix: "use it, or stop it first (kill -TERM its pid)" });
  }
  unlinkSync(path);
}

export async function listenOnSocket(app: FastifyInstance, path: string): Promise<void> {
  ensureSocketDir(path);
  await clearStaleSocket(path);
  // The socket is created 0600 from the start (umask), so there is no moment it is open to others.
  const previous = process.umask(0o177);
  try {
    // A deep accept queue, so a burst of connections waits to be admitted (or refused with a code) by
    // the connection gate instead of being turned away by the kernel (EAGAIN).
    await app.listen({ path, backlog: 4096 });
  } finally {
    process.umask(previous);
  }
}
