/**
 * The crash-recovery journal: `<state>/journal.jsonl`, append-only, in checksummed lines
 * (journal-format.ts), so a torn or corrupt tail is cut off at the last good line.
 *
 * Records go through a FileAppender (util/file-appender.ts): those of one turn of the event loop
 * share one write(2) and one line, encoded when written. `append` writes at once (with everything
 * queued before it, in order), then waits for an fdatasync; appends that arrive while one runs
 * share the next (group commit).
 *
 * The journal keeps in memory the records that still matter (LiveRecords). Once the file has grown
 * past COMPACT_AT_BYTES (and past four times its size after the last compaction) it is replaced,
 * atomically, by a file of only those, so a daemon that runs for months keeps a small journal.
 */
import { closeSync, constants, fdatasync, fstatSync, fsync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { promisify } from "node:util";
import { createFileAppender, type FileAppender } from "../util/file-appender.js";
import { groupCommit } from "../util/group-commit.js";
import { checkPrivateFile, openPrivateFile } from "../util/private-dir.js";
import { encodeLine, parseJournal, type JournalRecord, type Rejected } from "./journal-format.js";
import type { JournalMac } from "./journal-mac.js";
import { LiveRecords } from "./live-records.js";

export { encodeLine, parseJournal, type JournalRecord, type Rejected } from "./journal-format.js";

/** A journal past this size is compacted; at ~400 bytes a session, that is some 40,000 sessions. */
export const COMPACT_AT_BYTES = 16 * 1024 * 1024;
/** Records per line of a compacted file: one JSON and one CRC per line write 10,000 sessions' records about 4× faster than one a line. */
const LINE_RECORDS = 256;
const datasync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);

/** A daemon killed while compacting leaves its temporary file behind; the journal itself is whole. */
function removeLeftoverTemps(stateDir: string): void {
  for (const name of readdirSync(stateDir)) {
    if (!/^journal\.jsonl\.\d+\.tmp$/.test(name)) continue;
    try {
      rmSync(join(stateDir, name), { force: true });
    } catch {
      // Not a file (a directory by that name): compaction reports it when it tries.
    }
  }
}

