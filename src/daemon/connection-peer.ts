/**
 * Names the peer of a connection, for the per-peer cap. On a Unix socket the peer is a process;
 * Node cannot read SO_PEERCRED, so until a native reader names the pid/uid every local client is
 * one peer ("local"). This is the one place to change when it can.
 */
import type { Socket } from "node:net";

export function peerOf(socket: Socket): string {
  return socket.remoteAddress ?? "local";
}
