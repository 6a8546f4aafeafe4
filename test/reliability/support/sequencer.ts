/**
 * Runs the reliability files one at a time in a fixed order: measurements (restart times, RSS,
 * load) are not disturbed by another file's daemons, and secret-hygiene runs last, over the
 * evidence every other file left.
 */
import type { TestSequencer, TestSpecification } from "vitest/node";

export const FILE_ORDER = [
  "upstream-mint",
  "upstream-refresh",
  "upstream-revoke",
  "crash-recovery",
  "bad-input",
  "bad-policies",
  "sandbox-attacks",
  "box-attacks",
  "socket-access",
  "flood",
  "load",
  "secret-hygiene",
];

const rank = (spec: TestSpecification): number => {
  const name = spec.moduleId.split("/").pop()?.replace(/\.test\.ts$/, "") ?? "";
  const i = FILE_ORDER.indexOf(name);
  return i === -1 ? FILE_ORDER.indexOf("secret-hygiene") - 0.5 : i; // a new file: still before hygiene
};

export class ReliabilitySequencer implements TestSequencer {
  shard(files: TestSpecification[]): TestSpecification[] {
    return files;
  }

  sort(files: TestSpecification[]): TestSpecification[] {
    return [...files].sort((a, b) => rank(a) - rank(b));
  }
}
