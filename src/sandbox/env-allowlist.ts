/**
 * The environment `broker run`'s command inherits from the operator: an allowlist, not a
 * blocklist, because the operator's shell holds tokens under names no list can foresee
 * (`FOO_TOKEN`, `SSH_AUTH_SOCK`, a session bus address). `--pass-env` and the policy's
 * `sandbox.pass_env` add names; the broker's own variables and the operator's credential
 * variables never get through, whatever a glob says.
 */
import { isScrubbed } from "../sinks/child-env.js";

/** What terminals, shells and editors need to behave; none of it grants access to anything. */
export const INHERITED_ENV: readonly string[] = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "TERM",
  "COLORTERM",
  "TERM_PROGRAM",
  "LANG",
  "LANGUAGE",
  "TZ",
  "EDITOR",
  "VISUAL",
  "PAGER",
  "TMPDIR",
  "NO_COLOR",
  "FORCE_COLOR",
  "COLUMNS",
  "LINES",
];
/** Locale categories (LC_ALL, LC_CTYPE, …), kept as a family. */
const INHERITED_GLOBS: readonly string[] = ["LC_*"];

/** Whether `name` matches `pattern`, where `*` matches any run of characters (linear-ish, no regex to blow up). */
function globMatches(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === name[n]) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      resume = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++resume;
    } else return false;
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}

/** Anchored globs: `npm_config_*` matches `npm_config_cache`, not `my_npm_config_cache`. */
export function globMatcher(patterns: readonly string[]): (name: string) => boolean {
  const list = [...patterns];
  return (name) => list.some((pattern) => globMatches(pattern, name));
}

/** Never inherited: the broker's own (the store passphrase, the main socket) and the operator's credentials. */
function isForbidden(key: string, name: string): boolean {
  return key.startsWith("BROKER_") || isScrubbed(name);
}

export function inheritedEnv(parent: Record<string, string | undefined>, passEnv: readonly string[]): Record<string, string> {
  // Windows environment names are case-insensitive (as in child-env.ts).
  const fold = process.platform === "win32" ? (text: string) => text.toUpperCase() : (text: string) => text;
  const allowed = new Set(INHERITED_ENV.map(fold));
  const matches = globMatcher([...INHERITED_GLOBS, ...passEnv].map(fold));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    const key = fold(name);
    if (value === undefined || isForbidden(key, name)) continue;
    if (allowed.has(key) || matches(key)) env[name] = value;
  }
  return env;
}
