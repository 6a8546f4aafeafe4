/**
 * One HTTP exchange over a Unix socket with the request written as raw bytes, so a test can send
 * what node's own client refuses to (bad request lines, invalid header names or values, conflicting
 * lengths). Reads one response: status line, headers, and a Content-Length body.
 */
import { connect } from "node:net";

export interface RawResponse {
  /** 0 when the server closed or timed out without an answer. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** `closed`, `timeout` or `error:<code>` when there was no complete answer. */
  problem: string | null;
}

/**
 * Requests over this go head first, body after a pause. The daemon may refuse from the headers
 * alone (a body over 64 KiB, a bad Content-Type) and close while a big body is still going out;
 * a body written in one go would then turn its answer into EPIPE here (seen at 57 KB).
 */
const BIG = 16 * 1024;
/** What a refusal from the headers may take to arrive before a big request's body follows them. */
const FIRST_PAUSE_MS = 50;

/** How a request goes out: head first, then the rest in slices, pausing before each. */
interface Pacing {
  pauseMs: number;
  sliceBytes: number;
}

export async function rawExchange(socketPath: string, request: Buffer | string, timeoutMs = 5_000): Promise<RawResponse> {
  const bytes = Buffer.isBuffer(request) ? request : Buffer.from(request, "utf8");
  let response = await exchange(socketPath, bytes, timeoutMs, { pauseMs: FIRST_PAUSE_MS, sliceBytes: 16_384 });
  // EPIPE/ECONNRESET with nothing read: the server answered from what it had (a head over its
  // limit, say) and closed while the rest was still going out, so the answer was lost with the
  // socket. Once more, in small slices with a pause before each, stopping once an answer starts.
  if (bytes.length > 1024 && /^error:(EPIPE|ECONNRESET)$/.test(response.problem ?? "") && response.body === "") {
    response = await exchange(socketPath, bytes, timeoutMs, { pauseMs: 25, sliceBytes: 4_096 }, true);
  }
  return response;
}

function exchange(socketPath: string, bytes: Buffer, timeoutMs: number, pacing: Pacing, paceAll = false): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    let data = Buffer.alloc(0);
    let settled = false;
    const finish = (response: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(response);
    };
    const none = (problem: string) => finish({ status: 0, headers: {}, body: data.toString("utf8"), problem });
    const timer = setTimeout(() => none("timeout"), timeoutMs);
    // A big request goes head first, then (after a pause to let a refusal arrive) its body in
    // slices, stopping once an answer starts: a server that refuses a huge body from its headers
    // closes the connection, and writing on would turn its answer into EPIPE here.
    const { pauseMs, sliceBytes } = pacing;
    const writeFrom = (offset: number): void => {
      if (settled || data.length > 0 || offset >= bytes.length) return;
      const next = () => (paceAll ? setTimeout(() => writeFrom(offset + sliceBytes), pauseMs) : writeFrom(offset + sliceBytes));
      socket.write(bytes.subarray(offset, offset + sliceBytes), next);
    };
    const headEnd = bytes.indexOf("\r\n\r\n") + 4;
    socket.on("connect", () => {
      if (paceAll) return writeFrom(0);
      if (bytes.length <= BIG || headEnd < 4) return void socket.write(bytes);
      socket.write(bytes.subarray(0, headEnd));
      setTimeout(() => writeFrom(headEnd), pauseMs);
    });
    // EPIPE/ECONNRESET while writing a huge request: the server may have answered and closed already.
    socket.on("error", (error: NodeJS.ErrnoException) => (tryParse(true) ? undefined : none(`error:${error.code ?? "?"}`)));
    socket.on("data", (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      tryParse(false);
    });
    socket.on("close", () => (tryParse(true) ? undefined : none("closed")));

    function tryParse(atEnd: boolean): boolean {
      const end = data.indexOf("\r\n\r\n");
      if (end === -1) return false;
      const [statusLine = "", ...lines] = data.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
      const length = headers["content-length"] === undefined ? null : Number(headers["content-length"]);
      const body = data.subarray(end + 4);
      if (length !== null && body.length < length && !atEnd) return false;
      if (length === null && !atEnd) return false;
      finish({ status, headers, body: body.subarray(0, length ?? body.length).toString("utf8"), problem: null });
      return true;
    }
  });
}

/** A complete request: request line, headers (Host and Connection: close added), body with its length. */
export function buildRequest(method: string, path: string, headers: [string, string][] = [], body?: string | Buffer): Buffer {
  const head = [`${method} ${path} HTTP/1.1`, "Host: localhost", "Connection: close", ...headers.map(([k, v]) => `${k}: ${v}`)];
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  if (body !== undefined && !headers.some(([k]) => k.toLowerCase() === "content-length" || k.toLowerCase() === "transfer-encoding")) {
    head.push(`Content-Length: ${payload.length}`);
  }
  return Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`, "utf8"), payload]);
}
