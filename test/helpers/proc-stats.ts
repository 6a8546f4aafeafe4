/** A process's resident memory and open file descriptors, from /proc (Linux). */
import { readdirSync, readFileSync } from "node:fs";

/** VmRSS in KiB. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib);
}

export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
