/**
 * The one way the client reaches a daemon: the socket must be the user's own before connecting
 * (socket-trust.ts), and its peer must run as the user once connected (daemon-peer.ts). Only then
 * is `send` called to write the request; a refusal goes to `fail` and nothing is sent.
 */
import { connect, type Socket } from "node:net";
import { BrokerError } from "../errors.js";
import { checkDaemonPeer } from "./daemon-peer.js";
import { checkSocketTrust } from "./socket-trust.js";

export function connectToDaemon(socketPath: string, send: (socket: Socket) => void, fail: (error: BrokerError) => void): Socket {
  checkSocketTrust(socketPath);
  const socket = connect(socketPath);
  socket.once("connect", () => {
    try {
      checkDaemonPeer(socket, socketPath);
      send(socket);
    } catch (error) {
      fail(error instanceof BrokerError ? error : new BrokerError("ERR_INTERNAL", (error as Error).message));
    }
  });
  return socket;
}
