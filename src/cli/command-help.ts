/** The `--help` text of a command: usage, what it does, and one line per flag it takes. */
import type { OptionsSpec } from "./args.js";

/** A flag's help: its text, or its value's name and its text. */
export type FlagHelp = string | readonly [value: string, text: string];

const GLOBAL_FLAGS = "--socket PATH  --policies DIR  --state-dir DIR  --store os|file  --passphrase-file F  --json  --help";

/** Help for every flag of `options` (the type makes leaving one out a compile error), in its order. */
export function commandHelp<O extends OptionsSpec>(usage: string, summary: string, options: O, flags: Record<keyof O & string, FlagHelp>): string {
  const rows = Object.keys(options).map((name) => {
    const help = flags[name as keyof O & string];
    const [value, text] = typeof help === "string" ? ["", help] : help;
    const multiple = options[name]?.multiple ? "…" : "";
    return [`--${name}${value ? ` ${value}` : ""}${multiple}`, text] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const lines = rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`);
  return `usage: ${usage}\n\n${summary}\n\nFlags:\n${lines.join("\n")}\n\nGlobal flags: ${GLOBAL_FLAGS}\n`;
}
