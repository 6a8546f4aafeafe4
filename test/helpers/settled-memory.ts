/**
 * A process's memory with the garbage collector's timing taken out. Between two full collections
 * V8 lets the heap grow by tens of MiB, so two RSS readings can differ by that much with nothing
 * leaked. A heap snapshot (Node's `--heapsnapshot-signal`) collects everything first: the live
 * heap it holds, and the RSS read right after it, are what the process really keeps. A leak shows
 * as growth between two of these; GC's sawtooth does not.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "./daemon.js";
import { rssKiB } from "./proc-stats.js";

const SIGNAL = "SIGUSR2";

/** The environment that lets `settledMemory` ask the process for a heap snapshot, written into `dir`. */
export function heapSnapshotEnv(dir: string): NodeJS.ProcessEnv {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const inherited = process.env.NODE_OPTIONS ?? "";
  return { NODE_OPTIONS: `${inherited} --heapsnapshot-signal=${SIGNAL} --diagnostic-dir=${dir}`.trim() };
}

export interface SettledMemory {
  /** Bytes of every object still reachable after a full collection, in KiB. */
  liveHeapKiB: number;
  /** VmRSS right after that collection (and the snapshot), in KiB. */
  rssKiB: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[] } };
  nodes: number[];
}

function liveHeapKiB(snapshot: Snapshot): number {
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf("self_size");
  if (selfSize < 0) throw new Error("heap snapshot without self_size");
  let bytes = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) bytes += snapshot.nodes[i]!;
  return bytes / 1024;
}

/** Signals `proc` (started with `heapSnapshotEnv(dir)`), waits for its whole snapshot, and measures. */
export async function settledMemory(proc: ChildProcess, dir: string): Promise<SettledMemory> {
  const before = new Set(readdirSync(dir));
  proc.kill(SIGNAL);
  // The snapshot is written on the process's main thread; until it is whole it does not parse.
  const snapshot = await waitFor(
    () => {
      const name = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
      return name === undefined ? undefined : { name, parsed: JSON.parse(readFileSync(join(dir, name), "utf8")) as Snapshot };
    },
    60_000,
    200,
  );
  const memory = { liveHeapKiB: liveHeapKiB(snapshot.parsed), rssKiB: rssKiB(proc.pid!) };
  rmSync(join(dir, snapshot.name), { force: true });
  return memory;
}
