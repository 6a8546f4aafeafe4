/**
 * Load: 1,000 concurrent clients each open and end sessions back to back for 60 s
 * (BROKER_RELIABILITY_LOAD_SECONDS, BROKER_RELIABILITY_LOAD_CONCURRENCY to change), a tenth of
 * them with a --sandbox-tmp directory. No request may fail; the daemon's open descriptors and RSS
 * must stay flat: sampled every second, the last stretch of the run may not sit above the first
 * stretch after warm-up by more than the bounds below (RSS +15%, descriptors +64), and once the
 * clients are gone the descriptor count is back where it was before the load.
 */
import { readFileSync, statSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMPACT_AT_BYTES, parseJournal } from "../../src/sessions/journal.js";
import { LiveRecords } from "../../src/sessions/live-records.js";
import { startTestDaemon, waitFor, type TestDaemon } from "../helpers/daemon.js";
import { mib, openFds, rssKiB } from "../helpers/proc-stats.js";
import { recordCreated, recordFigure, recordSecret, recordText } from "./support/evidence.js";

const SECONDS = Number(process.env.BROKER_RELIABILITY_LOAD_SECONDS ?? 60);
const CONCURRENCY = Number(process.env.BROKER_RELIABILITY_LOAD_CONCURRENCY ?? 1000);
const WARMUP_S = Math.min(10, Math.ceil(SECONDS / 6));
/** "Flat": the last stretch's median RSS within 15% (or 16 MiB) of the first stretch's, after warm-up. */
const RSS_GROWTH = 0.15;
const RSS_SLACK_KIB = 16 * 1024;
/**
 * Descriptors follow the 1,000 client connections plus transient directory and file handles of
 * sandbox writes (second-to-second swings of ±80 measured): the last stretch's median may not sit
 * more than 64 above the first's, and once the clients are gone the count is back to idle (+2).
 */
const FD_GROWTH = 64;
/** What can arrive past the journal's compaction limit while a compaction runs. */
const JOURNAL_SLACK_BYTES = 4 * 1024 * 1024;
const SECRET = `load-${"9a".repeat(16)}`;
/** The store decrypts once for a burst of opens (it once ran one PBKDF2 per request: 73 s for 1,000). */
const FIRST_WAVE_BOUND_S = 10;

