/**
 * Names the peer of a connection, for the per-peer cap. On a Unix socket the peer is a process:
 * on Linux the kernel's record of it (SO_PEERCRED, through the native addon) gives its pid.
 * Where that is not available, every local client is one peer ("local").
 */
import type { Socket } from "node:net";
import { peerCredentials, socketFd } from "../native/process-controls.js";

export function peerOf(socket: Socket): string {
  if (socket.remoteAddress) return socket.remoteAddress;
  const fd = socketFd(socket);
  if (fd === undefined) return "local";
  try {
    const peer = peerCredentials(fd);
    return peer ? `pid ${peer.pid}` : "local";
  } catch {
    return "local";
  }
}
