/**
 * Prints the reliability figures every test file recorded (evidence.ts `recordFigure`) as one
 * markdown table per run, after vitest's own summary, with the run's wall time.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Reporter } from "vitest/node";
import type { Figure } from "./evidence.js";

function readFigures(dir: string): Figure[] {
  try {
    return readFileSync(join(dir, "figures.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Figure);
  } catch {
    return [];
  }
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function formatTable(figures: Figure[]): string {
  const rows = ["| Area | Measure | Result | Bound | OK |", "|---|---|---|---|---|"];
  for (const f of figures) rows.push(`| ${cell(f.area)} | ${cell(f.measure)} | ${cell(f.value)} | ${cell(f.bound)} | ${f.ok ? "yes" : "**NO**"} |`);
  return rows.join("\n");
}

export default class SummaryReporter implements Reporter {
  private started = Date.now();

  onInit(): void {
    this.started = Date.now();
  }

  onTestRunEnd(): void {
    const dir = process.env.BROKER_RELIABILITY_EVIDENCE;
    if (!dir) return;
    const order = ["Upstream faults", "Crashes", "Bad input", "Sandbox attacks", "Socket access", "Load", "Secret hygiene"];
    const rank = (area: string) => {
      const i = order.indexOf(area);
      return i === -1 ? order.length : i;
    };
    const figures = readFigures(dir)
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f.area) - rank(b.f.area) || a.i - b.i)
      .map(({ f }) => f);
    const minutes = ((Date.now() - this.started) / 60_000).toFixed(1);
    const failed = figures.filter((f) => !f.ok).length;
    process.stdout.write(
      `\n## Reliability figures (${figures.length} measures, ${failed} outside their bound, run took ${minutes} min)\n\n${formatTable(figures)}\n\n`,
    );
  }
}