interface Sample {
  t: number;
  rss: number;
  fds: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

describe("load", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { load: `task: load\nttl: 5m\nmax_ttl: 1h\nmax_sessions: ${CONCURRENCY * 2}\nenv:\n  LOAD_TOKEN: { secret: load }\n` } });
    recordCreated("dir", d.root);
    recordSecret("generic-load", SECRET);
    const set = await d.cli(["secret", "set", "load", "--type", "generic"], { input: SECRET });
    expect(set.code, set.stderr).toBe(0);
  });
  afterAll(async () => {
    recordText("daemon-log", d?.stderr() ?? "");
    if (d) {
      // Too big to keep as evidence (hundreds of MB): searched here for the one secret this file stored.
      const hits = ["audit.jsonl", "journal.jsonl"].filter((f) => readFileSync(join(d.stateDir, f)).includes(SECRET));
      recordFigure("Secret hygiene", "load run's audit log and journal (searched in place) hold the load secret", hits.length === 0 ? "no" : hits.join(", "), "no", hits.length === 0);
    }
    await d?.cleanup();
  });

  it(`opens and ends sessions from ${CONCURRENCY} concurrent clients for ${SECONDS} s without an error, with flat descriptors and memory`, async () => {
    const pid = d.process.pid!;
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request({ socketPath: d.socket, method, path, agent, headers: payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {} }, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (c: string) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on("error", reject);
        req.end(payload);
      });

    const idleFds = openFds(pid);
    const idleRss = rssKiB(pid);
    const samples: Sample[] = [];
    const started = performance.now();
    const sampler = setInterval(() => samples.push({ t: (performance.now() - started) / 1000, rss: rssKiB(pid), fds: openFds(pid) }), 1000);
    const errors = new Map<string, number>();
    const latencies: number[] = [];
    let firstWaveMs = 0;
    let cycles = 0;
    const deadline = started + SECONDS * 1000;

    const client = async (n: number): Promise<void> => {
      for (let round = 0; performance.now() < deadline; round++) {
        const t0 = performance.now();
        try {
          const opened = await call("POST", "/v1/sessions", { task: "load", ...(n % 10 === 0 ? { sandbox: { tmp: true } } : {}) });
          if (opened.status !== 201) throw new Error(`open ${opened.status} ${opened.text.slice(0, 120)}`);
          const id = (JSON.parse(opened.text) as { id: string }).id;
          const closed = await call("DELETE", `/v1/sessions/${id}`);
          if (closed.status !== 204) throw new Error(`close ${closed.status} ${closed.text.slice(0, 120)}`);
          cycles += 1;
          if (round === 0) firstWaveMs = Math.max(firstWaveMs, performance.now() - started);
          if (cycles % 50 === 0) latencies.push(performance.now() - t0);
        } catch (error) {
          const key = (error as Error).message.slice(0, 80);
          errors.set(key, (errors.get(key) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, n) => client(n)));
    clearInterval(sampler);
    const elapsed = (performance.now() - started) / 1000;
    agent.destroy();
    await waitFor(async () => (await d.client.listSessions()).length === 0, 10_000);
    const drainedFds = await waitFor(() => (openFds(pid) <= idleFds + 2 ? openFds(pid) : undefined), 10_000).catch(() => openFds(pid));

    const loaded = samples.filter((s) => s.t >= WARMUP_S);
    const stretch = Math.max(1, Math.floor(loaded.length / 4));
    const first = loaded.slice(0, stretch);
    const last = loaded.slice(-stretch);
    const rssFirst = median(first.map((s) => s.rss));
    const rssLast = median(last.map((s) => s.rss));
    const fdsFirst = median(first.map((s) => s.fds));
    const fdsLast = median(last.map((s) => s.fds));
    const size = (name: string) => statSync(join(d.stateDir, name)).size;
    const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
    const rssFlat = rssLast <= Math.max(rssFirst * (1 + RSS_GROWTH), rssFirst + RSS_SLACK_KIB);

    const area = "Load";
    recordFigure(area, `${CONCURRENCY} concurrent clients opening and ending sessions (10% with --sandbox-tmp) for ${SECONDS} s`, `${cycles} sessions (${Math.round(cycles / elapsed)}/s), p50 ${Math.round(median(latencies))} ms, worst sampled ${Math.round(Math.max(...latencies))} ms`, "—", true);
    recordFigure(area, `first wave right after \`secret set\` (cold store cache): all ${CONCURRENCY} first sessions opened`, `${(firstWaveMs / 1000).toFixed(1)} s`, `< ${FIRST_WAVE_BOUND_S} s`, firstWaveMs < FIRST_WAVE_BOUND_S * 1000);
    recordFigure(area, "errors", errorCount === 0 ? "0" : `${errorCount}: ${[...errors].map(([k, v]) => `${k} ×${v}`).join("; ")}`, "0", errorCount === 0);
    recordFigure(area, `daemon RSS: idle → first quarter after ${WARMUP_S} s warm-up → last quarter (medians)`, `${mib(idleRss)} → ${mib(rssFirst)} → ${mib(rssLast)}`, `last ≤ first +${RSS_GROWTH * 100}% (or +${mib(RSS_SLACK_KIB)})`, rssFlat);
    recordFigure(area, "daemon open descriptors: idle → first quarter → last quarter (medians) → after clients left", `${idleFds} → ${fdsFirst} → ${fdsLast} → ${drainedFds}`, `last ≤ first +${FD_GROWTH}; after ≤ idle +2`, fdsLast <= fdsFirst + FD_GROWTH && drainedFds <= idleFds + 2);

    // The journal is compacted as it grows: past its limit by at most what arrives while a compaction runs. Every
    // session has ended, so what it holds must say nothing is live, compactions and all.
    const journal = parseJournal(readFileSync(join(d.stateDir, "journal.jsonl"), "utf8"), { verify: () => true }) // the key is in the daemon's store; only the structure matters here;
    const stillLive = new LiveRecords(journal.records);
    const journalBound = COMPACT_AT_BYTES + JOURNAL_SLACK_BYTES;
    const journalOk = size("journal.jsonl") <= journalBound && !journal.torn && stillLive.sessions.size + stillLive.leases.size === 0;
    recordFigure(area, "state dir after the run: journal (compacted as it grows; live records after all sessions ended) / audit log", `${mib(size("journal.jsonl") / 1024)} (${stillLive.sessions.size} sessions, ${stillLive.leases.size} leases) / ${mib(size("audit.jsonl") / 1024)}`, `journal ≤ ${mib(journalBound / 1024)}, 0 live`, journalOk);

    expect(errors).toEqual(new Map());
    expect(firstWaveMs).toBeLessThan(FIRST_WAVE_BOUND_S * 1000);
    expect(cycles).toBeGreaterThan(CONCURRENCY);
    expect(rssFlat, `RSS ${mib(rssFirst)} → ${mib(rssLast)}`).toBe(true);
    expect(fdsLast).toBeLessThanOrEqual(fdsFirst + FD_GROWTH);
    expect(drainedFds).toBeLessThanOrEqual(idleFds + 2);
    expect({ bytes: size("journal.jsonl") <= journalBound, torn: journal.torn, sessions: stillLive.sessions.size, leases: stillLive.leases.size }).toEqual({ bytes: true, torn: false, sessions: 0, leases: 0 });
    expect(d.process.exitCode).toBeNull();
  }, (SECONDS + 120) * 1000);
});
