/** Reusable checks for policy values: text, integers, durations, URLs, lists and mappings. */
import { isIPv4 } from "node:net";
import { isScalar, isSeq } from "yaml";
import { formatDuration, parseDuration } from "../util/duration.js";
import { SECRET_NAME } from "../store/secret-store.js";
import type { Check, Fields, Rules } from "./yaml-reader.js";
import { asMap, deref, describe, lineOf, mapEntries, readFields, report } from "./yaml-reader.js";

export interface TextOptions {
  pattern?: RegExp;
  /** Length in characters (code points). */
  min?: number;
  max?: number;
  /** What a valid value looks like, for the message: `a secret name (letters, digits, . _ -)`. */
  shape?: string;
  /** A more precise message for a value that fails, or undefined to use `shape`. */
  explain?: (value: string) => string | undefined;
}

export function text(options: TextOptions = {}): Check<string> {
  const { pattern, min = 1, max = 1024, shape, explain } = options;
  return (walk, node, at) => {
    const value = deref(walk, node, at);
    if (!isScalar(value) || typeof value.value !== "string") {
      const hint = isScalar(value) && value.value !== null ? ` (quote it: "${String(value.source ?? value.value)}")` : "";
      report(walk, at, `must be text${shape ? `: ${shape}` : ""}, found ${describe(value)}${hint}`);
      return undefined;
    }
    const string = value.value;
    const length = [...string].length;
    const special = explain?.(string);
    if (special) report(walk, at, special);
    else if (length < min || length > max) report(walk, at, `must be ${min} to ${max} characters long, found ${length}`);
    else if (pattern && !pattern.test(string)) report(walk, at, `must be ${shape ?? `text matching ${pattern.source}`}`);
    else return string;
    return undefined;
  };
}

/** `true` or `false` (YAML booleans only, not the text "yes"). */
export const boolean: Check<boolean> = (walk, node, at) => {
  const value = deref(walk, node, at);
  if (isScalar(value) && typeof value.value === "boolean") return value.value;
  report(walk, at, `must be true or false, found ${describe(value)}`);
  return undefined;
};

export const secretName = text({
  pattern: SECRET_NAME,
  max: 100,
  shape: "a secret name (a letter or digit, then letters, digits, '.', '_' or '-'; up to 100)",
});

export function integer(min: number, max: number): Check<number> {
  return (walk, node, at) => {
    const value = deref(walk, node, at);
    if (!isScalar(value) || typeof value.value !== "number" || !Number.isSafeInteger(value.value)) {
      report(walk, at, `must be a whole number, found ${describe(value)}`);
    } else if (value.value < min || value.value > max) {
      report(walk, at, `must be between ${min} and ${max}, found ${value.value}`);
    } else return value.value;
    return undefined;
  };
}

/** A duration (`90s`, `15m`, `1h30m`, or whole seconds) between `min` and `max` seconds, as seconds. */
export function duration(min: number, max: number): Check<number> {
  return (walk, node, at) => {
    const value = deref(walk, node, at);
    const raw = isScalar(value) ? value.value : undefined;
    const seconds = typeof raw === "string" || typeof raw === "number" ? parseDuration(raw) : null;
    if (seconds === null) report(walk, at, `must be a duration such as 15m, 1h or 90s, found ${describe(value)}`);
    else if (seconds < min) report(walk, at, `must be at least ${formatDuration(min)}`);
    else if (seconds > max) report(walk, at, `must be at most ${formatDuration(max)}, found ${formatDuration(seconds)}`);
    else return seconds;
    return undefined;
  };
}

/** Hosts a plain-http upstream may name: this machine's own stand-ins (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === "localhost" || hostname === "[::1]") return true;
  return isIPv4(hostname) && hostname.startsWith("127.");
}

/**
 * An upstream the daemon sends a signed request or a JWT to (`aws.endpoint`, `github.api_url`):
 * an absolute https URL without credentials, query or fragment; plain http only to a loopback
 * address. Returned without a trailing slash.
 */
