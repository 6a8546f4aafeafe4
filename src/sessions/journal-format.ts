/**
 * The journal's lines: `<CRC-32, 8 hex> <HMAC-SHA256 of the JSON, 64 hex> <JSON>`, the CRC over
 * everything after it, the JSON one record or an array of the records written together.
 * The CRC finds a torn or corrupt tail, cut off at the last good line instead of refusing to
 * start. The MAC (journal-mac.ts) tells our lines from forged ones: a whole line that fails it
 * is skipped, counted in `rejected`, and parsing goes on. Lines of earlier versions carry no MAC
 * (`<checksum> <JSON>`): nothing vouches for them, so they are rejected the same way.
 */
import { createHash } from "node:crypto";
import type { ProviderName } from "../providers/provider.js";
import { crc32Hex } from "../util/crc32.js";
import type { JournalMac } from "./journal-mac.js";

export type JournalRecord =
  | { t: "open"; session: string; task: string; expiresAt: number; sandbox?: { dir: string; tmp: boolean } }
  | { t: "lease"; session: string; lease: string; provider: ProviderName; fingerprint: string; expiresAt: number | null; handle?: string }
  | { t: "lease-end"; lease: string; outcome: string }
  | { t: "close"; session: string };

/** Lines that were whole but not ours: how many, and the number (from 1) of the first. */
export interface Rejected {
  lines: number;
  first: number | null;
}

/** Records written together: one line, one checksum, one MAC. */
export function encodeLine(records: JournalRecord[], mac: Pick<JournalMac, "sign">): string {
  const json = JSON.stringify(records.length === 1 ? records[0] : records);
  const body = `${mac.sign(json)} ${json}`;
  return `${crc32Hex(body)} ${body}\n`;
}

const MAC_HEX = 64;
/** Lines of some earlier versions were checksummed with the first 8 hex of SHA-256: whole, so rejected rather than cut. */
const legacyChecksum = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 8);
const whole = (sum: string, body: string) => sum === crc32Hex(body) || sum === legacyChecksum(body);

/** Parses the journal text up to the last whole line; `goodBytes` is where that line ends. */
export function parseJournal(text: string, mac: Pick<JournalMac, "verify">): { records: JournalRecord[]; goodBytes: number; torn: boolean; rejected: Rejected } {
  const records: JournalRecord[] = [];
  const rejected: Rejected = { lines: 0, first: null };
  let offset = 0;
  for (let n = 1; offset < text.length; n++) {
    const end = text.indexOf("\n", offset);
    if (end === -1) break;
    const line = text.slice(offset, end);
    const body = line.slice(9);
    if (line[8] !== " " || !whole(line.slice(0, 8), body)) break;
    const json = body.slice(MAC_HEX + 1);
    let parsed: unknown = null;
    if (body[MAC_HEX] === " " && mac.verify(json, body.slice(0, MAC_HEX))) {
      try {
        parsed = JSON.parse(json);
      } catch {
        break; // ours, yet not JSON: damaged on disk
      }
    }
    if (parsed === null || typeof parsed !== "object") {
      rejected.lines += 1;
      rejected.first ??= n;
    } else if (Array.isArray(parsed)) records.push(...(parsed as JournalRecord[]));
    else records.push(parsed as JournalRecord);
    offset = end + 1;
  }
  return { records, goodBytes: Buffer.byteLength(text.slice(0, offset)), torn: offset < text.length, rejected };
}
