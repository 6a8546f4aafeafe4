import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CODES } from "../../src/errors.js";

// docs/interface.md is the project's interface doc: it must not drift from the code.
const root = fileURLToPath(new URL("../../", import.meta.url));
const doc = readFileSync(join(root, "docs/interface.md"), "utf8");
// Flags are declared in the commands and in helpers beside them (src/cli/run-flags.ts, session-request.ts, args.ts).
const tsIn = (dir: string): string[] => readdirSync(join(root, dir)).filter((f) => f.endsWith(".ts")).map((f) => `${dir}/${f}`);
const cliFiles = [...tsIn("src/cli"), ...tsIn("src/cli/commands")];

/** Flags as the commands declare them for parseArgs: `name: { type: "string" | "boolean" … }`. */
function parsedFlags(): string[] {
  const flags = new Set<string>();
  for (const file of cliFiles) {
    const text = readFileSync(join(root, file), "utf8");
    for (const m of text.matchAll(/"?([a-z][a-z-]*)"?: \{ type: "(?:string|boolean)"/g)) flags.add(m[1]!);
  }
  return [...flags].sort();
}

function schemaKeys(): string[] {
  const schema = JSON.parse(readFileSync(join(root, "policies/schema.json"), "utf8")) as { properties: Record<string, { $ref?: string }>; $defs: Record<string, { properties?: Record<string, unknown> }> };
  const keys: string[] = [];
  for (const [key, value] of Object.entries(schema.properties)) {
    keys.push(key);
    const def = value.$ref ? schema.$defs[value.$ref.split("/").at(-1)!] : undefined;
    for (const sub of Object.keys(def?.properties ?? {})) keys.push(`${key}.${sub}`);
  }
  return keys;
}

describe("docs/interface.md", () => {
  it("lists every error code with the HTTP status and exit code src/errors.ts gives it", () => {
    for (const [code, { status, exit }] of Object.entries(CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${status} \\| ${exit} \\| \\S`));
    }
    const documented = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(CODES).sort());
  });

  it("names every flag a command parses", () => {
    const flags = parsedFlags();
    expect(flags).toContain("sandbox-tmp");
    for (const flag of flags) expect(doc, `--${flag}`).toContain(`--${flag}`);
  });

  it("has a section for every command", () => {
    const main = readFileSync(join(root, "src/cli/main.ts"), "utf8");
    const commands = [...main.matchAll(/^\s+"?([a-z-]+)"?: \(\) => import\(/gm)].map((m) => m[1]!);
    expect(commands.length).toBeGreaterThan(5);
    for (const command of commands) expect(doc, command).toMatch(new RegExp(`^### \`broker ${command}\\b`, "m"));
  });

  it("names every policy key of policies/schema.json", () => {
    for (const key of schemaKeys()) expect(doc, key).toContain(`\`${key}\``);
  });

  it("is what the README and the source point at", () => {
    expect(readFileSync(join(root, "README.md"), "utf8")).toContain("docs/interface.md");
  });
});
