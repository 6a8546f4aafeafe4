/**
 * What the reliability suite keeps for its last word: every secret it stored or saw minted, every
 * log, audit line and error message, the argv of every process it started, and the figures it
 * measured. Each test file appends to one shared directory (BROKER_RELIABILITY_EVIDENCE, made by
 * vitest.reliability.config.ts); secret-hygiene.test.ts searches it and the summary reporter
 * prints the figures. The directory is 0700 and removed when the run ends.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Figure {
  area: string;
  measure: string;
  value: string;
  bound: string;
  ok: boolean;
}

let fallback: string | undefined;

/** The shared evidence directory (a private one when a file is run outside the suite's config). */
export function evidenceDir(): string {
  const dir = process.env.BROKER_RELIABILITY_EVIDENCE ?? (fallback ??= mkdtempSync(join(tmpdir(), "broker-reliability-")));
  mkdirSync(join(dir, "texts"), { recursive: true, mode: 0o700 });
  return dir;
}

const file = (name: string) => join(evidenceDir(), name);
let textCount = 0;

/** A stored secret or a minted credential: no log, audit line, error or argv may ever contain it. */
export function recordSecret(kind: string, value: string): void {
  if (value.length < 12) throw new Error(`secret of kind ${kind} is too short to search for reliably`);
  appendFileSync(file("secrets.jsonl"), `${JSON.stringify({ kind, value })}\n`, { mode: 0o600 });
}

/** A PEM private key: its whole text and each line of its base64 body (a log may hold a fragment). */
export function recordPem(kind: string, pem: string): void {
  recordSecret(kind, pem.trim());
  for (const line of pem.split("\n")) if (/^[A-Za-z0-9+/=]{40,}$/.test(line.trim())) recordSecret(`${kind}-line`, line.trim());
}

/** Text the outside world can see: a daemon log, an audit log, error messages, a journal. */
export function recordText(label: string, text: string): void {
  if (text === "") return;
  const name = `${label.replace(/[^a-z0-9-]/gi, "_")}-${process.pid}-${textCount++}.txt`;
  writeFileSync(join(evidenceDir(), "texts", name), text, { mode: 0o600 });
}

/** The argv of a process the suite starts, as it is spawned. */
export function recordArgv(argv: readonly string[]): void {
  appendFileSync(file("argv.jsonl"), `${JSON.stringify({ source: "spawn", argv })}\n`, { mode: 0o600 });
}

/** A temp directory or user the suite made, checked for leftovers at the end. */
export function recordCreated(kind: "dir" | "user", name: string): void {
  appendFileSync(file("created.jsonl"), `${JSON.stringify({ kind, name })}\n`, { mode: 0o600 });
}

/** One measured figure for the summary table. */
export function recordFigure(area: string, measure: string, value: string | number, bound: string, ok: boolean): void {
  const figure: Figure = { area, measure, value: String(value), bound, ok };
  appendFileSync(file("figures.jsonl"), `${JSON.stringify(figure)}\n`, { mode: 0o600 });
}

export function readJsonLines<T>(name: string): T[] {
  let text = "";
  try {
    text = readFileSync(file(name), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as T);
}

export function readTexts(): { name: string; text: string }[] {
  const dir = join(evidenceDir(), "texts");
  return readdirSync(dir).map((name) => ({ name, text: readFileSync(join(dir, name), "utf8") }));
}