export const upstreamUrl: Check<string> = (walk, node, at) => {
  const value = text({ max: 2048, shape: "an https URL" })(walk, node, at);
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    report(walk, at, "must be an absolute https URL such as https://api.github.com");
    return undefined;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") report(walk, at, `must use https, found ${url.protocol}`);
  else if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    report(walk, at, `must use https: the daemon sends its signed requests and tokens there (plain http only to 127.0.0.1, ::1 or localhost, for local stand-ins), found http://${url.host}`);
  } else if (url.username || url.password) report(walk, at, "must not carry a user name or password; secrets belong in the store");
  else if (url.search || url.hash) report(walk, at, "must not have a query (?) or fragment (#)");
  else return value.replace(/\/+$/, "");
  return undefined;
};

export interface ListOptions<T> {
  min: number;
  max: number;
  /** Items equal under this key are duplicates (e.g. case-insensitive names). */
  identity?: (item: T) => string;
}

export function listOf<T>(item: Check<T>, options: ListOptions<T>): Check<T[]> {
  return (walk, node, at) => {
    const list = deref(walk, node, at);
    if (!isSeq(list)) {
      report(walk, at, `must be a list, found ${describe(list)}`);
      return undefined;
    }
    if (list.items.length < options.min || list.items.length > options.max) {
      report(walk, at, `must list ${options.min} to ${options.max} items, found ${list.items.length}`);
      return undefined;
    }
    const items: T[] = [];
    const seen = new Set<string>();
    let ok = true;
    list.items.forEach((node, index) => {
      const itemAt = { field: `${at.field}[${index}]`, line: lineOf(walk, node, at.line) };
      const value = item(walk, node, itemAt);
      const id = value === undefined ? undefined : (options.identity ?? JSON.stringify)(value);
      if (id !== undefined && seen.has(id)) report(walk, itemAt, "is listed twice");
      if (value === undefined || id === undefined || seen.has(id)) ok = false;
      else seen.add(id);
      if (value !== undefined) items.push(value);
    });
    return ok ? items : undefined;
  };
}

export interface MapOptions {
  min: number;
  max: number;
  /** Reports what is wrong with a key, or returns undefined when it is fine. */
  key?: (key: string) => string | undefined;
  /** Keys equal under this are duplicates (e.g. case-insensitive tag keys). */
  identity?: (key: string) => string;
}

/** A mapping from names to values checked one by one, e.g. `tags` or `env`. */
export function mapOf<T>(value: Check<T>, options: MapOptions): Check<Record<string, T>> {
  return (walk, node, at) => {
    const map = asMap(walk, node, at);
    if (!map) return undefined;
    if (map.items.length < options.min || map.items.length > options.max) {
      report(walk, at, `must have ${options.min} to ${options.max} entries, found ${map.items.length}`);
      return undefined;
    }
    const result: Record<string, T> = {};
    const seen = new Set<string>();
    let ok = true;
    for (const entry of mapEntries(walk, map, at)) {
      const keyProblem = options.key?.(entry.key);
      const id = (options.identity ?? String)(entry.key);
      const checked = keyProblem ? undefined : value(walk, entry.value, entry.at);
      if (keyProblem) report(walk, entry.at, keyProblem);
      else if (seen.has(id)) report(walk, entry.at, "repeats another key (keys are compared ignoring case)");
      if (keyProblem || seen.has(id) || checked === undefined) ok = false;
      else result[entry.key] = checked;
      seen.add(id);
    }
    return ok && map.items.length === Object.keys(result).length ? result : undefined;
  };
}

/** A nested mapping read against its own table of rules. */
export function fields<R extends Rules>(rules: R): Check<Fields<R>> {
  return (walk, node, at) => {
    const before = walk.problems.length;
    const read = readFields(walk, node, at, rules);
    return read && walk.problems.length === before ? read.values : undefined;
  };
}
