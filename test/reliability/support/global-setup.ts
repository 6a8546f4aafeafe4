/** Around the whole reliability run: samples child processes' argv; removes the evidence at the end. */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startArgvSampler } from "./argv-sampler.js";

const CLI_MARKER = fileURLToPath(new URL("../../../dist/bin/broker.cjs", import.meta.url));

export default function setup(): () => void {
  const dir = process.env.BROKER_RELIABILITY_EVIDENCE;
  if (!dir) throw new Error("BROKER_RELIABILITY_EVIDENCE is not set: run the suite with vitest.reliability.config.ts");
  const stop = startArgvSampler(dir, process.pid, CLI_MARKER);
  const started = Date.now();
  writeFileSync(join(dir, "run.json"), JSON.stringify({ started, rootPid: process.pid }), { mode: 0o600 });
  return () => {
    stop();
    if (process.env.BROKER_RELIABILITY_KEEP_EVIDENCE) process.stdout.write(`reliability evidence kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
}