/** Writes records to a descriptor, LINE_RECORDS to a line. */
function writeAll(fd: number, records: JournalRecord[], mac: JournalMac): void {
  let text = "";
  for (let i = 0; i < records.length; i += LINE_RECORDS) text += encodeLine(records.slice(i, i + LINE_RECORDS), mac);
  const bytes = Buffer.from(text);
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
}

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
  /** Replaces the whole journal with `records`, atomically, before the daemon serves (recovery keeps the leases still to revoke). */
  rewrite(records: JournalRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens `<stateDir>/journal.jsonl` (never through a symlink, never a file with another name) and
 * reads it: `records` are the authenticated ones; `rejected` counts whole lines that were not.
 */
export async function openJournal(
  stateDir: string,
  mac: JournalMac,
  onError: (error: NodeJS.ErrnoException) => void = () => undefined,
  compactAtBytes = COMPACT_AT_BYTES,
): Promise<{ journal: Journal; records: JournalRecord[]; torn: boolean; rejected: Rejected }> {
  const path = join(stateDir, "journal.jsonl");
  const encode = (records: JournalRecord[]) => encodeLine(records, mac);
  let fd = openPrivateFile(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, "the journal");
  removeLeftoverTemps(stateDir);
  const { records, goodBytes, torn, rejected } = parseJournal(readFileSync(fd, "utf8"), mac);
  if (torn) {
    ftruncateSync(fd, goodBytes);
    fsyncSync(fd);
  }
  let live = new LiveRecords(records);
  let appender: FileAppender<JournalRecord> = createFileAppender(fd, onError, encode);
  const syncs = groupCommit(() => datasync(fd));
  let closed = false;

  const tmp = `${path}.${process.pid}.tmp`;
  // Emptied only once fstat shows it is a lone file of ours: O_TRUNC would empty a planted hard link's target.
  const openTemp = () => {
    const next = openSync(tmp, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      checkPrivateFile(fstatSync(next), tmp, "the journal's temporary file");
      ftruncateSync(next, 0);
    } catch (error) {
      closeSync(next);
      throw error;
    }
    return next;
  };
  const flushQuietly = () => {
    try {
      appender.flush();
    } catch (error) {
      onError(error as NodeJS.ErrnoException); // What it held is live, so the new file has it.
    }
  };
  function discardTemp(next: number): void {
    closeSync(next);
    rmSync(tmp, { force: true });
  }

  /**
   * Makes the temporary file, which holds every live record, the journal: fsynced, then renamed
   * over the old one, so a crash leaves one or the other, whole. Appends go to it from now on.
   * Throws only before the rename, when the old file is still the journal.
   */
  function install(next: number): void {
    fsyncSync(next);
    renameSync(tmp, path);
    const old = fd;
    fd = next;
    appender = createFileAppender(fd, onError, encode);
    // An fsync of the old file may still be running: closing it now could give its number to another file.
    void syncs.idle().then(() => closeSync(old)).catch(() => undefined);
    try {
      const dir = openSync(stateDir, "r");
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch (error) {
      onError(error as NodeJS.ErrnoException); // Both files hold every live record: either name is whole.
    }
  }

  /** Recovery's rewrite, before the daemon serves: at once. */
  function replaceWith(recs: JournalRecord[]): void {
    flushQuietly();
    const next = openTemp();
    try {
      writeAll(next, recs, mac);
      install(next);
    } catch (error) {
      discardTemp(next);
      throw error;
    }
  }

  /**
   * Compaction while serving: the live records of now are written a few lines per turn and
   * fsynced off the event loop while appends go on to the old file and are kept aside (`since`);
   * then, in one turn, those are added and the new file installed. Live then plus what came
   * since, in order, is live now. Written all at once, 10,000 live sessions would hold the daemon
   * for 20-40 ms.
   */
  let since: JournalRecord[] | null = null;
  async function compact(): Promise<void> {
    await nextTurn();
    const next = openTemp();
    const snapshot = live.records();
    since = [];
    try {
      for (let i = 0; i < snapshot.length && !closed; i += LINE_RECORDS) {
        writeAll(next, snapshot.slice(i, i + LINE_RECORDS), mac);
        await nextTurn();
      }
      await fsyncAsync(next);
      if (!closed) {
        flushQuietly();
        writeAll(next, since, mac);
        install(next);
        return;
      }
    } catch (error) {
      discardTemp(next);
      throw error;
    } finally {
      since = null;
    }
    discardTemp(next); // Closed meanwhile: the old file, complete, stays the journal.
  }

  let compactAt = Math.max(compactAtBytes, 4 * appender.bytes());
  let compacting: Promise<void> | null = null;
  function compactIfLarge(): void {
    if (compacting || closed || appender.bytes() < compactAt) return;
    compacting = compact()
      .catch((error: unknown) => onError(error as NodeJS.ErrnoException)) // The old file stays, whole; tried again once it has grown fourfold.
      .finally(() => {
        compacting = null;
        compactAt = Math.max(compactAtBytes, 4 * appender.bytes());
      });
  }

  function add(recs: JournalRecord[]): void {
    for (const record of recs) {
      live.add(record);
      appender.add(record);
    }
    if (since) since.push(...recs);
    compactIfLarge();
  }

  const journal: Journal = {
    async append(...recs) {
      add(recs);
      appender.flush();
      await syncs.request();
    },
    appendUnsynced(...recs) {
      add(recs);
    },
    afterWrite: (callback) => appender.afterWrite(callback),
    async rewrite(recs) {
      live = new LiveRecords(recs);
      replaceWith(recs);
      compactAt = Math.max(compactAtBytes, 4 * appender.bytes());
    },
    async close() {
      closed = true;
      await compacting;
      appender.flush();
      await syncs.idle();
      closeSync(fd);
    },
  };
  return { journal, records, torn, rejected };
}
