/**
 * Secret hygiene, after every other file has run: every stored secret and every credential the
 * stand-ins minted (recorded by the fault proxies, evidence.ts) is searched for in every daemon
 * log, audit log, journal, CLI error output and socket error message the suite saw, and in the argv
 * of every process it started (recorded at spawn, and sampled from /proc/<pid>/cmdline every 20 ms
 * by the global setup): 0 hits. Then: no process, temp directory or user the suite made is left.
 */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { userExists } from "../helpers/throwaway-user.js";
import { readJsonLines, readTexts, recordFigure } from "./support/evidence.js";

const WINDOW = 12;

/** Every (secret, place) pair where a secret occurs: one pass over each text, a map of 12-char prefixes. */
function findSecrets(secrets: string[], texts: { name: string; text: string }[]): { secret: string; where: string }[] {
  const byPrefix = new Map<string, string[]>();
  for (const s of new Set(secrets)) byPrefix.set(s.slice(0, WINDOW), [...(byPrefix.get(s.slice(0, WINDOW)) ?? []), s]);
  const hits: { secret: string; where: string }[] = [];
  for (const { name, text } of texts) {
    for (let i = 0; i + WINDOW <= text.length; i++) {
      const candidates = byPrefix.get(text.slice(i, i + WINDOW));
      if (!candidates) continue;
      for (const s of candidates) if (text.startsWith(s, i)) hits.push({ secret: `${s.slice(0, 6)}…(${s.length} chars)`, where: name });
    }
  }
  return hits;
}

interface ArgvRecord {
  source: "spawn" | "sampled";
  pid?: number;
  /** Sampled under this run's vitest process (not, say, another checkout's tests on the same machine). */
  mine?: boolean;
  argv: string[];
}

describe("secret hygiene over the whole suite", () => {
  const secrets = readJsonLines<{ kind: string; value: string }>("secrets.jsonl");
  const argv = readJsonLines<ArgvRecord>("argv.jsonl");
  const created = readJsonLines<{ kind: "dir" | "user"; name: string }>("created.jsonl");

  it("finds no stored secret or minted credential in any log, audit line, error or argv", () => {
    const texts = readTexts();
    const argvTexts = argv.map((a, i) => ({ name: `argv-${a.source}-${i}`, text: a.argv.join(" ") }));
    const all = [...texts, ...argvTexts];
    const values = secrets.map((s) => s.value);

    // The scanner itself: a planted secret must be found, or 0 hits would mean nothing.
    const control = findSecrets(values.slice(0, 1), [{ name: "control", text: `xx ${values[0]} yy` }]);
    expect(control).toHaveLength(1);

    const hits = findSecrets(values, all);
    const kinds = new Map<string, number>();
    for (const s of secrets) kinds.set(s.kind.replace(/-line$/, ""), (kinds.get(s.kind.replace(/-line$/, "")) ?? 0) + 1);
    const labels = new Map<string, number>();
    for (const t of texts) {
      const label = t.name.replace(/-\d+-\d+\.txt$/, "");
      labels.set(label, (labels.get(label) ?? 0) + 1);
    }
    const bytes = all.reduce((n, t) => n + t.text.length, 0);
    const sampled = argv.filter((a) => a.source === "sampled").length;
    const area = "Secret hygiene";
    recordFigure(area, "secrets searched for", `${new Set(values).size} (${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")})`, "—", true);
    recordFigure(area, "places searched", `${texts.length} texts (${[...labels].map(([k, n]) => `${k} ${n}`).join(", ")}), ${argv.length - sampled} spawned + ${sampled} sampled argv; ${(bytes / 1e6).toFixed(1)} MB`, "—", true);
    recordFigure(area, "hits", hits.length === 0 ? "0" : hits.slice(0, 5).map((h) => `${h.secret} in ${h.where}`).join("; "), "0", hits.length === 0);

    // Not vacuous: the suite really did mint, log and start processes.
    expect(kinds.get("minted-github") ?? 0).toBeGreaterThan(50);
    expect(kinds.get("minted-aws") ?? 0).toBeGreaterThan(50);
    expect(labels.get("daemon-log") ?? 0).toBeGreaterThan(3);
    expect(labels.get("audit") ?? 0).toBeGreaterThan(3);
    expect(sampled).toBeGreaterThan(50);
    expect(hits).toEqual([]);
  });

  it("leaves no process, temp directory or user behind", () => {
    const self = new Set([process.pid, process.ppid]);
    const still = argv.filter((a) => {
      if (a.source !== "sampled" || !a.mine || a.pid === undefined || self.has(a.pid) || a.argv.some((x) => x.includes("vitest"))) return false;
      try {
        return readFileSync(`/proc/${a.pid}/cmdline`, "utf8").replace(/\0$/, "").split("\0").join(" ") === a.argv.join(" ");
      } catch {
        return false;
      }
    });
    const dirs = created.filter((c) => c.kind === "dir" && existsSync(c.name)).map((c) => c.name);
    const users = created.filter((c) => c.kind === "user" && userExists(c.name)).map((c) => c.name);
    const area = "Secret hygiene";
    recordFigure(area, "left behind: processes / temp dirs / users", `${still.length} / ${dirs.length} / ${users.length}`, "0 / 0 / 0", still.length + dirs.length + users.length === 0);
    expect(still.map((a) => `${a.pid}: ${a.argv.join(" ").slice(0, 200)}`)).toEqual([]);
    expect(dirs).toEqual([]);
    expect(users).toEqual([]);
  });
});
