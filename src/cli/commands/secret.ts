/**
 * `broker secret set NAME --type T` · `broker secret list` · `broker secret rm NAME`.
 * The value comes from stdin or a hidden prompt, never argv: there is no `--value` flag, and a
 * stray positional is refused without being printed back.
 */
import { readFile } from "node:fs/promises";
import { BrokerError, Exit } from "../../errors.js";
import type { SecretType } from "../../store/secret-store.js";
import { openStore } from "../../store/open-store.js";
import { parseSecretType, validateSecret, validateSecretName } from "../../store/validate-secret.js";
import { parseCommandArgs, stringFlag, type ParsedArgs } from "../args.js";
import { print, printJson, type CommandContext } from "../context.js";
import { readSecretInput } from "../read-secret-input.js";

const USAGE = `Usage:
  broker secret set NAME --type aws|github-app|generic   value from stdin, or a hidden prompt on a terminal
  broker secret set NAME --type github-app --app-id N --private-key-file F
  broker secret list [--json]                            names and types, never values
  broker secret rm NAME

  aws         JSON {"accessKeyId","secretAccessKey"} (+ "sessionToken" for ASIA keys)
  github-app  JSON {"appId","privateKey"}, or --app-id N --private-key-file F
  generic     the raw value (one trailing newline dropped)

Store flags: --store os|file  --state-dir DIR  --passphrase-file F (or BROKER_STORE_PASSPHRASE)
`;

const OPTIONS = {
  type: { type: "string" },
  "app-id": { type: "string" },
  "private-key-file": { type: "string" },
} as const;

const PROMPTS: Record<SecretType, string> = {
  aws: 'AWS key as one line of JSON {"accessKeyId","secretAccessKey"}',
  "github-app": 'GitHub App as one line of JSON {"appId","privateKey"} (easier: --app-id N --private-key-file F)',
  generic: "value",
};

function usage(message: string): BrokerError {
  return new BrokerError("ERR_USAGE", message, { fix: "run `broker secret --help`" });
}

/** Refuses flags that belong to another subcommand, so a typo is not silently ignored. */
function refuseFlags(parsed: ParsedArgs, sub: string, names: string[]): void {
  for (const name of names) if (parsed.values[name] !== undefined) throw usage(`--${name} does not apply to \`secret ${sub}\``);
}

/** Exactly one NAME; extra words are not echoed, since they may be a value typed in the wrong place. */
function takeName(parsed: ParsedArgs, sub: string): string {
  const rest = parsed.positionals.slice(1);
  if (rest.length > 1) {
    throw new BrokerError("ERR_USAGE", `\`secret ${sub}\` takes one NAME and nothing else`, {
      fix: "values are read from stdin or a hidden prompt, never from the command line",
    });
  }
  return validateSecretName(rest[0]);
}

export default async function secret(ctx: CommandContext): Promise<number> {
  const parsed = parseCommandArgs(ctx.args, OPTIONS, ctx.env, "secret");
  const sub = parsed.positionals[0];
  if (parsed.values.help === true || sub === "help") {
    ctx.stdout.write(USAGE);
    return Exit.ok;
  }
  switch (sub) {
    case "set":
      return set(ctx, parsed);
    case "list":
      return list(ctx, parsed);
    case "rm":
      return remove(ctx, parsed);
    case undefined:
      ctx.stderr.write(USAGE);
      return Exit.usage;
    default:
      throw usage(`unknown subcommand "secret ${sub}"`);
  }
}

async function set(ctx: CommandContext, parsed: ParsedArgs): Promise<number> {
  const name = takeName(parsed, "set");
  const type = parseSecretType(stringFlag(parsed, "type"));
  const appId = stringFlag(parsed, "app-id");
  const keyFile = stringFlag(parsed, "private-key-file");
  if ((appId !== undefined || keyFile !== undefined) && type !== "github-app") {
    throw usage("--app-id and --private-key-file are for --type github-app");
  }
  if ((appId === undefined) !== (keyFile === undefined)) throw usage("--app-id and --private-key-file go together");
  // Open the store first: a missing passphrase or keychain should fail before anyone types a secret.
  const store = await openStore(parsed.places, ctx.env);
  const raw =
    appId !== undefined && keyFile !== undefined
      ? JSON.stringify({ appId, privateKey: await readKeyFile(keyFile) })
      : await readSecretInput(ctx, `${PROMPTS[type]} for "${name}" (input hidden): `);
  const value = validateSecret(type, raw);
  // Only the old type is kept, to say what was overwritten.
  const previous = (await store.get(name))?.type;
  await store.set(name, { type, value });
  if (parsed.json) printJson(ctx.stdout, { name, type, store: store.kind, replaced: previous !== undefined });
  else if (previous === undefined) print(ctx.stdout, `stored ${type} secret "${name}" in the ${store.kind} store`);
  else print(ctx.stdout, `replaced ${previous === type ? "" : `${previous} secret with `}${type} secret "${name}" in the ${store.kind} store`);
  return Exit.ok;
}

async function readKeyFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new BrokerError("ERR_INVALID_SECRET", `the private key file ${path} could not be read (${code})`, {
      fix: "give the path of the .pem GitHub generated for the app",
    });
  }
}

async function list(ctx: CommandContext, parsed: ParsedArgs): Promise<number> {
  refuseFlags(parsed, "list", Object.keys(OPTIONS));
  if (parsed.positionals.length > 1) throw usage("`secret list` takes no arguments");
  const entries = await (await openStore(parsed.places, ctx.env)).list();
  if (parsed.json) {
    printJson(ctx.stdout, entries.map(({ name, type }) => ({ name, type })));
    return Exit.ok;
  }
  if (entries.length === 0) {
    print(ctx.stdout, "no secrets stored");
    return Exit.ok;
  }
  const width = Math.max(4, ...entries.map((e) => e.name.length));
  const lines = [`${"NAME".padEnd(width)}  TYPE`, ...entries.map((e) => `${e.name.padEnd(width)}  ${e.type}`)];
  print(ctx.stdout, lines.join("\n"));
  return Exit.ok;
}

async function remove(ctx: CommandContext, parsed: ParsedArgs): Promise<number> {
  refuseFlags(parsed, "rm", Object.keys(OPTIONS));
  const name = takeName(parsed, "rm");
  const removed = await (await openStore(parsed.places, ctx.env)).delete(name);
  if (!removed) {
    throw new BrokerError("ERR_SECRET_NOT_FOUND", `no secret named "${name}" in the ${parsed.places.store} store`, {
      fix: "run `broker secret list` to see the names stored",
    });
  }
  if (parsed.json) printJson(ctx.stdout, { name, removed: true });
  else print(ctx.stdout, `removed secret "${name}"`);
  return Exit.ok;
}
