/**
 * How the AWS stand-in reads an S3 upload body, as S3 does: aws-chunked framing (with signed
 * chunks chained from the request's signature, or unsigned chunks with a trailing checksum) and
 * the flexible checksums (`x-amz-checksum-*`, in a header or a trailer). Written apart from
 * src/egress, so a bug in the handler's own framing cannot hide here.
 */
import { createHash, createHmac } from "node:crypto";
import { crc32 } from "node:zlib";
import { sha256Hex, signingKey } from "../stubs/sts-sigv4.js";

export interface DecodedChunks {
  data: Buffer;
  /** Each chunk's `chunk-signature`, when the body is signed. */
  signatures: string[];
  sizes: number[];
  /** Trailing headers, lower-case names. */
  trailers: Map<string, string>;
}

/** Splits an aws-chunked body; throws on a framing error (S3 answers 400 IncompleteBody). */
export function decodeAwsChunked(body: Buffer): DecodedChunks {
  const parts: Buffer[] = [];
  const signatures: string[] = [];
  const sizes: number[] = [];
  let at = 0;
  for (;;) {
    const end = body.indexOf("\r\n", at);
    if (end < 0) throw new Error("chunk header without CRLF");
    const [sizeHex, ...extensions] = body.subarray(at, end).toString("latin1").split(";");
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeHex!)) throw new Error("bad chunk size");
    const size = parseInt(sizeHex!, 16);
    const signature = extensions.find((e) => e.startsWith("chunk-signature="));
    if (signature) signatures.push(signature.slice("chunk-signature=".length));
    sizes.push(size);
    at = end + 2;
    if (size === 0) break;
    if (body.length < at + size + 2 || body[at + size] !== 0x0d || body[at + size + 1] !== 0x0a) throw new Error("chunk not terminated by CRLF");
    parts.push(body.subarray(at, at + size));
    at += size + 2;
  }
  const trailers = new Map<string, string>();
  for (;;) {
    const end = body.indexOf("\r\n", at);
    if (end < 0) throw new Error("trailer without CRLF");
    const line = body.subarray(at, end).toString("latin1");
    at = end + 2;
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error("bad trailer");
    trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (at !== body.length) throw new Error("data after the final chunk");
  return { data: Buffer.concat(parts), signatures, sizes, trailers };
}

/** Whether every chunk signature continues the chain from `seed`, under `secret` (S3's check). */
export function chunkChainValid(decoded: DecodedChunks, p: { secret: string; amzDate: string; region: string; seed: string }): boolean {
  if (decoded.signatures.length !== decoded.sizes.length) return false;
  const date = p.amzDate.slice(0, 8);
  const key = signingKey(p.secret, date, p.region, "s3");
  let previous = p.seed;
  let at = 0;
  for (const [i, size] of decoded.sizes.entries()) {
    const chunk = decoded.data.subarray(at, at + size);
    at += size;
    const toSign = ["AWS4-HMAC-SHA256-PAYLOAD", p.amzDate, `${date}/${p.region}/s3/aws4_request`, previous, sha256Hex(""), sha256Hex(chunk)].join("\n");
    previous = createHmac("sha256", key).update(toSign).digest("hex");
    if (previous !== decoded.signatures[i]) return false;
  }
  return true;
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32c(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC32C_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString("base64");
};

/** The base64 value of an `x-amz-checksum-<name>` for `data`; undefined for an algorithm the stand-in does not know. */
export function checksumOf(name: string, data: Buffer): string | undefined {
  switch (name) {
    case "crc32":
      return u32(crc32(data));
    case "crc32c":
      return u32(crc32c(data));
    case "sha1":
    case "sha256":
      return createHash(name).update(data).digest("base64");
    default:
      return undefined;
  }
}

/** Every `x-amz-checksum-*` among `fields`, checked against `data`: the names seen, or the first that fails. */
export function checkChecksums(fields: Map<string, string>, data: Buffer): { ok: true; names: string[] } | { ok: false; name: string } {
  const names: string[] = [];
  for (const [field, value] of fields) {
    if (!field.startsWith("x-amz-checksum-") || field === "x-amz-checksum-type" || field === "x-amz-checksum-algorithm") continue;
    const name = field.slice("x-amz-checksum-".length);
    if (checksumOf(name, data) !== value) return { ok: false, name };
    names.push(name);
  }
  return { ok: true, names };
}
