import { createHash } from "node:crypto";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeLine, openJournal, parseJournal, type JournalRecord } from "../../src/sessions/journal.js";
import { tempDir } from "../helpers/tmp.js";

let dir: { path: string; cleanup: () => void };
beforeEach(() => (dir = tempDir("broker-journal-")));
afterEach(() => dir.cleanup());

const file = () => join(dir.path, "journal.jsonl");
const onDisk = () => parseJournal(readFileSync(file(), "utf8"));
const lines = () => readFileSync(file(), "utf8").split("\n").filter(Boolean);
const open = (session: string): JournalRecord => ({ t: "open", session, task: "t", expiresAt: 1 });
const close = (session: string): JournalRecord => ({ t: "close", session });
const lease = (session: string): JournalRecord => ({ t: "lease", session, lease: `l-${session}`, provider: "github", fingerprint: "abcd1234", expiresAt: 2, handle: "sealed" });

describe("the journal", () => {
  it("writes an unsynced record within the turn, and a synced one at once with everything queued before it, in order", async () => {
    const { journal } = await openJournal(dir.path);
    journal.appendUnsynced(open("a"));
    journal.appendUnsynced(open("b"));
    const synced = journal.append(lease("a"));
    // The fsync is still to come, but the write is made: the records are in the file, in order.
    expect(onDisk().records).toEqual([open("a"), open("b"), lease("a")]);
    await synced;
    journal.appendUnsynced(close("b"));
    await nextTurn();
    expect(onDisk()).toMatchObject({ records: [open("a"), open("b"), lease("a"), close("b")], torn: false });
    await journal.close();
  });

  it("serves concurrent synced appends (group commit) and reopens with every record", async () => {
    const first = await openJournal(dir.path);
    const sessions = Array.from({ length: 50 }, (_, i) => `s${i}`);
    await Promise.all(sessions.map((s) => first.journal.append(open(s), lease(s))));
    for (const s of sessions) first.journal.appendUnsynced(close(s));
    await first.journal.close();
    const again = await openJournal(dir.path);
    expect(again.torn).toBe(false);
    expect(again.records).toHaveLength(150);
    expect(again.records.filter((r) => r.t === "close").map((r) => r.session)).toEqual(sessions);
    await again.journal.close();
  });

  it("keeps appending after a rewrite (recovery's compaction)", async () => {
    const { journal } = await openJournal(dir.path);
    journal.appendUnsynced(open("old"));
    await journal.rewrite([lease("kept")]);
    await journal.append(open("new"));
    expect(onDisk().records).toEqual([lease("kept"), open("new")]);
    await journal.close();
  });

  it("writes the records of one turn as one checksummed line, and reads them back one by one", async () => {
    const { journal } = await openJournal(dir.path);
    journal.appendUnsynced(open("a"), lease("a"));
    journal.appendUnsynced(close("b"));
    await nextTurn();
    journal.appendUnsynced(close("a"));
    await journal.close();
    expect(lines()).toHaveLength(2);
    expect(lines()[0]).toMatch(/^[0-9a-f]{8} \[\{"t":"open"/);
    expect(onDisk()).toEqual({ records: [open("a"), lease("a"), close("b"), close("a")], goodBytes: readFileSync(file()).length, torn: false });
  });

  it("cuts the journal before a line whose checksum fails, batch and all", () => {
    const good = encodeLine([open("a")]);
    const batch = encodeLine([open("b"), lease("b"), close("b")]);
    writeFileSync(file(), good + batch.replace('"task":"t"', '"task":"x"'));
    expect(onDisk()).toEqual({ records: [open("a")], goodBytes: Buffer.byteLength(good), torn: true });
  });

  it("still reads lines an earlier version wrote, checksummed with SHA-256", async () => {
    const legacy = (record: JournalRecord) => {
      const json = JSON.stringify(record);
      return `${createHash("sha256").update(json).digest("hex").slice(0, 8)} ${json}\n`;
    };
    writeFileSync(file(), legacy(open("old")) + legacy(lease("old")));
    const { journal, records, torn } = await openJournal(dir.path);
    expect({ records, torn }).toEqual({ records: [open("old"), lease("old")], torn: false });
    await journal.append(close("old"));
    await journal.close();
    expect(onDisk().records).toEqual([open("old"), lease("old"), close("old")]);
    appendFileSync(file(), "0badc0de " + JSON.stringify(open("torn")) + "\n");
    expect(onDisk().torn).toBe(true);
  });
});
