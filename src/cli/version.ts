import { readFileSync } from "node:fs";

/** The package version; src/cli and dist/cli both sit two levels below package.json. */
export function packageVersion(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}
