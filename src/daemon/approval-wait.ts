/**
 * The open call's side of a wait for approval. While its request waits, the connection is held
 * open like a bound one (no idle timeout, never evicted at the connection cap; Node's request
 * timeout ends once the body has arrived), the client is told the request's id at once in an
 * interim `103` answer (`broker-approval: ID`), and the connection closing withdraws the request.
 */
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ApprovalWait } from "../approval/pending-approvals.js";
import { requesterOf } from "../approval/requester.js";
import { holdOpen, releaseHold } from "./connection-gate.js";

export const APPROVAL_HEADER = "broker-approval";

export interface OpenWait {
  wait: ApprovalWait;
  /** The open call is answered: stop watching the connection. */
  done(): void;
}

export function approvalWait(socket: Socket, response: ServerResponse, parentSession: string | null): OpenWait {
  // Made when an approval first asks for it: most opens need none, and each controller and
  // close listener cost every open (a few percent of the daemon's time per session).
  let controller: AbortController | undefined;
  const onClose = () => controller?.abort();
  let held = false;
  const wait: ApprovalWait = {
    requester: () => requesterOf(socket),
    parentSession,
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (socket.destroyed) controller.abort();
        else socket.once("close", onClose);
      }
      return controller.signal;
    },
    onPending(id) {
      held = true;
      holdOpen(socket);
      // Node 20 sends no 103 without a Link header: give one that points at the approvals list.
      if (!response.headersSent && !socket.destroyed) response.writeEarlyHints({ link: "</v1/approvals>; rel=related", [APPROVAL_HEADER]: id });
    },
  };
  return {
    wait,
    done() {
      if (controller) socket.off("close", onClose);
      if (held) releaseHold(socket);
    },
  };
}
