import { readFileSync } from "node:fs";

/** The package version, from the package.json above this file (dist/cli, or build/src/cli for the demo). */
export function packageVersion(): string {
  for (const up of ["../../package.json", "../../../package.json"]) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as { name: string; version: string }).version;
    } catch {
      // try one level higher
    }
  }
  return "unknown";
}
