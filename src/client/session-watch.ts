/**
 * Reads a session's event stream (`GET /v1/sessions/{id}/events`): one JSON event per line until
 * the daemon closes it after `end`. A stream that closes without an `end` is a dropped daemon
 * connection (the daemon died, or was cut off): `onDrop` says so, and the session is as good as over.
 */
import { BrokerError, fromApiError } from "../errors.js";
import type { SessionEvent } from "../sessions/session-events.js";
import { connectToDaemon } from "./daemon-connect.js";
import { createResponseReader, formatRequest } from "./http-wire.js";

export type { SessionEvent } from "../sessions/session-events.js";

export interface WatchHandlers {
  onEvent(event: SessionEvent): void;
  /** The stream closed without an `end` event. */
  onDrop(): void;
}

export interface SessionWatch {
  /** Stops watching: no handler is called after this. */
  close(): void;
}

const HEADER_END = Buffer.from("\r\n\r\n");
/** A line longer than this is not one of ours. */
const MAX_LINE = 1024 * 1024;

/** Resolves once the daemon has accepted the watch; rejects with its error (404 for an unknown session). */
export function watchSession(socketPath: string, id: string, handlers: WatchHandlers): Promise<SessionWatch> {
  return new Promise((resolve, reject) => {
    const request = formatRequest({ method: "GET", path: `/v1/sessions/${encodeURIComponent(id)}/events`, keepAlive: false });
    // The stream carries refreshed credentials: the same checks as every other request.
    const socket = connectToDaemon(socketPath, (connected) => connected.write(request), (error) => refuse(error));
    let head: Buffer | null = Buffer.alloc(0);
    let errorReader: ReturnType<typeof createResponseReader> | null = null;
    let line = "";
    let accepted = false;
    let closed = false;
    let sawEnd = false;
    const watch: SessionWatch = {
      close() {
        closed = true;
        socket.destroy();
      },
    };
    const refuse = (error: BrokerError) => {
      closed = true;
      socket.destroy();
      reject(error);
    };
    const lines = (text: string) => {
      line += text;
      let at: number;
      while (!closed && (at = line.indexOf("\n")) !== -1) {
        const one = line.slice(0, at);
        line = line.slice(at + 1);
        if (one.trim() === "") continue;
        let event: SessionEvent;
        try {
          event = JSON.parse(one) as SessionEvent;
        } catch {
          continue;
        }
        if (event.type === "end") sawEnd = true;
        handlers.onEvent(event);
      }
      if (line.length > MAX_LINE) line = "";
    };

    socket.on("data", (chunk: Buffer) => {
      if (closed) return;
      if (errorReader) {
        const done = errorReader.push(chunk);
        if (done) refuse(fromApiError(done.status, parseJson(done.body)));
        return;
      }
      if (accepted) return lines(chunk.toString("utf8"));
      head = Buffer.concat([head ?? Buffer.alloc(0), chunk]);
      const end = head.indexOf(HEADER_END);
      if (end === -1) return;
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString("latin1"))?.[1] ?? 0);
      if (status !== 200) {
        errorReader = createResponseReader();
        const done = errorReader.push(head);
        if (done) refuse(fromApiError(done.status, parseJson(done.body)));
        return;
      }
      accepted = true;
      const rest = head.subarray(end + HEADER_END.length);
      head = null;
      // Quiet for as long as the session lives: it must not keep this process alive on its own.
      socket.unref();
      resolve(watch);
      if (rest.length > 0) lines(rest.toString("utf8"));
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (!accepted && !closed) {
        const done = errorReader ? safeEnd(errorReader) : null;
        return refuse(done ? fromApiError(done.status, parseJson(done.body)) : new BrokerError("ERR_DAEMON_UNREACHABLE", `cannot watch session ${id}: the daemon at ${socketPath} closed the connection`, { fix: "check that `broker daemon` runs" }));
      }
      if (!closed && !sawEnd) {
        closed = true;
        handlers.onDrop();
      }
      closed = true;
    });
  });
}

function safeEnd(reader: ReturnType<typeof createResponseReader>) {
  try {
    return reader.end();
  } catch {
    return null;
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return null;
  }
}
