import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A fresh private directory, removed by the returned cleanup. `parent` defaults to the system's
 * temp dir; sandbox tests pass /var/tmp, which a box does not make private as it does /tmp.
 */
export function tempDir(prefix = "broker-test-", parent = tmpdir()): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(parent, prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}
