/** HTTP/1.1 over the daemon's Unix socket, on node:http alone (the CLI path stays light). */
import { request as httpRequest, type Agent } from "node:http";
import { BrokerError, fromApiError } from "../errors.js";

export interface SocketRequest {
  socketPath: string;
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  /** A keep-alive agent keeps the connection open after the answer (for `bind: "connection"`). */
  agent?: Agent;
  timeoutMs?: number;
}

export interface SocketResponse<T> {
  status: number;
  body: T;
}

/** Sends one request and returns the parsed answer; an error status becomes the BrokerError it names. */
export function socketRequest<T>(req: SocketRequest): Promise<SocketResponse<T>> {
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      {
        socketPath: req.socketPath,
        method: req.method,
        path: req.path,
        agent: req.agent,
        headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = undefined;
          if (text) {
            try {
              body = JSON.parse(text);
            } catch {
              return reject(new BrokerError("ERR_INTERNAL", `the daemon answered HTTP ${res.statusCode} with a body that is not JSON`));
            }
          }
          const status = res.statusCode ?? 0;
          if (status >= 400) return reject(fromApiError(status, body));
          resolve({ status, body: body as T });
        });
      },
    );
    r.setTimeout(req.timeoutMs ?? 120_000, () => r.destroy(new BrokerError("ERR_DAEMON_UNREACHABLE", "the daemon did not answer in time", { fix: "check the daemon's log" })));
    r.on("error", (error: NodeJS.ErrnoException) => reject(error instanceof BrokerError ? error : unreachable(req.socketPath, error)));
    r.end(payload);
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
