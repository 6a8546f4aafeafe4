import { closeSync, openSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openAuditLog } from "../../src/audit/audit-log.js";
import { createFileAppender } from "../../src/util/file-appender.js";
import { tempDir } from "../helpers/tmp.js";

let dir: { path: string; cleanup: () => void };
beforeEach(() => (dir = tempDir("broker-appender-")));
afterEach(() => dir.cleanup());

describe("createFileAppender", () => {
  it("gathers the lines of one turn and writes them, in order, before the loop next waits", async () => {
    const path = join(dir.path, "log");
    const fd = openSync(path, "a");
    const errors: unknown[] = [];
    const appender = createFileAppender(fd, (e) => errors.push(e));
    const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join("");
    for (let i = 0; i < 15; i++) appender.add(`line ${i}\n`);
    // Queued, not yet written: the turn's lines go out together.
    expect(readFileSync(path, "utf8")).toBe("");
    // ...or, once 16 are queued, right after the code that queued them.
    appender.add("line 15\n");
    expect(readFileSync(path, "utf8")).toBe("");
    await new Promise((resolve) => process.nextTick(resolve));
    expect(readFileSync(path, "utf8")).toBe(lines(0, 16));
    for (let i = 16; i < 100; i++) appender.add(`line ${i}\n`);
    await nextTurn();
    expect(readFileSync(path, "utf8")).toBe(lines(0, 100));
    appender.add("last\n");
    appender.flush();
    expect(readFileSync(path, "utf8").endsWith("line 99\nlast\n")).toBe(true);
    await nextTurn();
    expect(readFileSync(path, "utf8").match(/last/g)).toHaveLength(1);
    expect(errors).toEqual([]);
    closeSync(fd);
  });

  it("calls afterWrite back once the queued lines are in the file, and at once when nothing is queued", async () => {
    const path = join(dir.path, "log");
    const fd = openSync(path, "a");
    const appender = createFileAppender(fd, () => undefined);
    let calledAtOnce = false;
    appender.afterWrite(() => (calledAtOnce = true));
    expect(calledAtOnce).toBe(true);
    appender.add("one\n");
    let seen: string | null = null;
    const done = new Promise<void>((resolve) =>
      appender.afterWrite(() => {
        seen = readFileSync(path, "utf8");
        resolve();
      }),
    );
    expect(seen).toBe(null);
    expect(readFileSync(path, "utf8")).toBe("");
    await done;
    expect(seen).toBe("one\n");
    closeSync(fd);
  });

  it("reports a failed write it scheduled, with the lines lost, and throws from flush", async () => {
    const fd = openSync("/dev/full", "a");
    const errors: Array<[string | undefined, number]> = [];
    const appender = createFileAppender(fd, (e, lost) => errors.push([e.code, lost]));
    appender.add("a\n");
    appender.add("b\n");
    await nextTurn();
    expect(errors).toEqual([["ENOSPC", 2]]);
    appender.add("c\n");
    expect(() => appender.flush()).toThrow(/ENOSPC/);
    closeSync(fd);
  });
});

describe("openAuditLog", () => {
  it("goes on after a failed write and reports the lines lost so far", async () => {
    const reports: Array<[string, number]> = [];
    const audit = openAuditLog(dir.path, { onError: (code, lost) => reports.push([code, lost]), openFile: () => openSync("/dev/full", "a") });
    audit.write({ event: "deny", task: "t", session: null, outcome: "unknown-task" });
    audit.write({ event: "deny", task: "t", session: null, outcome: "unknown-task" });
    await nextTurn();
    audit.write({ event: "deny", task: "t", session: null, outcome: "unknown-task" });
    await nextTurn();
    expect(reports).toEqual([
      ["ENOSPC", 2],
      ["ENOSPC", 3],
    ]);
    await audit.close(); // nothing queued: closing does not fail
  });

  it("refuses an audit log that is a symlink, and leaves its target whole", () => {
    const victim = join(dir.path, "victim");
    writeFileSync(victim, "precious");
    symlinkSync(victim, join(dir.path, "audit.jsonl"));
    expect(() => openAuditLog(dir.path)).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_PATH" }));
    expect(readFileSync(victim, "utf8")).toBe("precious");
  });

  it("writes `time` first, then the entry's fields as given, one JSON object per line", async () => {
    const audit = openAuditLog(dir.path, { now: () => Date.parse("2026-01-02T03:04:05.000Z") });
    audit.write({ event: "mint", task: "report", session: "s1", outcome: "ok", provider: "env", credential: "env:A", skipped: undefined });
    await audit.close();
    const lines = readFileSync(join(dir.path, "audit.jsonl"), "utf8").split("\n");
    expect(lines).toEqual(['{"time":"2026-01-02T03:04:05.000Z","event":"mint","task":"report","session":"s1","outcome":"ok","provider":"env","credential":"env:A"}', ""]);
  });
});
