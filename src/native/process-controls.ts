/**
 * The Linux process controls Node has no API for, from the small addon in native/: making this
 * process non-dumpable and reading a Unix socket peer's credentials. On other systems each
 * function does nothing (or answers undefined). On Linux a missing or broken addon is an error,
 * never a silent skip: the daemon must not run dumpable, nor the client trust a peer unchecked.
 */
import { createRequire } from "node:module";
import type { Socket } from "node:net";
import { BrokerError } from "../errors.js";

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface NativeAddon {
  makeNonDumpable(): void;
  isDumpable(): boolean;
  peerCredentials(fd: number): PeerCredentials;
}

/** From dist/native/, dist/bin/ (the CLI bundle) or build/src/native/ (the demo) to the package root. */
const CANDIDATES = ["../../native/build/Release/broker_native.node", "../../../native/build/Release/broker_native.node"];

let addon: NativeAddon | undefined;

function loadAddon(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  let firstError: unknown;
  for (const candidate of CANDIDATES) {
    try {
      addon = require(candidate) as NativeAddon;
      return addon;
    } catch (error) {
      firstError ??= error;
    }
  }
  const why = firstError instanceof Error ? firstError.message.split("\n")[0] : String(firstError);
  throw new BrokerError("ERR_NATIVE_UNAVAILABLE", `broker's native addon (native/build/Release/broker_native.node) could not be loaded: ${why}`, {
    fix: "build it in the broker package with `npm run install` (needs python3, make and a C compiler), or reinstall with `npm ci`",
    cause: firstError,
  });
}

const onLinux = (): boolean => process.platform === "linux";

/** No core file, and /proc/<pid>/environ, mem and maps closed to other processes of the same user. */
export function makeNonDumpable(): void {
  if (onLinux()) loadAddon().makeNonDumpable();
}

/** true/false on Linux; undefined where the broker cannot tell. */
export function isDumpable(): boolean | undefined {
  return onLinux() ? loadAddon().isDumpable() : undefined;
}

/** The peer of a connected Unix socket (by its fd), as the kernel recorded it at connect time; undefined off Linux. */
export function peerCredentials(fd: number): PeerCredentials | undefined {
  if (!onLinux()) return undefined;
  try {
    return loadAddon().peerCredentials(fd);
  } catch (error) {
    if (error instanceof BrokerError) throw error;
    throw new BrokerError("ERR_DAEMON_UNTRUSTED", `the peer of the socket could not be identified (${(error as NodeJS.ErrnoException).code ?? "error"})`, {
      fix: "connect over a Unix socket; if this persists, report it with the output of `broker doctor`",
    });
  }
}

/** A connected socket's descriptor: node:net keeps it on its internal handle (a Pipe has one once connected). */
export function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}
