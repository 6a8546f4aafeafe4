/**
 * `<state>/budget.jsonl`: the events budgets count, so that a restarted daemon (even one killed
 * with SIGKILL) still knows what its task did in the last hour. Append-only, one line an event:
 * `<HMAC-SHA256, 64 hex> <JSON {t, task, kind, id}>`, the MAC made with the journal key over
 * `budget <JSON>` (its own domain: no journal line can pass for a budget line, or the reverse).
 *
 * A line that fails its MAC, or is not an event, is skipped: whoever can write the file but not
 * read the store can add nothing that refuses a session. Lines repeating an `id` count once. On
 * open, and when it has grown well past what is live, the file is rewritten with only the events
 * still in the window (atomically: a temporary file, fsynced, renamed over it).
 */
import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TASK_NAME } from "../policy/types.js";
import { checkPrivateFile, openPrivateFile } from "../util/private-dir.js";
import { WINDOW_MS, type BudgetEvent } from "./budget-window.js";
import type { JournalMac } from "./journal-mac.js";

/** Rewritten once it holds this many lines and four times what was live at the last rewrite. */
const COMPACT_AT_LINES = 4096;
const EVENT_ID = /^[0-9a-f]{16}$/;

export interface BudgetFile {
  /** Written at once (one write(2)): the event is in the file before anything is minted for it. */
  append(event: BudgetEvent): void;
  close(): void;
}

const signed = (mac: Pick<JournalMac, "sign">, json: string) => mac.sign(`budget ${json}`);

export function encodeBudgetLine(event: BudgetEvent, mac: Pick<JournalMac, "sign">): string {
  const json = JSON.stringify({ t: event.t, task: event.task, kind: event.kind, id: event.id });
  return `${signed(mac, json)} ${json}\n`;
}

function asEvent(value: unknown): BudgetEvent | null {
  const e = value as Partial<BudgetEvent> | null;
  if (e === null || typeof e !== "object") return null;
  if (typeof e.t !== "number" || !Number.isFinite(e.t) || typeof e.task !== "string" || !TASK_NAME.test(e.task)) return null;
  if ((e.kind !== "session" && e.kind !== "mint") || typeof e.id !== "string" || !EVENT_ID.test(e.id)) return null;
  return { t: e.t, task: e.task, kind: e.kind, id: e.id };
}

/** The authenticated events of `text` still in the window at `now`; `rejected` counts lines that were not ours. */
export function parseBudgetFile(text: string, mac: Pick<JournalMac, "verify">, now: number): { events: BudgetEvent[]; rejected: number } {
  const events: BudgetEvent[] = [];
  const seen = new Set<string>();
  let rejected = 0;
  // A last line without its newline was torn by a crash mid-write: the MAC decides, like any other.
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const json = line.slice(65);
    let event: BudgetEvent | null = null;
    if (line[64] === " " && mac.verify(`budget ${json}`, line.slice(0, 64))) {
      try {
        event = asEvent(JSON.parse(json));
      } catch {
        event = null;
      }
    }
    if (!event) rejected += 1;
    else if (event.t > now - WINDOW_MS && !seen.has(event.id)) {
      seen.add(event.id);
      // A clock stepped back must not make an event count for longer than an hour from now.
      events.push({ ...event, t: Math.min(event.t, now) });
    }
  }
  return { events, rejected };
}

function writeText(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
}

/**
 * Opens (never through a symlink, never a file with another name, 0600) and reads the file,
 * then rewrites it with what is live. `live` gives the events still counted when compacting.
 */
export function openBudgetFile(
  stateDir: string,
  mac: JournalMac,
  now: () => number,
  live: () => BudgetEvent[],
  onError: (error: NodeJS.ErrnoException) => void = () => undefined,
): { file: BudgetFile; events: BudgetEvent[]; rejected: number } {
  const path = join(stateDir, "budget.jsonl");
  const tmp = `${path}.${process.pid}.tmp`;
  let fd = openPrivateFile(path, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT, "the budget file");
  // A daemon killed while compacting leaves its temporary file behind; the file itself is whole.
  for (const name of readdirSync(stateDir).filter((n) => /^budget\.jsonl\.\d+\.tmp$/.test(n))) {
    try {
      rmSync(join(stateDir, name), { force: true });
    } catch {
      // Not a file (a directory by that name): a rewrite reports it when it tries.
    }
  }
  const { events, rejected } = parseBudgetFile(readFileSync(fd, "utf8"), mac, now());
  let lines = 0;
  let compactAt = COMPACT_AT_LINES;

  function rewrite(keep: BudgetEvent[]): void {
    const next = openSync(tmp, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      // Emptied only once fstat shows it is a lone file of ours: O_TRUNC would empty a planted hard link's target.
      checkPrivateFile(fstatSync(next), tmp, "the budget file's temporary file");
      ftruncateSync(next, 0);
      writeText(next, keep.map((e) => encodeBudgetLine(e, mac)).join(""));
      fsyncSync(next);
      renameSync(tmp, path);
    } catch (error) {
      closeSync(next);
      rmSync(tmp, { force: true });
      throw error;
    }
    closeSync(fd);
    fd = next;
    lines = keep.length;
    compactAt = Math.max(COMPACT_AT_LINES, 4 * keep.length);
  }

  rewrite(events);
  return {
    events,
    rejected,
    file: {
      append(event) {
        try {
          writeText(fd, encodeBudgetLine(event, mac));
          lines += 1;
        } catch (error) {
          // The window in memory still counts it: this daemon keeps the budget; a restart may forget the event.
          onError(error as NodeJS.ErrnoException);
          return;
        }
        if (lines < compactAt) return;
        try {
          rewrite(live());
        } catch (error) {
          compactAt = 2 * lines; // The old file, whole, stays; tried again once it has doubled.
          onError(error as NodeJS.ErrnoException);
        }
      },
      close() {
        closeSync(fd);
      },
    },
  };
}
