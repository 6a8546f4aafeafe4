/**
 * Samples the argv of every process the suite has running: every few milliseconds, each process
 * under the vitest process (and any `broker` CLI process, in case one was orphaned) has its
 * /proc/<pid>/cmdline recorded once, so secret-hygiene.test.ts can prove no secret was ever
 * passed on a command line, where any user on the machine could read it.
 */
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

function parentOf(pid: string): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so read after the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? null;
  } catch {
    return null;
  }
}

function cmdline(pid: string): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return raw === "" ? null : raw.replace(/\0$/, "").split("\0");
  } catch {
    return null;
  }
}

export interface SamplerStats {
  scans: number;
  processes: number;
}

/** Starts sampling; returns a stop function that reports how much was seen. */
export function startArgvSampler(evidenceDir: string, rootPid: number, cliMarker: string, everyMs = 20): () => SamplerStats {
  const seen = new Set<string>();
  const recordedPids = new Set<string>();
  let scans = 0;
  const scan = () => {
    scans += 1;
    let pids: string[];
    try {
      pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    const parent = new Map(pids.map((pid) => [pid, parentOf(pid)]));
    const under = (pid: string): boolean => {
      for (let p: string | null | undefined = pid, hops = 0; p && hops < 64; p = parent.get(p), hops++) if (p === String(rootPid)) return true;
      return false;
    };
    for (const pid of pids) {
      if (pid === String(rootPid)) continue;
      const argv = cmdline(pid);
      const mine = under(pid);
      // Broker processes outside our tree too (an orphaned one, say): their argv is searched all the same.
      if (argv === null || !(mine || argv.some((a) => a.includes(cliMarker)))) continue;
      const key = `${pid}\0${argv.join("\0")}`;
      if (seen.has(key)) continue;
      seen.add(key);
      recordedPids.add(pid);
      try {
        appendFileSync(join(evidenceDir, "argv.jsonl"), `${JSON.stringify({ source: "sampled", pid: Number(pid), mine, argv })}\n`, { mode: 0o600 });
      } catch {
        // the evidence directory is gone: the run is over
      }
    }
  };
  const timer = setInterval(scan, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    return { scans, processes: recordedPids.size };
  };
}
