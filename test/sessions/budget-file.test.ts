/** budget.jsonl: authenticated lines, forged ones skipped, opened safely, kept compact. */
import { linkSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeBudgetLine, openBudgetFile } from "../../src/sessions/budget-file.js";
import { WINDOW_MS, type BudgetEvent } from "../../src/sessions/budget-window.js";
import { journalMac } from "../../src/sessions/journal-mac.js";
import { tempDir } from "../helpers/tmp.js";

let dir: { path: string; cleanup: () => void };
beforeEach(() => (dir = tempDir("broker-budget-")));
afterEach(() => dir.cleanup());

const mac = journalMac(Buffer.alloc(32, 7));
const other = journalMac(Buffer.alloc(32, 8));
const file = () => join(dir.path, "budget.jsonl");
const NOW = 100 * WINDOW_MS;
const event = (id: number, t = NOW - 1000): BudgetEvent => ({ t, task: "deploy", kind: "session", id: id.toString(16).padStart(16, "0") });
const open = (now = NOW) => openBudgetFile(dir.path, mac, () => now, () => []);

describe("the budget file", () => {
  it("reads back what it appended, 0600", () => {
    const first = open();
    first.file.append(event(1));
    first.file.append(event(2));
    first.file.close();
    expect(statSync(file()).mode & 0o777).toBe(0o600);
    expect(open().events.map((e) => e.id)).toEqual([event(1).id, event(2).id]);
  });

  it("skips lines without a valid MAC (forged, another key's, a journal's), counts a copied line once, and drops what left the hour", () => {
    const forged = JSON.stringify(event(3));
    writeFileSync(
      file(),
      [
        encodeBudgetLine(event(1), mac),
        `${"0".repeat(64)} ${forged}\n`,
        `${forged}\n`,
        encodeBudgetLine(event(4), other),
        `${mac.sign(forged)} ${forged}\n`, // the journal's MAC of the same JSON: another domain
        encodeBudgetLine(event(1), mac), // a copy of a real line
        encodeBudgetLine(event(5, NOW - WINDOW_MS), mac), // left the window
        encodeBudgetLine({ ...event(6), task: "Bad Name" }, mac),
        encodeBudgetLine(event(7), mac).slice(0, 50), // torn
      ].join(""),
      { mode: 0o600 },
    );
    const { events, rejected, file: f } = open();
    f.close();
    expect(events.map((e) => e.id)).toEqual([event(1).id]);
    expect(rejected).toBe(6);
    // Rewritten with only what counts.
    expect(readFileSync(file(), "utf8")).toBe(encodeBudgetLine(event(1), mac));
  });

  it("counts an event stamped in the future (a clock stepped back) as of now, not for longer", () => {
    writeFileSync(file(), encodeBudgetLine(event(1, NOW + 5 * WINDOW_MS), mac), { mode: 0o600 });
    const { events, file: f } = open();
    f.close();
    expect(events[0]?.t).toBe(NOW);
  });

  it("refuses a symlink and a hard link in its place", () => {
    writeFileSync(join(dir.path, "victim"), "x", { mode: 0o600 });
    symlinkSync(join(dir.path, "victim"), file());
    expect(() => open()).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_PATH" }));
    dir.cleanup();
    dir = tempDir("broker-budget-");
    writeFileSync(join(dir.path, "victim"), "x", { mode: 0o600 });
    linkSync(join(dir.path, "victim"), file());
    expect(() => open()).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_PATH" }));
    expect(readFileSync(join(dir.path, "victim"), "utf8")).toBe("x");
  });

  it("compacts to the live events once it has grown past 4096 lines", () => {
    const live = [event(1)];
    const { file: f } = openBudgetFile(dir.path, mac, () => NOW, () => live);
    for (let i = 0; i < 4095; i++) f.append(event(100 + i));
    expect(readFileSync(file(), "utf8").split("\n").length - 1).toBe(4095);
    f.append(event(99));
    expect(readFileSync(file(), "utf8")).toBe(encodeBudgetLine(event(1), mac));
    f.append(event(2));
    f.close();
    expect(open().events.map((e) => e.id)).toEqual([event(1).id, event(2).id]);
  });
});
