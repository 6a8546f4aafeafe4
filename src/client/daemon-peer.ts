/**
 * The client trusts only its own daemon: on a connected Unix socket, the kernel's record of the
 * peer (SO_PEERCRED) must show this user's uid. A socket another user planted (or a daemon of
 * theirs listening where ours should be) is refused before anything is sent or read. Linux only;
 * elsewhere the socket directory's ownership check stands alone.
 */
import { lstatSync } from "node:fs";
import type { Socket } from "node:net";
import { BrokerError } from "../errors.js";
import { peerCredentials, socketFd } from "../native/process-controls.js";

/** Call once `connect` has fired; throws ERR_DAEMON_UNTRUSTED for a peer of another uid. */
export function checkDaemonPeer(socket: Socket, socketPath: string, uid = process.getuid?.()): void {
  if (process.platform !== "linux" || uid === undefined) return;
  const fd = socketFd(socket);
  if (fd === undefined) {
    throw new BrokerError("ERR_DAEMON_UNTRUSTED", `the daemon's socket ${socketPath} gave no descriptor to check its owner on`, {
      fix: "check the connection after it is made (on `connect`), over a Unix socket",
    });
  }
  // Root trusts the owner of the socket it was pointed at, as socket-trust.ts does (a
  // container's root given the operator's session socket); everyone else only themselves.
  const expected = uid === 0 ? socketOwner(socketPath) : uid;
  const peer = peerCredentials(fd);
  if (peer && peer.uid !== expected && peer.uid !== uid) {
    throw new BrokerError("ERR_DAEMON_UNTRUSTED", `the process answering on ${socketPath} runs as uid ${peer.uid} (pid ${peer.pid}), not as uid ${expected}${expected === uid ? " (you)" : " (the socket's owner)"}; nothing was sent to it`, {
      fix: "another user may have created that socket first: remove it (or its directory) if it is not yours, start your own `broker daemon`, or point --socket / BROKER_SOCKET at your daemon's socket",
    });
  }
}

function socketOwner(socketPath: string): number {
  try {
    return lstatSync(socketPath).uid;
  } catch {
    return 0;
  }
}
