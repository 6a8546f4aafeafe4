/**
 * What recovery may remove, seen on the sink itself: a journal line naming a directory is not
 * enough; only a --sandbox-tmp directory by broker's own name under its own root, and only files
 * beside a session.json carrying the daemon's marker for that session.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { journalMac, sandboxMarker } from "../../src/sessions/journal-mac.js";
import { createSandboxSink } from "../../src/sinks/sandbox-sink-impl.js";
import { tempDir } from "../helpers/tmp.js";

const marker = sandboxMarker(journalMac(Buffer.alloc(32, 3)));
const sink = createSandboxSink(marker);
let base: { path: string; cleanup: () => void };
beforeEach(() => (base = tempDir("broker-claim-")));
afterEach(() => base.cleanup());

function tree(): string {
  const dir = join(base.path, "project");
  fs.mkdirSync(join(dir, "aws"), { recursive: true, mode: 0o700 });
  fs.writeFileSync(join(dir, "aws", "credentials"), "[default]\naws_access_key_id = AKIAOPERATOR\n");
  fs.writeFileSync(join(dir, "env"), "MINE=1\n");
  fs.writeFileSync(join(dir, "session.json"), JSON.stringify({ id: "s1", marker: "0".repeat(64) }));
  return dir;
}

describe("recovery's removal", () => {
  it("refuses to remove a directory tree the journal calls a --sandbox-tmp one but broker did not make", async () => {
    const dir = tree();
    await expect(sink.removeLeftovers({ dir, tmp: true }, "s1")).rejects.toMatchObject({ code: "ERR_SANDBOX_UNSAFE" });
    expect(fs.readFileSync(join(dir, "aws", "credentials"), "utf8")).toContain("AKIAOPERATOR");
  });

  it("leaves the files of a given directory whose session.json lacks the daemon's marker", async () => {
    const dir = tree();
    await sink.removeLeftovers({ dir, tmp: false }, "s1");
    expect(fs.readdirSync(dir).sort()).toEqual(["aws", "env", "session.json"]);
  });

  it("removes what a session of ours left, beside its marked session.json, and a tmp dir it made", async () => {
    const dir = tree();
    fs.writeFileSync(join(dir, "session.json"), JSON.stringify({ id: "s1", marker: marker.mark("s1") }));
    await sink.removeLeftovers({ dir, tmp: false }, "s2"); // another session's record: not this one's files
    expect(fs.readdirSync(dir)).toHaveLength(3);
    await sink.removeLeftovers({ dir, tmp: false }, "s1");
    expect(fs.readdirSync(dir)).toEqual([]);
    const tmp = await sink.prepare({ tmp: true });
    await sink.removeLeftovers({ dir: tmp.dir, tmp: true }, "s3");
    expect(fs.existsSync(tmp.dir)).toBe(false);
  });
});
