/**
 * Sandbox attacks. An "outside" tree of canary files mirrors the sandbox layout; attacks point at
 * it. Planted before a session: directory and file symlinks, hardlinks, FIFOs, a dangling link, a
 * file where a directory belongs and a directory where a file belongs. During a session: a loop
 * swapping aws/git/gh between real directories and symlinks to the outside tree, and renaming
 * links over the files, while 3-second credentials make the daemon rewrite every file about every
 * 2 s. Outcome: nothing outside written, created, removed or read; no credential left in the
 * sandbox after the session; sandboxes owned by another user or writable by others are refused.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, linkSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/daemon.js";
import { canCreateUsers, createThrowawayUser, type ThrowawayUser } from "../helpers/throwaway-user.js";
import { atimeDetectsReads, changedCanaries, differences, filesHolding, plantCanaries, snapshot, type Entry } from "./support/canary.js";
import { recordArgv, recordCreated, recordFigure, recordText } from "./support/evidence.js";
import { startWorld, type World } from "./support/world.js";

const TASK = "sb";
const RACE_SECONDS = 12;

/**
 * Each plants something in a fresh sandbox dir; `refused` when the session must be refused: a dir
 * holding anything broker did not write is refused (the writer's own defences against such
 * plants are played mid-session below, in test/run/planted.test.ts and test/sinks/safe-write.test.ts).
 */
const PLANTED: { name: string; refused: boolean; plant(sb: string, out: string, other: ThrowawayUser | null): void }[] = [
  { name: "aws/git/gh dirs are symlinks to outside", refused: true, plant: (sb, out) => ["aws", "git", "gh"].forEach((d) => symlinkSync(join(out, d), join(sb, d))) },
  {
    name: "every file is a symlink to an outside file",
    refused: true,
    plant: (sb, out) => {
      ["aws", "git", "gh"].forEach((d) => mkdirSync(join(sb, d), { mode: 0o700 }));
      ["aws/credentials", "aws/config", "git/credentials", "gh/hosts.yml", "env", "session.json"].forEach((f) => symlinkSync(join(out, f), join(sb, f)));
    },
  },
  {
    name: "files are hardlinks of outside files",
    refused: true,
    plant: (sb, out) => {
      mkdirSync(join(sb, "aws"), { mode: 0o700 });
      linkSync(join(out, "aws/credentials"), join(sb, "aws/credentials"));
      linkSync(join(out, "env"), join(sb, "env"));
    },
  },
  {
    name: "FIFOs where files and a directory belong",
    refused: true,
    plant: (sb) => {
      mkdirSync(join(sb, "aws"), { mode: 0o700 });
      spawnSync("mkfifo", [join(sb, "env"), join(sb, "aws/credentials"), join(sb, "gh")]);
    },
  },
  { name: "dangling symlink to a new outside file", refused: true, plant: (sb, out) => symlinkSync(join(out, "created-by-daemon"), join(sb, "session.json")) },
  { name: "a file where a directory belongs", refused: true, plant: (sb) => writeFileSync(join(sb, "git"), "not a dir\n", { mode: 0o600 }) },
  {
    name: "a non-empty directory where a file belongs",
    refused: true,
    plant: (sb) => {
      mkdirSync(join(sb, "env"));
      writeFileSync(join(sb, "env", "keep"), "x");
    },
  },
  { name: "sandbox dir writable by others (0777)", refused: true, plant: (sb) => chmodSync(sb, 0o777) },
  { name: "sandbox dir writable by group (0770)", refused: true, plant: (sb) => chmodSync(sb, 0o770) },
  { name: "sandbox dir owned by another user", refused: true, plant: (sb, _out, other) => chownSync(sb, other!.uid, other!.gid) },
  {
    name: "aws subdirectory owned by another user",
    refused: true,
    plant: (sb, _out, other) => {
      mkdirSync(join(sb, "aws"), { mode: 0o700 });
      chownSync(join(sb, "aws"), other!.uid, other!.gid);
    },
  },
];

/** Swaps aws/git/gh between real dirs and symlinks to outside, and renames links over files, until time runs out. */
const SWAPPER = `const fs = require("fs"), p = require("path");
const [sb, out, secs] = process.argv.slice(1); const end = Date.now() + Number(secs) * 1000; let n = 0;
const t = (f) => { try { f(); } catch {} }; const nap = new Int32Array(new SharedArrayBuffer(4));
while (Date.now() < end) {
  for (const d of ["aws", "git", "gh"]) { const real = p.join(sb, d + ".real" + n);
    t(() => fs.renameSync(p.join(sb, d), real)); t(() => fs.symlinkSync(p.join(out, d), p.join(sb, d)));
    Atomics.wait(nap, 0, 0, 1); t(() => fs.unlinkSync(p.join(sb, d))); t(() => fs.renameSync(real, p.join(sb, d))); }
  t(() => { fs.symlinkSync(p.join(out, "env"), p.join(sb, ".l")); fs.renameSync(p.join(sb, ".l"), p.join(sb, "env")); });
  t(() => { fs.linkSync(p.join(out, "aws/credentials"), p.join(sb, "aws/.h")); fs.renameSync(p.join(sb, "aws/.h"), p.join(sb, "aws/credentials")); });
  n++;
}
console.log(n);`;

