/**
 * One keep-alive connection to a Unix socket, one request at a time, spoken with the broker's own
 * client wire code (src/client/http-wire.ts, what `broker` itself sends). The throughput runs use
 * one per worker. node:http's client spent about 60 µs of CPU per session (open and close) on
 * this 2-core machine, a whole core at the ceiling's rate: the "ceiling" then measured the client.
 * This one spends about 20 µs.
 */
import { connect, type Socket } from "node:net";
import { createResponseReader, formatRequest } from "../src/client/http-wire.js";
import type { Answer } from "./http-load.js";

export interface WireConnection {
  request(method: "POST" | "DELETE", path: string, payload?: string): Promise<Answer>;
  close(): void;
}

const TIMEOUT_MS = 30_000;

export function openWireConnection(socketPath: string): Promise<WireConnection> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(socketPath);
    let pending: { resolve(a: Answer): void; reject(e: Error): void; reader: ReturnType<typeof createResponseReader> } | null = null;
    const fail = (error: Error) => {
      const waiting = pending;
      pending = null;
      waiting?.reject(error);
    };
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    socket.on("data", (chunk: Buffer) => {
      if (!pending) return void socket.destroy(new Error("bytes arrived with no request waiting"));
      const answer = pending.reader.push(chunk);
      if (answer === null) return;
      const waiting = pending;
      pending = null;
      waiting.resolve({ status: answer.status, body: answer.body.toString("utf8") });
    });
    socket.once("error", (error) => {
      fail(error);
      reject(error);
    });
    socket.once("close", () => fail(new Error("the connection closed before the answer")));
    socket.once("connect", () =>
      resolve({
        request(method, path, payload) {
          if (pending) return Promise.reject(new Error("one request at a time on a connection"));
          return new Promise<Answer>((res, rej) => {
            pending = { resolve: res, reject: rej, reader: createResponseReader() };
            socket.write(formatRequest({ method, path, keepAlive: true, ...(payload === undefined ? {} : { payload }) }));
          });
        },
        close: () => socket.destroy(),
      }),
    );
  });
}
