/**
 * `npm run test:reliability`: upstream faults, crashes, bad input, sandbox attacks, socket access,
 * load and secret hygiene, against the built CLI and real daemon processes. Files run one at a
 * time (their figures are timings and memory), secret-hygiene last; the figures print as a table.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";
import { ReliabilitySequencer } from "./test/reliability/support/sequencer.js";

// One evidence directory per run, shared by the files, the reporter and the global setup.
process.env.BROKER_RELIABILITY_EVIDENCE ??= mkdtempSync(join(tmpdir(), "broker-reliability-"));

export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts", "test/reliability/support/global-setup.ts"],
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { sequencer: ReliabilitySequencer },
    testTimeout: 180_000,
    hookTimeout: 120_000,
    env: { BROKER_RELIABILITY_EVIDENCE: process.env.BROKER_RELIABILITY_EVIDENCE },
    reporters: ["default", "./test/reliability/support/summary-reporter.ts"],
  },
});
