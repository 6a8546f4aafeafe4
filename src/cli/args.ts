/** Flag parsing shared by every command: node:util parseArgs plus the global Places flags. */
import { parseArgs } from "node:util";
import { BrokerError } from "../errors.js";
import { closest } from "../policy/closest.js";
import { isValidStoreName, resolvePlaces, type Places } from "./places.js";

type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };
export type OptionsSpec = Record<string, OptionSpec>;

export const GLOBAL_OPTIONS = {
  socket: { type: "string" },
  policies: { type: "string" },
  "state-dir": { type: "string" },
  store: { type: "string" },
  "passphrase-file": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionsSpec;

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  places: Places;
  json: boolean;
}

/** Parses `args` with the command's own options and the global ones; unknown flags are usage errors. */
export function parseCommandArgs(args: string[], options: OptionsSpec, env: NodeJS.ProcessEnv, command?: string): ParsedArgs {
  const all: OptionsSpec = { ...GLOBAL_OPTIONS, ...options };
  const fix = `run \`broker ${command ?? "<command>"} --help\` for the flags it takes`;
  checkFlags(args, all, fix);
  let parsed;
  try {
    parsed = parseArgs({ args, options: all, allowPositionals: true, strict: true });
  } catch (error) {
    // Node's own text ends in advice with a stray quote; keep its first sentence only.
    throw new BrokerError("ERR_USAGE", ((error as Error).message.split("\n")[0] ?? "bad arguments").replace(/\. To specify.*$/, ""), { fix });
  }
  const values = parsed.values as ParsedArgs["values"];
  const store = values.store as string | undefined;
  if (!isValidStoreName(store)) {
    throw new BrokerError("ERR_USAGE", `unknown store "${store}"`, { fix: "use --store os or --store file" });
  }
  const places = resolvePlaces(values as Record<string, string | undefined>, env);
  return { values, positionals: parsed.positionals, places, json: values.json === true };
}

type Token = ReturnType<typeof parseArgs>["tokens"] extends (infer T)[] | undefined ? T : never;

function tokensOf(args: string[], options: OptionsSpec): Token[] {
  return parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true }).tokens;
}

/** `unknown flag --sandbx-tmp (did you mean --sandbox-tmp?)`. Never echoes a flag's value. */
function unknownFlag(rawName: string, options: OptionsSpec, fix: string): BrokerError {
  const near = rawName.startsWith("--") ? closest(rawName.slice(2), Object.keys(options)) : undefined;
  return new BrokerError("ERR_USAGE", `unknown flag ${rawName}${near ? ` (did you mean --${near}?)` : ""}`, { fix });
}

/** Unknown flags, and values missing or given where none belongs, in words a person reads. */
function checkFlags(args: string[], options: OptionsSpec, fix: string): void {
  for (const token of tokensOf(args, options)) {
    if (token.kind !== "option") continue;
    const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
    if (!spec) throw unknownFlag(token.rawName, options, fix);
    if (spec.type === "boolean" && token.value !== undefined) throw new BrokerError("ERR_USAGE", `${token.rawName} takes no value`, { fix });
    if (spec.type === "string" && (token.value === undefined || (!token.inlineValue && token.value.startsWith("-")))) {
      throw new BrokerError("ERR_USAGE", `${token.rawName} needs a value`, { fix: `give it one (--${token.name}=-X for a value that starts with -), or ${fix}` });
    }
  }
}

/**
 * The first word that is neither a flag nor a flag's value, unless an unknown flag comes first:
 * `broker run --task T aws sts …` without `--` (whose command then goes to the wrong parser).
 */
export function firstPositional(args: string[], options: OptionsSpec): string | undefined {
  const all: OptionsSpec = { ...GLOBAL_OPTIONS, ...options };
  for (const token of tokensOf(args, all)) {
    if (token.kind === "option-terminator") return undefined;
    if (token.kind === "option" && !Object.hasOwn(all, token.name)) return undefined;
    if (token.kind === "positional") return token.value;
  }
  return undefined;
}

/** Splits `a b -- cmd x` into the broker's own args and the command to run. */
export function splitAtDoubleDash(args: string[]): { own: string[]; rest: string[] } {
  const at = args.indexOf("--");
  return at === -1 ? { own: args, rest: [] } : { own: args.slice(0, at), rest: args.slice(at + 1) };
}

export function stringFlag(parsed: ParsedArgs, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === "string" ? value : undefined;
}

export function requireFlag(parsed: ParsedArgs, name: string, usage: string): string {
  const value = stringFlag(parsed, name);
  if (value === undefined || value === "") {
    throw new BrokerError("ERR_USAGE", `--${name} is required`, { fix: `usage: ${usage}` });
  }
  return value;
}
