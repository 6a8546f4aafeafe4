/** An executable looked up on PATH the way spawn will look for it: the first directory that has it. */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export function findOnPath(name: string, path: string | undefined): string | null {
  for (const dir of (path ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
