/**
 * CRC-32 (the zlib / PNG polynomial) of a string's UTF-8 bytes. Node's own (zlib.crc32, Node >=
 * 20.15) when there is one; else the same sum worked out here, byte by byte.
 */
import * as zlib from "node:zlib";

let table: Int32Array | undefined;

function crc32Bytes(text: string): number {
  table ??= Int32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  let crc = -1;
  for (const byte of Buffer.from(text)) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

const native = (zlib as { crc32?: (data: string) => number }).crc32;

export const crc32: (text: string) => number = typeof native === "function" ? native : crc32Bytes;

/** For tests: the fallback, whatever this Node has. */
export const crc32Fallback = crc32Bytes;

/** The CRC-32 as 8 lower-case hex digits. */
export const crc32Hex = (text: string): string => crc32(text).toString(16).padStart(8, "0");
