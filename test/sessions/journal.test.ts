import { createHash } from "node:crypto";
import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeLine, openJournal, parseJournal, type JournalRecord } from "../../src/sessions/journal.js";
import { journalMac } from "../../src/sessions/journal-mac.js";
import { LiveRecords } from "../../src/sessions/live-records.js";
import { crc32Hex } from "../../src/util/crc32.js";
import { tempDir } from "../helpers/tmp.js";

let dir: { path: string; cleanup: () => void };
beforeEach(() => (dir = tempDir("broker-journal-")));
afterEach(() => dir.cleanup());

const mac = journalMac(Buffer.alloc(32, 7));
const file = () => join(dir.path, "journal.jsonl");
const onDisk = () => parseJournal(readFileSync(file(), "utf8"), mac);
const lines = () => readFileSync(file(), "utf8").split("\n").filter(Boolean);
const open = (session: string): JournalRecord => ({ t: "open", session, task: "t", expiresAt: 1 });
const close = (session: string): JournalRecord => ({ t: "close", session });
const lease = (session: string): JournalRecord => ({ t: "lease", session, lease: `l-${session}`, provider: "github", fingerprint: "abcd1234", expiresAt: 2, handle: "sealed" });

describe("the journal", () => {
  it("writes an unsynced record within the turn, and a synced one at once with everything queued before it, in order", async () => {
    const { journal } = await openJournal(dir.path, mac);
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
    const first = await openJournal(dir.path, mac);
    const sessions = Array.from({ length: 50 }, (_, i) => `s${i}`);
    await Promise.all(sessions.map((s) => first.journal.append(open(s), lease(s))));
    for (const s of sessions) first.journal.appendUnsynced(close(s));
    await first.journal.close();
    const again = await openJournal(dir.path, mac);
    expect(again.torn).toBe(false);
    expect(again.records).toHaveLength(150);
    expect(again.records.filter((r) => r.t === "close").map((r) => r.session)).toEqual(sessions);
    await again.journal.close();
  });

  it("keeps appending after a rewrite (recovery's compaction)", async () => {
    const { journal } = await openJournal(dir.path, mac);
    journal.appendUnsynced(open("old"));
    await journal.rewrite([lease("kept")]);
    await journal.append(open("new"));
    expect(onDisk().records).toEqual([lease("kept"), open("new")]);
    await journal.close();
  });

  it("writes the records of one turn as one checksummed line, and reads them back one by one", async () => {
    const { journal } = await openJournal(dir.path, mac);
    journal.appendUnsynced(open("a"), lease("a"));
    journal.appendUnsynced(close("b"));
    await nextTurn();
    journal.appendUnsynced(close("a"));
    await journal.close();
    expect(lines()).toHaveLength(2);
    expect(lines()[0]).toMatch(/^[0-9a-f]{8} [0-9a-f]{64} \[\{"t":"open"/);
    expect(onDisk()).toEqual({ records: [open("a"), lease("a"), close("b"), close("a")], goodBytes: readFileSync(file()).length, torn: false, rejected: { lines: 0, first: null } });
  });

  it("cuts the journal before a line whose checksum fails, batch and all", () => {
    const good = encodeLine([open("a")], mac);
    const batch = encodeLine([open("b"), lease("b"), close("b")], mac);
    writeFileSync(file(), good + batch.replace('"task":"t"', '"task":"x"'));
    expect(onDisk()).toEqual({ records: [open("a")], goodBytes: Buffer.byteLength(good), torn: true, rejected: { lines: 0, first: null } });
  });

  it("skips whole lines its key did not sign (forged, or of an earlier version) and reads on", async () => {
    const crcLine = (body: string) => `${crc32Hex(body)} ${body}\n`;
    const forged = JSON.stringify({ t: "open", session: "forged", task: "t", expiresAt: 1, sandbox: { dir: "/home/victim", tmp: true } });
    const legacy = (record: JournalRecord) => {
      const json = JSON.stringify(record);
      return `${createHash("sha256").update(json).digest("hex").slice(0, 8)} ${json}\n`;
    };
    writeFileSync(
      file(),
      encodeLine([open("a")], mac) +
        crcLine(forged) + // an earlier version's line, or a forger's: a good CRC, no MAC
        crcLine(`${"0".repeat(64)} ${forged}`) + // a MAC made up
        encodeLine([open("b")], journalMac(Buffer.alloc(32, 8))) + // another key's
        legacy(open("old")) +
        encodeLine([close("a")], mac),
    );
    const { journal, records, torn, rejected } = await openJournal(dir.path, mac);
    expect({ records, torn, rejected }).toEqual({ records: [open("a"), close("a")], torn: false, rejected: { lines: 4, first: 2 } });
    await journal.close();
  });

  it("refuses a journal that is a symlink, and leaves its target whole", async () => {
    const victim = join(dir.path, "victim");
    writeFileSync(victim, "someone's precious file, no journal line in it");
    symlinkSync(victim, file());
    await expect(openJournal(dir.path, mac)).rejects.toMatchObject({ code: "ERR_UNSAFE_PATH" });
    expect(readFileSync(victim, "utf8")).toBe("someone's precious file, no journal line in it");
  });

  it("refuses a journal that is a hard link to another file, and leaves that file whole", async () => {
    const victim = join(dir.path, "victim");
    writeFileSync(victim, "precious", { mode: 0o600 });
    linkSync(victim, file());
    await expect(openJournal(dir.path, mac)).rejects.toMatchObject({ code: "ERR_UNSAFE_PATH" });
    expect(readFileSync(victim, "utf8")).toBe("precious");
  });

  describe("compaction", () => {
    const LIMIT = 8 * 1024;
    const leaseEnd = (session: string): JournalRecord => ({ t: "lease-end", lease: `l-${session}`, outcome: "revoked" });

    /** 200 sessions, one per turn: every 25th stays open; every 11th leaves its lease waiting for revocation. */
    async function churn(journal: Awaited<ReturnType<typeof openJournal>>["journal"]): Promise<{ live: JournalRecord[]; written: JournalRecord[] }> {
      const live: JournalRecord[] = [];
      const waiting: JournalRecord[] = [];
      const written: JournalRecord[] = [];
      for (let i = 0; i < 200; i++) {
        const s = `s${i}`;
        await journal.append(open(s), lease(s));
        written.push(open(s), lease(s));
        if (i % 25 === 0) live.push(open(s), lease(s));
        else if (i % 11 === 0) {
          journal.appendUnsynced(close(s));
          written.push(close(s));
          waiting.push(lease(s));
        } else {
          journal.appendUnsynced(leaseEnd(s), close(s));
          written.push(leaseEnd(s), close(s));
        }
        await nextTurn();
      }
      const leases = [...live.filter((r) => r.t === "lease"), ...waiting];
      return { live: [...live.filter((r) => r.t === "open"), ...leases], written };
    }

    it("replaces a grown journal with its live records only, and goes on appending to the new file", async () => {
      const errors: unknown[] = [];
      const { journal } = await openJournal(dir.path, mac, (e) => errors.push(e), LIMIT);
      const { live, written } = await churn(journal);
      await nextTurn();
      // After a compaction the file holds the live records, and the next one comes once it passes
      // the limit or four times that size, plus what a few turns add while it runs. 200 sessions wrote far more.
      const bytesOf = (records: JournalRecord[]) => Buffer.byteLength(records.map((r) => encodeLine([r], mac)).join(""));
      const bound = Math.max(LIMIT, 4 * bytesOf(live)) + 4096;
      expect(statSync(file()).size).toBeLessThan(bound);
      expect(bytesOf(written)).toBeGreaterThan(2 * bound);
      journal.appendUnsynced(open("after"));
      await journal.close();
      const again = await openJournal(dir.path, mac);
      // Whatever compactions kept, the live set a restart recovers is exactly the one that was live.
      const recovered = new LiveRecords(again.records).records();
      expect(recovered).toEqual(expect.arrayContaining([...live, open("after")]));
      expect(recovered).toHaveLength(live.length + 1);
      expect({ torn: again.torn, errors, leftovers: readdirSync(dir.path) }).toEqual({ torn: false, errors: [], leftovers: ["journal.jsonl"] });
      await again.journal.close();
    });

    it("keeps what is appended while it compacts, and leaves no temporary file behind", async () => {
      const errors: unknown[] = [];
      writeFileSync(join(dir.path, "journal.jsonl.4242.tmp"), "left by a daemon killed while compacting");
      const { journal } = await openJournal(dir.path, mac, (e) => errors.push(e), LIMIT);
      // 2,000 ended sessions, then 400 live ones: more lines than one turn writes while compacting.
      for (let i = 0; i < 2000; i++) journal.appendUnsynced(open(`d${i}`), close(`d${i}`));
      for (let i = 0; i < 400; i++) journal.appendUnsynced(open(`m${i}`), lease(`m${i}`));
      await nextTurn();
      const full = statSync(file()).size;
      journal.appendUnsynced(open("trigger"));
      // Sessions end and begin on every turn while the compaction runs.
      for (let k = 0; k < 10; k++) {
        journal.appendUnsynced(leaseEnd(`m${k}`), close(`m${k}`), open(`n${k}`));
        await nextTurn();
      }
      for (const deadline = Date.now() + 5000; Date.now() < deadline && statSync(file()).size > full / 2; ) await sleep(5);
      expect(statSync(file()).size).toBeLessThan(full / 2);
      await journal.close();
      const again = await openJournal(dir.path, mac);
      const expected = new LiveRecords([...Array.from({ length: 390 }, (_, i) => [open(`m${i + 10}`), lease(`m${i + 10}`)]).flat(), open("trigger"), ...Array.from({ length: 10 }, (_, k) => open(`n${k}`))]);
      const recovered = new LiveRecords(again.records);
      expect([...recovered.sessions.keys()].sort()).toEqual([...expected.sessions.keys()].sort());
      expect([...recovered.leases.keys()].sort()).toEqual([...expected.leases.keys()].sort());
      expect({ errors, files: readdirSync(dir.path) }).toEqual({ errors: [], files: ["journal.jsonl"] });
      await again.journal.close();
    });

    it("keeps the old journal whole when the new one cannot be written, and never follows a link", async () => {
      const errors: NodeJS.ErrnoException[] = [];
      const elsewhere = join(dir.path, "elsewhere");
      writeFileSync(elsewhere, "untouched");
      const { journal } = await openJournal(dir.path, mac, (e) => errors.push(e), LIMIT);
      symlinkSync(elsewhere, join(dir.path, `journal.jsonl.${process.pid}.tmp`));
      const all: JournalRecord[] = [];
      for (let i = 0; i < 100; i++) {
        await journal.append(open(`k${i}`), lease(`k${i}`));
        journal.appendUnsynced(close(`k${i}`));
        all.push(open(`k${i}`), lease(`k${i}`), close(`k${i}`));
        await nextTurn();
      }
      await journal.close();
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((e) => e.code === "ELOOP")).toBe(true);
      expect(readFileSync(elsewhere, "utf8")).toBe("untouched");
      expect(onDisk()).toMatchObject({ records: all, torn: false });
    });

    it("tries again only once the journal has grown fourfold after a failure", async () => {
      const errors: unknown[] = [];
      const { journal } = await openJournal(dir.path, mac, (e) => errors.push(e), LIMIT);
      mkdirSync(join(dir.path, `journal.jsonl.${process.pid}.tmp`));
      for (let i = 0; i < 120; i++) {
        journal.appendUnsynced(open(`d${i}`), close(`d${i}`));
        await nextTurn();
      }
      await journal.close();
      // About 12 KB written: past the limit once, not yet past four times what the file then held.
      expect(statSync(file()).size).toBeGreaterThan(LIMIT);
      expect(errors).toHaveLength(1);
    });
  });
});
