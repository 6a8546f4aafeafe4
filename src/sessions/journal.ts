/**
 * The crash-recovery journal: `<state>/journal.jsonl`, append-only. `append` fsyncs before the
 * caller goes on; `appendUnsynced` only writes (the record survives the daemon's death, not the
 * machine's, unless a later fsync covers it). Records that arrive together share one write and
 * at most one fsync. Each line is `<8 hex of SHA-256 of the JSON> <JSON>`, so a torn or corrupt
 * tail is found and cut off at the last good record instead of refusing to start.
 */
import { createHash } from "node:crypto";
import { open, rename, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { ProviderName } from "../providers/provider.js";

export type JournalRecord =
  | { t: "open"; session: string; task: string; expiresAt: number; sandbox?: { dir: string; tmp: boolean } }
  | { t: "lease"; session: string; lease: string; provider: ProviderName; fingerprint: string; expiresAt: number | null; handle?: string }
  | { t: "lease-end"; lease: string; outcome: string }
  | { t: "close"; session: string };

export interface Journal {
  /** For records that guard a clean-up (a revocable lease, sandbox files): written and fsynced. */
  append(...records: JournalRecord[]): Promise<void>;
  /** For records whose loss in an OS crash costs at most a redundant, idempotent clean-up: written, not fsynced. */
  appendUnsynced(...records: JournalRecord[]): Promise<void>;
  /** Replaces the whole journal with `records`, atomically. */
  rewrite(records: JournalRecord[]): Promise<void>;
  close(): Promise<void>;
}

const checksum = (json: string) => createHash("sha256").update(json).digest("hex").slice(0, 8);
const encode = (record: JournalRecord) => {
  const json = JSON.stringify(record);
  return `${checksum(json)} ${json}\n`;
};

/** Parses the journal text up to the last good record; `goodBytes` is where that record ends. */
export function parseJournal(text: string): { records: JournalRecord[]; goodBytes: number; torn: boolean } {
  const records: JournalRecord[] = [];
  let offset = 0;
  while (offset < text.length) {
    const end = text.indexOf("\n", offset);
    if (end === -1) break;
    const line = text.slice(offset, end);
    const json = line.slice(9);
    if (line[8] !== " " || checksum(json) !== line.slice(0, 8)) break;
    try {
      records.push(JSON.parse(json) as JournalRecord);
    } catch {
      break;
    }
    offset = end + 1;
  }
  return { records, goodBytes: Buffer.byteLength(text.slice(0, offset)), torn: offset < text.length };
}

export async function openJournal(stateDir: string): Promise<{ journal: Journal; records: JournalRecord[]; torn: boolean }> {
  const path = join(stateDir, "journal.jsonl");
  let handle: FileHandle = await open(path, "a+", 0o600);
  const { records, goodBytes, torn } = parseJournal(await handle.readFile("utf8"));
  if (torn) {
    await handle.truncate(goodBytes);
    await handle.sync();
  }

  let queue: string[] = [];
  let waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  let syncWanted = false;
  let flushing: Promise<void> | null = null;

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const lines = queue.join("");
      const batch = waiters;
      const sync = syncWanted;
      queue = [];
      waiters = [];
      syncWanted = false;
      try {
        await handle.write(lines);
        if (sync) await handle.datasync();
        for (const w of batch) w.resolve();
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    flushing = null;
  }

  function enqueue(recs: JournalRecord[], sync: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      queue.push(...recs.map(encode));
      waiters.push({ resolve, reject });
      syncWanted ||= sync;
      flushing ??= flush();
    });
  }

  const journal: Journal = {
    append: (...recs) => enqueue(recs, true),
    appendUnsynced: (...recs) => enqueue(recs, false),
    async rewrite(recs) {
      await flushing;
      const tmp = `${path}.${process.pid}.tmp`;
      const out = await open(tmp, "w", 0o600);
      try {
        await out.writeFile(recs.map(encode).join(""));
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(tmp, path);
      await handle.close();
      handle = await open(path, "a+", 0o600);
      const dir = await open(stateDir, "r");
      await dir.sync().finally(() => dir.close());
    },
    async close() {
      await flushing;
      await handle.close();
    },
  };
  return { journal, records, torn };
}
