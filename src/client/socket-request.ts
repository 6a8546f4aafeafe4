/** HTTP/1.1 over the daemon's Unix socket, on node:net alone (the CLI path stays light; see http-wire.ts). */
import type { Socket } from "node:net";
import { BrokerError, fromApiError } from "../errors.js";
import { connectToDaemon } from "./daemon-connect.js";
import { createResponseReader, formatRequest, type WireResponse } from "./http-wire.js";

/** The header of the daemon's interim 103 answer to an open that waits for approval. */
const APPROVAL_HEADER = "broker-approval";

export interface SocketRequest {
  socketPath: string;
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  /** Keep the connection open after the answer (for `bind: "connection"`); it comes back in the response. */
  keepOpen?: boolean;
  timeoutMs?: number;
  /** The request waits for a person's approval (the daemon's interim answer names it): from then on only the daemon's own timeout applies. */
  onPending?: (id: string) => void;
}

export interface SocketResponse<T> {
  status: number;
  body: T;
  /** With `keepOpen`: the connection, still open, and not keeping this process alive. */
  socket?: Socket;
}

/**
 * Sends one request and returns the parsed answer; an error status becomes the BrokerError it
 * names. Nothing is sent to a socket that is not the user's own (ERR_SOCKET_UNTRUSTED).
 */
export function socketRequest<T>(req: SocketRequest): Promise<SocketResponse<T>> {
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const keepOpen = req.keepOpen === true;
  return new Promise((resolve, reject) => {
    // The request goes out only once the socket and its peer have been checked.
    const socket = connectToDaemon(
      req.socketPath,
      (connected) => connected.write(formatRequest({ method: req.method, path: req.path, ...(payload === undefined ? {} : { payload }), keepAlive: keepOpen })),
      (error) => fail(error),
    );
    const reader = createResponseReader((_status, headers) => {
      const id = headers[APPROVAL_HEADER];
      if (id === undefined || settled) return;
      socket.setTimeout(0);
      req.onPending?.(id);
    });
    let settled = false;

    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(error instanceof BrokerError ? error : unreachable(req.socketPath, error as NodeJS.ErrnoException));
    };
    const answered = (response: WireResponse) => {
      if (settled) return;
      settled = true;
      socket.removeListener("data", onData);
      socket.setTimeout(0);
      if (keepOpen) {
        // Like an idle keep-alive socket of node:http's agent: errors after the answer are nobody's.
        socket.on("error", () => undefined);
        socket.unref();
      } else {
        socket.destroy();
      }
      const text = response.body.toString("utf8");
      let body: unknown = undefined;
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          return reject(new BrokerError("ERR_INTERNAL", `the daemon answered HTTP ${response.status} with a body that is not JSON`));
        }
      }
      if (response.status >= 400) return reject(fromApiError(response.status, body));
      resolve({ status: response.status, body: body as T, ...(keepOpen ? { socket } : {}) });
    };
    const onData = (chunk: Buffer) => {
      try {
        const response = reader.push(chunk);
        if (response) answered(response);
      } catch (error) {
        fail(error);
      }
    };

    socket.on("data", onData);
    socket.once("end", () => {
      try {
        answered(reader.end());
      } catch (error) {
        fail(error);
      }
    });
    socket.on("error", fail);
    socket.setTimeout(req.timeoutMs ?? 120_000, () => fail(new BrokerError("ERR_DAEMON_UNREACHABLE", "the daemon did not answer in time", { fix: "check the daemon's log" })));
  });
}

function unreachable(socketPath: string, error: NodeJS.ErrnoException): BrokerError {
  const why =
    error.code === "ENOENT" ? "no socket there"
    : error.code === "ECONNREFUSED" ? "nothing is listening"
    : error.code === "EACCES" ? "permission denied"
    : (error.code ?? error.message);
  return new BrokerError("ERR_DAEMON_UNREACHABLE", `cannot reach the daemon at ${socketPath} (${why})`, {
    fix: "start it with `broker daemon`, or point --socket / BROKER_SOCKET at its socket",
  });
}
