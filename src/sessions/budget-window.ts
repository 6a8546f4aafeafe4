/**
 * The sliding hour behind `budget:`: per task and kind, the times of the events counted in the
 * last hour, oldest first. Pure and clock-free (every call is given `now`), so tests drive it with
 * a fake clock; sessions/budget.ts decides what counts and what is refused.
 */

export const WINDOW_MS = 60 * 60 * 1000;

/** `session`: a session opened; `mint`: one credential minted (at open, or by a refresh). */
export type BudgetKind = "session" | "mint";

export interface BudgetEvent {
  t: number;
  task: string;
  kind: BudgetKind;
  /** Random, so that a line copied over and over in the file still counts once. */
  id: string;
}

export interface BudgetWindow {
  add(event: BudgetEvent): void;
  /** Events of `task` and `kind` still in the window at `now`. */
  count(task: string, kind: BudgetKind, now: number): number;
  /**
   * How long until `need` more events fit under `limit`: 0 when they fit now. When `need` exceeds
   * `limit` nothing ever fits; the answer is then a whole window, which is what a retry could hope for.
   */
  waitMs(task: string, kind: BudgetKind, limit: number, need: number, now: number): number;
  /** Every event still in the window, oldest first per task and kind (what a compacted file keeps). */
  live(now: number): BudgetEvent[];
}

export function createBudgetWindow(): BudgetWindow {
  const times = new Map<string, { task: string; kind: BudgetKind; at: Array<{ t: number; id: string }> }>();
  const keyOf = (task: string, kind: BudgetKind) => `${kind} ${task}`;

  /** Drops what has left the window; an empty list goes too, so idle tasks cost nothing. */
  function current(task: string, kind: BudgetKind, now: number): Array<{ t: number; id: string }> {
    const key = keyOf(task, kind);
    const entry = times.get(key);
    if (!entry) return [];
    let gone = 0;
    while (gone < entry.at.length && entry.at[gone]!.t <= now - WINDOW_MS) gone++;
    if (gone > 0) entry.at.splice(0, gone);
    if (entry.at.length === 0) times.delete(key);
    return entry.at;
  }

  return {
    add({ t, task, kind, id }) {
      const key = keyOf(task, kind);
      let entry = times.get(key);
      if (!entry) times.set(key, (entry = { task, kind, at: [] }));
      // Kept sorted: a clock stepped back, or lines read from a file, may arrive out of order.
      let i = entry.at.length;
      while (i > 0 && entry.at[i - 1]!.t > t) i--;
      entry.at.splice(i, 0, { t, id });
    },
    count: (task, kind, now) => current(task, kind, now).length,
    waitMs(task, kind, limit, need, now) {
      const at = current(task, kind, now);
      const excess = at.length + need - limit;
      if (excess <= 0) return 0;
      if (excess > at.length) return WINDOW_MS;
      // Once the excess oldest events have left, the rest plus `need` fit.
      return Math.max(1, at[excess - 1]!.t + WINDOW_MS - now);
    },
    live(now) {
      const events: BudgetEvent[] = [];
      for (const { task, kind } of [...times.values()]) for (const { t, id } of current(task, kind, now)) events.push({ t, task, kind, id });
      return events;
    },
  };
}