describe("sandbox attacks", () => {
  let w: World;
  let other: ThrowawayUser | null = null;
  let out: string;
  let before: Map<string, Entry>;
  let readsDetectable = false;
  const outcomes: { name: string; refused: boolean; code: string | null; leftover: string[]; changes: number }[] = [];

  beforeAll(async () => {
    w = await startWorld([{ name: TASK, aws: true, github: true, env: true }], { stsLifetimeSeconds: 3, githubLifetimeSeconds: 3 });
    out = join(w.dir("broker-rel-outside-"), "outside");
    mkdirSync(out);
    plantCanaries(out);
    readsDetectable = atimeDetectsReads(w.dir("broker-rel-atime-"));
    if (canCreateUsers()) {
      other = createThrowawayUser();
      recordCreated("user", other.name);
    }
    before = snapshot(join(out, ".."));
  });
  afterAll(async () => {
    other?.remove();
    await w?.close();
  });

  const secrets = () => [...w.upstream(TASK).credentials, w.demo];
  const canaryInodes = () => new Set([...before.values()].map((e) => e.ino));

  it.each(PLANTED.map((p) => [p.name, p] as const))("planted before the session: %s", async (_name, attack) => {
    if (attack.name.includes("another user") && !other) return;
    const sb = w.dir("broker-rel-sb-");
    const start = snapshot(join(out, ".."));
    attack.plant(sb, out, other);
    let code: string | null = null;
    let id: string | null = null;
    try {
      id = (await w.daemon.client.openSession({ task: TASK, sandbox: { dir: sb } })).id;
    } catch (error) {
      code = (error as { code?: string }).code ?? "no code";
      recordText("api-error", `${(error as Error).message}\n${(error as { fix?: string }).fix ?? ""}`);
    }
    if (attack.refused) expect(code).toMatch(/^ERR_SANDBOX_UNSAFE$/);
    else expect(code).toBeNull();
    if (id) await w.daemon.client.closeSession(id);
    const leftover = filesHolding(sb, secrets(), canaryInodes());
    const changes = differences(start, snapshot(join(out, "..")));
    outcomes.push({ name: attack.name, refused: code !== null, code, leftover, changes: changes.length });
    expect(leftover, leftover.join("; ")).toEqual([]);
    expect(changes, changes.join("; ")).toEqual([]);
  });

  it(`keeps every write inside while aws/git/gh are swapped with outside symlinks for ${RACE_SECONDS} s during refreshes`, async () => {
    const sb = w.dir("broker-rel-race-");
    const start = snapshot(join(out, ".."));
    const session = await w.daemon.client.openSession({ task: TASK, sandbox: { dir: sb } });
    const refreshesBefore = w.audit().filter((l) => l.event === "refresh" && l.outcome === "ok" && l.session === session.id).length;
    const argv = [process.execPath, "-e", SWAPPER, sb, out, String(RACE_SECONDS)];
    recordArgv(argv);
    const swapper = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
    let swaps = "";
    swapper.stdout.setEncoding("utf8").on("data", (d: string) => (swaps += d));
    await new Promise((resolve) => swapper.once("close", resolve));
    const refreshes = w.audit().filter((l) => l.event === "refresh" && l.outcome === "ok" && l.session === session.id).length - refreshesBefore;
    const rewriteFailures = w.daemon.stderr().split("\n").filter((l) => l.includes("rewriting sandbox files on refresh failed")).length;
    const midRace = differences(start, snapshot(join(out, "..")));
    await w.daemon.client.closeSession(session.id);
    await waitFor(async () => (await w.daemon.client.listSessions()).length === 0, 5_000);
    const after = differences(start, snapshot(join(out, "..")));
    const sinceStart = differences(before, snapshot(join(out, "..")));
    const rewritten = changedCanaries(out); // last: it reads the canaries
    // The swapper renamed our directories away (aws.real7…): what they hold is the attacker's doing, inside the sandbox.
    const renamedAway = filesHolding(sb, secrets(), canaryInodes()).filter((f) => /\.real\d+\//.test(f));
    const leftInPlace = filesHolding(sb, secrets(), canaryInodes()).filter((f) => !/\.real\d+\//.test(f));

    const area = "Sandbox attacks";
    for (const o of outcomes) {
      const expected = PLANTED.find((p) => p.name === o.name)?.refused ? "refused" : "session ran";
      const result = `${o.refused ? `refused (${o.code})` : "session ran"}; ${o.changes} outside changes; ${o.leftover.length} credential files left`;
      recordFigure(area, `planted: ${o.name}`, result, `${expected}; 0; 0`, (o.refused === (expected === "refused")) && o.changes === 0 && o.leftover.length === 0);
    }
    recordFigure(area, `race: ${Number(swaps.trim()) || 0} swap rounds over ${RACE_SECONDS} s, ${refreshes} refreshes rewriting all files (${rewriteFailures} rewrites refused)`, `${midRace.length + after.length} outside changes`, "0 writes, creations, removals or reads outside", midRace.length + after.length === 0);
    recordFigure(area, "outside canaries over the whole file: written, created or removed / read (atime)", `${sinceStart.filter((d) => !d.startsWith("read")).length + rewritten.length} / ${readsDetectable ? sinceStart.filter((d) => d.startsWith("read")).length : "n/a (noatime mount)"}`, "0 / 0", sinceStart.length + rewritten.length === 0);
    recordFigure(area, "credentials left in the sandbox after the sessions (where the daemon wrote them)", leftInPlace.length + outcomes.reduce((n, o) => n + o.leftover.length, 0), "0", leftInPlace.length === 0);
    recordFigure(area, "credential files the swapper had renamed away (inside the sandbox, not the daemon's to know)", renamedAway.length, "informational", true);

    expect(Number(swaps.trim())).toBeGreaterThan(100);
    expect(refreshes).toBeGreaterThanOrEqual(4);
    expect(midRace, midRace.join("; ")).toEqual([]);
    expect(after, after.join("; ")).toEqual([]);
    expect(sinceStart, sinceStart.join("; ")).toEqual([]);
    expect(rewritten).toEqual([]);
    expect(leftInPlace).toEqual([]);
    expect(w.crashes()).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["aws", "config", "credentials", "env", "gh", "git", "session.json"]);
  });
});
