/**
 * Names the peer of a connection, for the per-peer cap. On a Unix socket the peer is a process:
 * on Linux the kernel's record of it (SO_PEERCRED, through the native addon) gives its pid.
 * Where that is not available, every local client is one peer ("local").
 */
import type { Socket } from "node:net";
import { peerCredentials, socketFd } from "../native/process-controls.js";

/** The kernel's record of the process at the other end of a Unix socket; undefined where it cannot be read. */
export function socketPeer(socket: Socket): { pid: number; uid: number } | undefined {
  const fd = socketFd(socket);
  if (fd === undefined) return undefined;
  try {
    return peerCredentials(fd) ?? undefined;
  } catch {
    return undefined;
  }
}

export function peerOf(socket: Socket): string {
  if (socket.remoteAddress) return socket.remoteAddress;
  const peer = socketPeer(socket);
  return peer ? `pid ${peer.pid}` : "local";
}
