/**
 * Reads the first bytes of a tunnel: they must be a TLS ClientHello, and its server_name (SNI)
 * says which host the client means. The proxy compares it with the CONNECT host, so an allowed
 * name cannot front for another. The ClientHello may come in pieces and span records.
 */
import type { Socket } from "node:net";

export type HelloResult = { ok: true; sni: string | null; buffered: Buffer } | { ok: false; reason: "not-tls" | "bad-hello" | "timeout" | "closed" };

const MAX_HELLO = 16 * 1024 + 5 * 4;

/** The handshake bytes carried by the records in `data`, or null while a record is incomplete. */
function handshakeBytes(data: Buffer): { bytes: Buffer; complete: boolean } | "not-tls" {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 5 <= data.length) {
    if (data[at] !== 0x16 || data[at + 1] !== 0x03) return "not-tls";
    const length = data.readUInt16BE(at + 3);
    if (at + 5 + length > data.length) break;
    parts.push(data.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  if (data.length > 0 && data[0] !== 0x16) return "not-tls";
  const bytes = Buffer.concat(parts);
  const complete = bytes.length >= 4 && bytes.length >= 4 + bytes.readUIntBE(1, 3);
  return { bytes, complete };
}

/** The SNI host name of a complete ClientHello handshake message, null if it has none. */
export function parseSni(hello: Buffer): string | null | "bad-hello" {
  try {
    if (hello[0] !== 0x01) return "bad-hello";
    let at = 4 + 2 + 32; // header, client_version, random
    at += 1 + hello[at]!; // session id
    at += 2 + hello.readUInt16BE(at); // cipher suites
    at += 1 + hello[at]!; // compression methods
    if (at === hello.length) return null; // no extensions at all
    const end = at + 2 + hello.readUInt16BE(at);
    at += 2;
    while (at + 4 <= end) {
      const type = hello.readUInt16BE(at);
      const length = hello.readUInt16BE(at + 2);
      const body = hello.subarray(at + 4, at + 4 + length);
      if (type === 0) {
        // server_name_list: u16 length, then entries of (u8 type, u16 length, name).
        let p = 2;
        while (p + 3 <= body.length) {
          const nameType = body[p]!;
          const nameLength = body.readUInt16BE(p + 1);
          const name = body.subarray(p + 3, p + 3 + nameLength);
          if (name.length !== nameLength) return "bad-hello";
          if (nameType === 0) return name.toString("latin1");
          p += 3 + nameLength;
        }
        return "bad-hello";
      }
      at += 4 + length;
    }
    return null;
  } catch {
    return "bad-hello";
  }
}

export function readClientHello(socket: Socket, timeoutMs = 10_000): Promise<HelloResult> {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    const finish = (result: HelloResult): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("end", onClose);
      socket.pause();
      resolve(result);
    };
    const onClose = () => finish({ ok: false, reason: "closed" });
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const found = handshakeBytes(data);
      if (found === "not-tls") return finish({ ok: false, reason: "not-tls" });
      if (found.complete) {
        const sni = parseSni(found.bytes.subarray(0, 4 + found.bytes.readUIntBE(1, 3)));
        return finish(sni === "bad-hello" ? { ok: false, reason: "bad-hello" } : { ok: true, sni, buffered: data });
      }
      if (data.length > MAX_HELLO) finish({ ok: false, reason: "bad-hello" });
    };
    const timer = setTimeout(() => finish({ ok: false, reason: "timeout" }), timeoutMs);
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.once("end", onClose);
    socket.resume();
  });
}
