/**
 * Just enough HTTP/1.1 to talk to the daemon: one request written out, one response read back
 * (Content-Length, chunked, or up to the close). node:http would do it too, but loading it and
 * setting up its first request costs a short-lived `broker mint` about 5 ms, a tenth of its life.
 */

export interface WireRequest {
  method: "GET" | "POST" | "DELETE";
  path: string;
  /** JSON text, sent with content-type application/json. */
  payload?: string;
  /** false: `Connection: close` (the daemon closes after answering); true: the connection stays up. */
  keepAlive: boolean;
}

export interface WireResponse {
  status: number;
  body: Buffer;
}

export class WireError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

export function formatRequest(req: WireRequest): string {
  // Paths are ours (ids are URI-encoded by the client); never let one carry a line break.
  if (!/^\/[\x21-\x7e]*$/.test(req.path)) throw new Error(`not a request path: ${JSON.stringify(req.path)}`);
  const body = req.payload === undefined ? "" : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(req.payload)}\r\n`;
  return `${req.method} ${req.path} HTTP/1.1\r\nhost: localhost\r\n${body}connection: ${req.keepAlive ? "keep-alive" : "close"}\r\n\r\n${req.payload ?? ""}`;
}

const HEADER_END = Buffer.from("\r\n\r\n");

interface Head {
  status: number;
  headers: Record<string, string>;
  bodyStart: number;
  length: number | null;
  chunked: boolean;
}

/** An interim (1xx) answer's status and headers (names lowercased), e.g. the daemon's 103 `broker-approval: ID`. */
export type InterimHandler = (status: number, headers: Record<string, string>) => void;

/** Reads one response from the bytes pushed in; `push` and `end` return it once it is whole. */
export function createResponseReader(onInterim?: InterimHandler): { push(chunk: Buffer): WireResponse | null; end(): WireResponse } {
  let data: Buffer = Buffer.alloc(0);
  let head: Head | null = null;

  function parseHead(): Head | null {
    const at = data.indexOf(HEADER_END);
    if (at === -1) {
      if (data.length > 64 * 1024) throw new WireError("HPE_HEADER_OVERFLOW");
      return null;
    }
    const lines = data.subarray(0, at).toString("latin1").split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? "");
    if (!status) throw new WireError("HPE_INVALID_CONSTANT");
    let length: number | null = null;
    let chunked = false;
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (colon > 0) headers[name] = value;
      if (name === "content-length") {
        if (!/^\d{1,15}$/.test(value)) throw new WireError("HPE_INVALID_CONTENT_LENGTH");
        length = Number(value);
      } else if (name === "transfer-encoding") chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
    }
    const code = Number(status[1]);
    // 1xx, 204 and 304 have no body, whatever the headers say.
    if (code < 200 || code === 204 || code === 304) length = 0;
    return { status: code, headers, bodyStart: at + HEADER_END.length, length: chunked ? null : length, chunked };
  }

  function dechunk(body: Buffer): Buffer | null {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf("\r\n", at);
      if (eol === -1) return null;
      const size = parseInt(body.subarray(at, eol).toString("latin1").split(";")[0] ?? "", 16);
      if (!Number.isSafeInteger(size) || size < 0) throw new WireError("HPE_INVALID_CHUNK_SIZE");
      // The last chunk: done once the (empty or trailer) section after it ends with a blank line.
      if (size === 0) return body.indexOf(HEADER_END, eol) === -1 ? null : Buffer.concat(parts);
      if (body.length < eol + 2 + size + 2) return null;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }

  function complete(closed: boolean): WireResponse | null {
    head ??= parseHead();
    if (!head) return null;
    if (head.status < 200) {
      // An interim answer (100 Continue, the daemon's 103 for a request waiting for approval): read on.
      onInterim?.(head.status, head.headers);
      data = data.subarray(head.bodyStart);
      head = null;
      return complete(closed);
    }
    const body = data.subarray(head.bodyStart);
    if (head.chunked) {
      const whole = dechunk(body);
      return whole === null ? null : { status: head.status, body: whole };
    }
    if (head.length === null) return closed ? { status: head.status, body } : null;
    return body.length >= head.length ? { status: head.status, body: body.subarray(0, head.length) } : null;
  }

  return {
    push(chunk) {
      data = data.length === 0 ? chunk : Buffer.concat([data, chunk]);
      return complete(false);
    },
    end() {
      const response = complete(true);
      // Closed before the answer was whole: what node:http calls a socket hang up.
      if (!response) throw new WireError("ECONNRESET");
      return response;
    },
  };
}
