/**
 * 5. Masking: `broker run --task bench-mask -- cat FILE | wc -c` (50 secrets in the session, so
 * CMD's output goes through the masker) against `cat FILE | wc -c`, for a 1 GiB file of
 * base64 text lines with secrets in it. wc's byte count checks that every secret was masked.
 */
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { MASK } from "../src/sinks/mask.js";
import { CLI, runChecked, type BenchRoot, type Cleanups } from "./fixture.js";
import type { Report } from "./report.js";
import { versus } from "./report.js";
import { interleave, median } from "./stats.js";
import { TASK, type BenchTasks } from "./tasks.js";

const SECTION = "5 masking";
const BLOCK = 1024 * 1024;
const MB = 1_000_000;

/** 1 MiB of 76-column base64 lines with one secret written over the middle of it. */
function block(secret: string): Buffer {
  const text = randomBytes((BLOCK * 3) / 4).toString("base64").replace(/.{76}/g, "$&\n");
  const buf = Buffer.from(text.slice(0, BLOCK));
  buf.write(secret, BLOCK / 2);
  return buf;
}

/** Writes `blocks` MiB; returns the byte count masked output must have. */
function writeInput(path: string, blocks: number, secrets: string[]): number {
  const kinds = Array.from({ length: 8 }, (_, k) => secrets[(k * 7) % secrets.length] as string);
  const made = kinds.map(block);
  const fd = openSync(path, "w", 0o600);
  let masked = 0;
  try {
    for (let i = 0; i < blocks; i++) {
      const k = i % made.length;
      writeSync(fd, made[k] as Buffer);
      masked += BLOCK - Buffer.byteLength(kinds[k] as string) + Buffer.byteLength(MASK);
    }
  } finally {
    closeSync(fd);
  }
  return masked;
}

export async function benchMasking(root: BenchRoot, tasks: BenchTasks, report: Report, cleanups: Cleanups, options: { mebibytes: number; rounds: number }): Promise<void> {
  const file = join(root.path, "mask-input.txt");
  cleanups.add(() => rmSync(file, { force: true }));
  const expected = writeInput(file, options.mebibytes, tasks.maskValues);
  const size = options.mebibytes * BLOCK;
  const env = { ...root.env, BENCH_NODE: process.execPath, BENCH_CLI: CLI, BENCH_FILE: file };
  const pipeline = (script: string, want: number) => () => {
    const out = runChecked("sh", ["-c", script], { env, timeoutMs: 300_000 }).stdout.trim();
    if (Number(out) !== want) throw new Error(`\`${script}\` gave ${out} bytes, expected ${want}: masking is not what it should be`);
  };
  const times = await interleave(
    {
      cat: pipeline('cat "$BENCH_FILE" | wc -c', size),
      // Run from the file's directory: the box sees the working directory (its /tmp is its own).
      broker: pipeline(`cd "$(dirname "$BENCH_FILE")" && "$BENCH_NODE" "$BENCH_CLI" run --task ${TASK.mask} -- cat "$BENCH_FILE" | wc -c`, expected),
    },
    options.rounds,
    1,
  );
  rmSync(file, { force: true });
  const rate = (ms: number) => size / MB / (ms / 1000);
  const brokerRate = rate(median(times.broker));
  report.add(
    versus({
      section: SECTION,
      measure: `broker run -- cat ${options.mebibytes} MiB | wc -c (${tasks.maskValues.length} secrets)`,
      value: brokerRate,
      unit: "MB/s",
      against: { measure: "cat | wc -c", value: rate(median(times.cat)), unit: "MB/s" },
      target: "≥ 300 MB/s",
      met: brokerRate >= 300,
      detail: { bytes: size, maskedBytes: expected, brokerMs: times.broker, catMs: times.cat },
    }),
  );
}
