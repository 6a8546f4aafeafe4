/**
 * The crash-recovery journal: `<state>/journal.jsonl`, append-only. Each line is
 * `<CRC-32 of the JSON, 8 hex> <JSON>`, the JSON one record or an array of the records written
 * together, so a torn or corrupt tail is found and cut off at the last good line instead of
 * refusing to start. (Lines of earlier versions, checksummed with the first 8 hex of SHA-256, are
 * still read.)
 *
 * Records go through a FileAppender (util/file-appender.ts): those of one turn of the event loop
 * share one write(2) and one line, encoded when written. `append` writes at once (with everything
 * queued before it, in order), then waits for an fdatasync; appends that arrive while one runs
 * share the next (group commit).
 */
import * as crypto from "node:crypto";
import { open, rename, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ProviderName } from "../providers/provider.js";
import { crc32Hex } from "../util/crc32.js";
import { createFileAppender, type FileAppender } from "../util/file-appender.js";

export type JournalRecord =
  | { t: "open"; session: string; task: string; expiresAt: number; sandbox?: { dir: string; tmp: boolean } }
  | { t: "lease"; session: string; lease: string; provider: ProviderName; fingerprint: string; expiresAt: number | null; handle?: string }
  | { t: "lease-end"; lease: string; outcome: string }
  | { t: "close"; session: string };

export interface Journal {
  /** For records that guard a clean-up (a revocable lease, sandbox files): written and fsynced. */
  append(...records: JournalRecord[]): Promise<void>;
  /**
   * For records whose loss in an OS crash costs at most a redundant, idempotent clean-up: written
   * within this turn of the event loop, not fsynced. A failed write goes to `onError`.
   */
  appendUnsynced(...records: JournalRecord[]): void;
  /** Calls back once every record appended so far is in the file (or its loss reported). */
  afterWrite(callback: () => void): void;
  /** Replaces the whole journal with `records`, atomically. Only before the first append (recovery). */
  rewrite(records: JournalRecord[]): Promise<void>;
  close(): Promise<void>;
}

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

export async function openJournal(
  stateDir: string,
  onError: (error: NodeJS.ErrnoException) => void = () => undefined,
): Promise<{ journal: Journal; records: JournalRecord[]; torn: boolean }> {
  const path = join(stateDir, "journal.jsonl");
  let handle: FileHandle = await open(path, "a+", 0o600);
  const { records, goodBytes, torn } = parseJournal(await handle.readFile("utf8"));
  if (torn) {
    await handle.truncate(goodBytes);
    await handle.sync();
  }
  let appender: FileAppender<JournalRecord> = createFileAppender(handle.fd, onError, encodeLine);
  const syncs = groupCommit(() => handle.datasync());

  const journal: Journal = {
    async append(...recs) {
      for (const record of recs) appender.add(record);
      appender.flush();
      await syncs.request();
    },
    appendUnsynced(...recs) {
      for (const record of recs) appender.add(record);
    },
    afterWrite: (callback) => appender.afterWrite(callback),
    async rewrite(recs) {
      appender.flush();
      await syncs.idle();
      const tmp = `${path}.${process.pid}.tmp`;
      const out = await open(tmp, "w", 0o600);
      try {
        await out.writeFile(recs.map((record) => encodeLine([record])).join(""));
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(tmp, path);
      await handle.close();
      handle = await open(path, "a+", 0o600);
      appender = createFileAppender(handle.fd, onError, encodeLine);
      const dir = await open(stateDir, "r");
      await dir.sync().finally(() => dir.close());
    },
    async close() {
      appender.flush();
      await syncs.idle();
      await handle.close();
    },
  };
  return { journal, records, torn };
}

/**
 * Coalesces fsyncs: a request made while one runs is served by the next one, which starts when
 * it ends, so every request is covered by an fsync that began after its write.
 */
function groupCommit(sync: () => Promise<void>): { request(): Promise<void>; idle(): Promise<void> } {
  let running: Promise<void> | null = null;
  let next: { promise: Promise<void>; start: () => void } | null = null;

  const settle = () => {
    running = null;
    if (next) {
      const queued = next;
      next = null;
      queued.start();
    }
  };
  const run = (): Promise<void> => {
    const current = sync();
    // `running` never rejects: the failure goes to the requesters, through `current`.
    running = current.then(settle, settle);
    return current;
  };

  return {
    request() {
      if (!running) return run();
      if (!next) {
        let start!: () => void;
        const promise = new Promise<void>((resolve, reject) => {
          start = () => run().then(resolve, reject);
        });
        next = { promise, start };
      }
      return next.promise;
    },
    async idle() {
      while (running) await running;
    },
  };
}
