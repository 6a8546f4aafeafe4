/**
 * Who is asking, as the kernel says (SO_PEERCRED) rather than as the request claims: the pid and
 * uid of the process at the other end of a connection, and its executable and working directory
 * from /proc (Linux). Anything that cannot be read is null; an approver sees what is known.
 */
import { readlinkSync } from "node:fs";
import type { Socket } from "node:net";
import { socketPeer } from "../daemon/connection-peer.js";

export interface Requester {
  pid: number | null;
  uid: number | null;
  executable: string | null;
  cwd: string | null;
}

function link(path: string): string | null {
  try {
    return sanitiseText(readlinkSync(path), 4096);
  } catch {
    return null;
  }
}

export function requesterOf(socket: Socket): Requester {
  const peer = socketPeer(socket);
  if (!peer) return { pid: null, uid: null, executable: null, cwd: null };
  return { pid: peer.pid, uid: peer.uid, executable: link(`/proc/${peer.pid}/exe`), cwd: link(`/proc/${peer.pid}/cwd`) };
}

/** Text from outside shown to a person: control characters stripped, at most `max` characters. */
export function sanitiseText(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  return [...text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, "")].slice(0, max).join("");
}
