/**
 * Reading a parsed YAML document field by field, with the line of every key, collecting
 * problems instead of throwing. Validation is table-driven: a section is a table of `Rule`s,
 * one per allowed key, and anything not in the table is an unknown key.
 */
import { isAlias, isMap, isScalar, isSeq } from "yaml";
import type { Document, LineCounter, YAMLMap } from "yaml";
import { closest } from "./closest.js";
import type { PolicyProblem } from "./types.js";

export { closest } from "./closest.js";

/** The state of one file's validation. */
export interface Walk {
  file: string;
  doc: Document;
  lines: LineCounter;
  problems: PolicyProblem[];
  /** Aliases followed so far; capped so a crafted file cannot make validation quadratic. */
  aliases: number;
}

/** Where a value sits: its dotted field path and the line of its key (or list item). */
export interface At {
  field: string;
  line: number;
}

/** Checks one value; reports what is wrong and returns undefined, or returns the value as the policy keeps it. */
export type Check<T> = (walk: Walk, node: unknown, at: At) => T | undefined;

export interface Rule<T> {
  required?: boolean;
  check: Check<T>;
}

export type Rules = Record<string, Rule<unknown>>;

export type Fields<R extends Rules> = { [K in keyof R]?: R[K] extends Rule<infer T> ? T : never };

export interface ReadFields<R extends Rules> {
  values: Fields<R>;
  /** Where each key that was present sits, valid or not. */
  at: { [K in keyof R]?: At };
}

/** Field path of the whole file, for problems that belong to no key. */
export const ROOT_FIELD = "(policy)";
const MAX_ALIASES = 100;

export function report(walk: Walk, at: At, problem: string): void {
  walk.problems.push({ file: walk.file, line: at.line, field: at.field, problem });
}

export function childAt(parent: At, key: string, line: number): At {
  return { field: parent.field === ROOT_FIELD ? key : `${parent.field}.${key}`, line };
}

export function lineOf(walk: Walk, node: unknown, fallback: number): number {
  const range = (node as { range?: unknown } | null | undefined)?.range;
  const start = Array.isArray(range) ? range[0] : undefined;
  return typeof start === "number" ? walk.lines.linePos(start).line : fallback;
}

/** Follows an alias (`*name`) to the node its anchor names. */
export function deref(walk: Walk, node: unknown, at: At): unknown {
  if (!isAlias(node)) return node;
  if (++walk.aliases > MAX_ALIASES) {
    if (walk.aliases === MAX_ALIASES + 1) report(walk, at, `more than ${MAX_ALIASES} aliases in one file`);
    return undefined;
  }
  return node.resolve(walk.doc);
}

/** Names a node's kind for messages: `a list`, `the number 3`, `nothing`. */
export function describe(node: unknown): string {
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (!isScalar(node) || node.value === null || node.value === undefined) return "nothing";
  const source = typeof node.source === "string" ? node.source : String(node.value);
  if (typeof node.value === "string") return `the text ${JSON.stringify(clip(source))}`;
  return `${typeof node.value === "number" ? "the number" : typeof node.value === "boolean" ? "the boolean" : "the value"} ${clip(source)}`;
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export interface Entry {
  key: string;
  at: At;
  value: unknown;
}

/** A mapping's entries with their lines; keys that are not plain text are reported and skipped. */
export function mapEntries(walk: Walk, map: YAMLMap, at: At): Entry[] {
  const entries: Entry[] = [];
  for (const pair of map.items) {
    const line = lineOf(walk, pair.key ?? pair.value, at.line);
    const key = deref(walk, pair.key, at);
    if (!isScalar(key) || typeof key.value !== "string") {
      report(walk, { field: at.field, line }, `keys must be plain text, found ${describe(key)} (quote it)`);
      continue;
    }
    entries.push({ key: key.value, at: childAt(at, key.value, line), value: pair.value });
  }
  return entries;
}

/** Resolves a node that must be a mapping; reports and returns undefined otherwise. */
export function asMap(walk: Walk, node: unknown, at: At): YAMLMap | undefined {
  const value = deref(walk, node, at);
  if (isMap(value)) return value;
  report(walk, at, `must be a mapping (key: value), found ${describe(value)}`);
  return undefined;
}

/** Reads a mapping against a table of rules: unknown keys, required keys and each value's check. */
export function readFields<R extends Rules>(walk: Walk, node: unknown, at: At, rules: R): ReadFields<R> | undefined {
  const map = asMap(walk, node, at);
  if (!map) return undefined;
  const values: Record<string, unknown> = {};
  const where: Record<string, At> = {};
  for (const entry of mapEntries(walk, map, at)) {
    const rule = Object.hasOwn(rules, entry.key) ? rules[entry.key] : undefined;
    if (!rule) {
      report(walk, entry.at, unknownKey(entry.key, Object.keys(rules)));
      continue;
    }
    where[entry.key] = entry.at;
    const value = rule.check(walk, entry.value, entry.at);
    if (value !== undefined) values[entry.key] = value;
  }
  for (const [key, rule] of Object.entries(rules)) {
    if (rule.required && !Object.hasOwn(where, key)) report(walk, childAt(at, key, at.line), "is required");
  }
  return { values: values as Fields<R>, at: where as ReadFields<R>["at"] };
}

export function unknownKey(key: string, known: readonly string[]): string {
  const near = closest(key, known);
  return near ? `unknown key; did you mean ${near}?` : `unknown key; expected one of ${known.join(", ")}`;
}
