/** The bench's output: one row per figure, printed as a table and written as JSON. */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname } from "node:path";

export interface Row {
  section: string;
  measure: string;
  value: number;
  unit: string;
  /** The side-by-side reference measured in the same run. */
  against?: { measure: string; value: number; unit: string };
  /** value / against.value, when the two share a unit. */
  ratio?: number;
  target?: string;
  /** Whether the target is met; undefined when the row has no target. */
  met?: boolean;
  /** Anything else worth keeping in the JSON (all runs, counts…). */
  detail?: Record<string, unknown>;
}

export class Report {
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  readonly started = new Date();

  add(row: Row): void {
    this.rows.push(row);
    process.stderr.write(`bench:   ${row.measure}: ${fmt(row.value, row.unit)}${row.against ? ` (against ${fmt(row.against.value, row.against.unit)})` : ""}\n`);
  }

  note(text: string): void {
    this.notes.push(text);
  }

  table(): string {
    const head = ["section", "measure", "value", "against (same run)", "ratio", "target", "result"];
    const body = this.rows.map((r) => [
      r.section,
      r.measure,
      fmt(r.value, r.unit),
      r.against ? `${r.against.measure} ${fmt(r.against.value, r.against.unit)}` : "",
      r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}×`,
      r.target ?? "",
      r.met === undefined ? "" : r.met ? "pass" : "SHORT",
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? "").length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
    const met = this.rows.filter((r) => r.met === true).length;
    const short = this.rows.filter((r) => r.met === false).length;
    return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line), "", `targets: ${met} met, ${short} short`, ...this.notes.map((n) => `note: ${n}`)].join("\n");
  }

  write(path: string, extra: Record<string, unknown>): void {
    mkdirSync(dirname(path), { recursive: true });
    const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version, platform: process.platform };
    const finished = new Date();
    const doc = { started: this.started.toISOString(), finished: finished.toISOString(), seconds: (finished.getTime() - this.started.getTime()) / 1000, machine, rows: this.rows, notes: this.notes, ...extra };
    writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

export function fmt(value: number, unit: string): string {
  if (!Number.isFinite(value)) return `${value} ${unit}`;
  const digits = unit === "ms" ? (value < 10 ? 2 : 1) : unit === "MB" || unit === "MB/s" || unit === "/s" || unit === "requests" ? 0 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

/** A row comparing `value` with a reference of the same unit, with the ratio filled in. */
export function versus(row: Omit<Row, "ratio">): Row {
  return { ...row, ...(row.against ? { ratio: row.value / row.against.value } : {}) };
}
