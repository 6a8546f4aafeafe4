/**
 * The first process inside the box: native/broker-bridge (a small C program built with the
 * addon). It listens on one port of the box's own loopback per bridge, forwarding each
 * connection to a Unix socket the daemon or `broker run` listens on outside, tells `broker run`
 * it is up (a byte on fd 4), and then becomes CMD. Its forwarder is double-forked, so it is the
 * box's init's child, never CMD's: a shell CMD that runs `wait` does not wait for it.
 */
import { accessSync, constants, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Bridge {
  /** Port on 127.0.0.1 inside the box. */
  port: number;
  /** Unix socket as seen inside the box. */
  socket: string;
}

/** The fd the bridge writes its ready byte to. */
export const READY_FD = 4;

/** From dist/sandbox/, dist/bin/ (the CLI bundle), src/sandbox/ (tests) or build/src/sandbox/ (bench, demo) to the package root. */
const CANDIDATES = ["../../native/build/Release/broker-bridge", "../../../native/build/Release/broker-bridge"];

/** The bridge program's real path (the box binds paths, not symlinks), or null if it is not built. */
export function findBridge(): string | null {
  for (const candidate of CANDIDATES) {
    try {
      const path = realpathSync(fileURLToPath(new URL(candidate, import.meta.url)));
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

/** `broker-bridge port=sock … -- CMD…` */
export function bridgeCommand(bridge: string, bridges: readonly Bridge[], command: readonly string[]): string[] {
  return [bridge, ...bridges.map((b) => `${b.port}=${b.socket}`), "--", ...command];
}
