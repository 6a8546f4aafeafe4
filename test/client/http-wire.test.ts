import { describe, expect, it } from "vitest";
import { createResponseReader, formatRequest } from "../../src/client/http-wire.js";

const bytes = (s: string) => Buffer.from(s, "latin1");

/** Feeds the text to a reader in pieces of `size` bytes; returns the response or the error code. */
function read(text: string, size: number, close = false): { status: number; body: string } | string | null {
  const reader = createResponseReader();
  try {
    for (let i = 0; i < text.length; i += size) {
      const r = reader.push(bytes(text.slice(i, i + size)));
      if (r) return { status: r.status, body: r.body.toString("utf8") };
    }
    if (!close) return null;
    const r = reader.end();
    return { status: r.status, body: r.body.toString("utf8") };
  } catch (error) {
    return (error as { code?: string }).code ?? "thrown";
  }
}

describe("http-wire: the client's HTTP/1.1 reader", () => {
  const json = '{"ok":true,"n":42}';
  it.each([1, 3, 7, 1000])("reads a Content-Length answer split every %i bytes", (size) => {
    expect(read(`HTTP/1.1 201 Created\r\nContent-Length: ${json.length}\r\n\r\n${json}`, size)).toEqual({ status: 201, body: json });
  });

  it("reads a chunked answer, and waits for its last chunk", () => {
    const chunked = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ok"\r\nd\r\n:true,"n":42}\r\n0\r\n\r\n`;
    expect(read(chunked, 4)).toEqual({ status: 200, body: json });
    expect(read(chunked.slice(0, -5), 4)).toBeNull();
  });

  it("takes 204 as bodiless and an interim 100 as not the answer", () => {
    expect(read("HTTP/1.1 204 No Content\r\n\r\n", 5)).toEqual({ status: 204, body: "" });
    expect(read(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}`, 6)).toEqual({ status: 404, body: "{}" });
  });

  it("reads to the close when there is no length, and calls a cut-off answer a hang-up", () => {
    expect(read(`HTTP/1.1 200 OK\r\n\r\n${json}`, 9, true)).toEqual({ status: 200, body: json });
    expect(read(`HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n${json}`, 9, true)).toBe("ECONNRESET");
  });

  it("refuses what is not HTTP", () => {
    expect(read("SSH-2.0-OpenSSH\r\n\r\n", 64)).toBe("HPE_INVALID_CONSTANT");
    expect(read("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 64)).toBe("HPE_INVALID_CONTENT_LENGTH");
  });

  it("writes a request, and never a path that could split it", () => {
    expect(formatRequest({ method: "POST", path: "/v1/sessions", payload: "{}", keepAlive: true })).toBe(
      "POST /v1/sessions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n{}",
    );
    expect(() => formatRequest({ method: "GET", path: "/v1/x\r\nX-Evil: 1", keepAlive: false })).toThrow();
  });
});
