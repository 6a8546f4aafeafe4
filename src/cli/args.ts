/** Flag parsing shared by every command: node:util parseArgs plus the global Places flags. */
import { parseArgs } from "node:util";
import { BrokerError } from "../errors.js";
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
export function parseCommandArgs(args: string[], options: OptionsSpec, env: NodeJS.ProcessEnv): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (error) {
    throw new BrokerError("ERR_USAGE", (error as Error).message.split("\n")[0] ?? "bad arguments", {
      fix: "run `broker <command> --help` for the flags it takes",
    });
  }
  const values = parsed.values as ParsedArgs["values"];
  const store = values.store as string | undefined;
  if (!isValidStoreName(store)) {
    throw new BrokerError("ERR_USAGE", `unknown store "${store}"`, { fix: "use --store os or --store file" });
  }
  const places = resolvePlaces(values as Record<string, string | undefined>, env);
  return { values, positionals: parsed.positionals, places, json: values.json === true };
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
