/**
 * `--env-file F`: a dotenv file whose values may be `broker://` references, resolved against
 * the session in memory (never written anywhere); and the `env`/`dotenv` output formats.
 *
 * Dialect: `KEY=VALUE` or `export KEY=VALUE`; blank lines and `#` comments; unquoted values are
 * trimmed and end at ` #`; 'single quotes' are literal; "double quotes" understand \n \r \t \" \\
 * and may span lines.
 */
import { readFile } from "node:fs/promises";
import { BrokerError } from "../errors.js";
import type { SessionWithCredentials } from "./child-env.js";

export interface DotenvEntry {
  key: string;
  value: string;
  line: number;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const REFERENCE_PREFIX = "broker://";
const ESCAPES = new Map([["n", "\n"], ["r", "\r"], ["t", "\t"], ['"', '"'], ["\\", "\\"], ["$", "$"], ["`", "`"]]);
const AWS_FIELDS = new Map<string, "accessKeyId" | "secretAccessKey" | "sessionToken">([
  ["access_key_id", "accessKeyId"],
  ["secret_access_key", "secretAccessKey"],
  ["session_token", "sessionToken"],
]);

function syntaxError(source: string, line: number, problem: string): BrokerError {
  // Never quote the line: it may hold a literal secret.
  return new BrokerError("ERR_USAGE", `${source}:${line}: ${problem}`, { fix: "write KEY=VALUE lines (see `broker run --help`)" });
}

/** Parses dotenv text; later duplicates win when turned into a map. */
export function parseDotenv(text: string, source = "env file"): DotenvEntry[] {
  const entries: DotenvEntry[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  const skipSpaces = (): void => {
    while (i < n && (text[i] === " " || text[i] === "\t")) i++;
  };
  const restOfLine = (): string => {
    const end = text.indexOf("\n", i);
    const rest = text.slice(i, end === -1 ? n : end);
    i = end === -1 ? n : end;
    return rest.replace(/\r$/, "");
  };
  while (i < n) {
    skipSpaces();
    const startLine = line;
    if (text[i] === "\n" || text[i] === "\r" || text[i] === "#" || i >= n) {
      restOfLine();
      if (i < n) {
        i++;
        line++;
      }
      continue;
    }
    let head = "";
    while (i < n && text[i] !== "=" && text[i] !== "\n") head += text[i++];
    if (text[i] !== "=") throw syntaxError(source, startLine, "expected KEY=VALUE");
    i++;
    const key = head.trim().replace(/^export\s+/, "");
    if (!KEY.test(key)) throw syntaxError(source, startLine, "not a valid variable name before =");
    skipSpaces();
    let value: string;
    const quote = text[i];
    if (quote === "'" || quote === '"') {
      i++;
      value = "";
      while (i < n && text[i] !== quote) {
        const c = text[i++] as string;
        if (c === "\n") line++;
        if (quote === '"' && c === "\\" && i < n) {
          const next = text[i++] as string;
          value += ESCAPES.get(next) ?? `\\${next}`;
        } else value += c;
      }
      if (i >= n) throw syntaxError(source, startLine, `unterminated quoted value for ${key}`);
      i++;
      const rest = restOfLine().trim();
      if (rest !== "" && !rest.startsWith("#")) throw syntaxError(source, line, `unexpected text after the quoted value of ${key}`);
    } else {
      value = restOfLine().replace(/(^|\s)#.*$/, "").trim();
    }
    entries.push({ key, value, line: startLine });
  }
  return entries;
}

function unresolvable(source: string, entry: DotenvEntry, why: string): BrokerError {
  return new BrokerError("ERR_ENV_REFERENCE", `${source}:${entry.line}: ${entry.key}: ${entry.value} cannot be resolved: ${why}`, {
    fix: `give the task the credential it refers to, or remove the reference from ${source}`,
  });
}

/** The value a `broker://` reference stands for, or throws ERR_ENV_REFERENCE (no secret in it). */
function resolveReference(entry: DotenvEntry, session: SessionWithCredentials, source: string): string {
  const { aws, github, env } = session.credentials;
  const ref = entry.value.slice(REFERENCE_PREFIX.length);
  const [provider, ...rest] = ref.split("/");
  const name = rest.join("/");
  const missing = (p: string): BrokerError => unresolvable(source, entry, `task ${session.task} has no ${p} credentials`);
  if (provider === "aws") {
    const field = AWS_FIELDS.get(name);
    if (field === undefined) throw unresolvable(source, entry, "known aws references: access_key_id, secret_access_key, session_token");
    if (!aws) throw missing("aws");
    return aws[field];
  }
  if (provider === "github") {
    if (name !== "token") throw unresolvable(source, entry, "the known github reference is broker://github/token");
    if (!github) throw missing("github");
    return github.token;
  }
  if (provider === "env") {
    const value = Object.hasOwn(env, name) ? env[name] : undefined;
    if (value === undefined) throw unresolvable(source, entry, `task ${session.task} has no env entry ${JSON.stringify(name)}`);
    return value;
  }
  throw unresolvable(source, entry, "references start with broker://aws/, broker://github/ or broker://env/");
}

/** Resolves every `broker://` value; everything else passes through as written. */
export function resolveEnvEntries(entries: DotenvEntry[], session: SessionWithCredentials, source = "env file"): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const entry of entries) {
    vars[entry.key] = entry.value.startsWith(REFERENCE_PREFIX) ? resolveReference(entry, session, source) : entry.value;
  }
  return vars;
}

/** Reads, parses and resolves `--env-file F`, before anything runs. */
export async function loadEnvFile(file: string, session: SessionWithCredentials): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new BrokerError("ERR_USAGE", `cannot read env file ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, { cause: error });
  }
  return resolveEnvEntries(parseDotenv(text, file), session, file);
}

/** `broker mint --format env`: `export K='V'` lines for a POSIX shell. */
export function formatShellExports(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'\n`)
    .join("");
}

/**
 * Whether the value must be quoted: anything beyond a plain word, so that both dotenv parsers and
 * a POSIX shell sourcing the file (`. /run/broker/env`) read back exactly the value.
 */
function needsQuotes(value: string): boolean {
  return /[^A-Za-z0-9_./:@%+,=-]/.test(value);
}

/** `broker mint --format dotenv` and the sandbox `env` file: `K=V`, quoted only when needed. */
export function formatDotenv(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (!needsQuotes(v)) return `${k}=${v}\n`;
      // Single quotes are literal in every dotenv dialect; double quotes only when we must.
      if (!/['\n\r]/.test(v)) return `${k}='${v}'\n`;
      return `${k}="${v.replace(/[\\"$`\n\r]/g, (c) => ({ "\\": "\\\\", '"': '\\"', $: "\\$", "`": "\\`", "\n": "\\n", "\r": "\\r" })[c] as string)}"\n`;
    })
    .join("");
}
