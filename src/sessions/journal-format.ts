/**
 * The journal's lines: `<CRC-32 of the JSON, 8 hex> <JSON>`, the JSON one record or an array of
 * the records written together, so a torn or corrupt tail is found and cut off at the last good
 * line instead of refusing to start. (Lines of earlier versions, checksummed with the first 8 hex
 * of SHA-256, are still read.)
 */
import * as crypto from "node:crypto";
import type { ProviderName } from "../providers/provider.js";
import { crc32Hex } from "../util/crc32.js";

export type JournalRecord =
  | { t: "open"; session: string; task: string; expiresAt: number; sandbox?: { dir: string; tmp: boolean } }
  | { t: "lease"; session: string; lease: string; provider: ProviderName; fingerprint: string; expiresAt: number | null; handle?: string }
  | { t: "lease-end"; lease: string; outcome: string }
  | { t: "close"; session: string };

/** Records written together: one line, one checksum. */
export function encodeLine(records: JournalRecord[]): string {
  const json = JSON.stringify(records.length === 1 ? records[0] : records);
  return `${crc32Hex(json)} ${json}\n`;
}

const legacyChecksum = (json: string) => crypto.createHash("sha256").update(json).digest("hex").slice(0, 8);
const intact = (sum: string, json: string) => sum === crc32Hex(json) || sum === legacyChecksum(json);

/** Parses the journal text up to the last good line; `goodBytes` is where that line ends. */
export function parseJournal(text: string): { records: JournalRecord[]; goodBytes: number; torn: boolean } {
  const records: JournalRecord[] = [];
  let offset = 0;
  while (offset < text.length) {
    const end = text.indexOf("\n", offset);
    if (end === -1) break;
    const line = text.slice(offset, end);
    const json = line.slice(9);
    if (line[8] !== " " || !intact(line.slice(0, 8), json)) break;
    try {
      const parsed = JSON.parse(json) as JournalRecord | JournalRecord[];
      if (Array.isArray(parsed)) records.push(...parsed);
      else records.push(parsed);
    } catch {
      break;
    }
    offset = end + 1;
  }
  return { records, goodBytes: Buffer.byteLength(text.slice(0, offset)), torn: offset < text.length };
}
