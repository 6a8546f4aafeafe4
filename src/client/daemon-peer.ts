/**
 * The one place the client checks who is on the other end of a connected socket, before it
 * sends a request. Today the socket's owner and mode are checked before connecting
 * (socket-trust.ts); the peer's own uid (SO_PEERCRED, where Linux gives it) belongs here.
 */
import type { Socket } from "node:net";

/** Throws a BrokerError if the connected peer is not the user's own daemon. Nothing yet. */
export function checkDaemonPeer(socket: Socket): void {
  void socket;
}
