import { spawn, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type SafeWriteStrategy,
  createTmpSandbox,
  defaultStrategy,
  openSandboxDir,
  removeSandboxDir,
  removeSandboxFile,
  writeSandboxFile,
} from "../../src/sinks/safe-write.js";

let base: string;
let root: string;
let outside: string;

beforeEach(() => {
  base = fs.mkdtempSync(join(tmpdir(), "broker-safe-write-"));
  root = join(base, "sandbox");
  outside = join(base, "outside");
  fs.mkdirSync(root, { mode: 0o700 });
  fs.mkdirSync(outside, { mode: 0o700 });
});

afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

// Giving a file to another user (uid 65534, nobody) needs root; /proc/self/fd needs Linux.
const isRoot = process.getuid?.() === 0;
const hasProcFd = defaultStrategy() === "procfd";
const mode = (p: string): number => fs.statSync(p).mode & 0o777;
const listOutside = (): string[] => fs.readdirSync(outside);

describe("openSandboxDir", () => {
  it("accepts a 0700 directory of ours and returns its absolute path", async () => {
    await expect(openSandboxDir(root)).resolves.toBe(root);
  });

  it.each([
    ["a world-writable directory", () => fs.chmodSync(root, 0o777)],
    ["a group-writable directory", () => fs.chmodSync(root, 0o770)],
    ["a symlink to a directory", () => (fs.rmdirSync(root), fs.symlinkSync(outside, root))],
    ["a missing directory", () => fs.rmdirSync(root)],
    ["a regular file", () => (fs.rmdirSync(root), fs.writeFileSync(root, ""))],
  ])("refuses %s", async (_what, arrange) => {
    arrange();
    await expect(openSandboxDir(root)).rejects.toMatchObject({ code: "ERR_SANDBOX_UNSAFE" });
    await expect(writeSandboxFile(root, "env", "X=1\n")).rejects.toMatchObject({ code: "ERR_SANDBOX_UNSAFE" });
    expect(listOutside()).toEqual([]);
  });

  it.runIf(isRoot)("refuses a directory owned by another user", async () => {
    fs.chownSync(root, 65534, 65534);
    await expect(openSandboxDir(root)).rejects.toMatchObject({ code: "ERR_SANDBOX_UNSAFE" });
    await expect(writeSandboxFile(root, "env", "X=1\n")).rejects.toMatchObject({ code: "ERR_SANDBOX_UNSAFE" });
  });
});

describe("createTmpSandbox", () => {
  it("makes a fresh 0700 directory that removeSandboxDir removes with everything in it", async () => {
    const { dir, handle } = await createTmpSandbox();
    expect(mode(dir)).toBe(0o700);
    fs.writeFileSync(join(outside, "keep"), "outside");
    await writeSandboxFile(dir, "aws/credentials", "secret");
    fs.mkdirSync(join(dir, "agent/deep"), { recursive: true });
    fs.writeFileSync(join(dir, "agent/deep/notes"), "x");
    fs.symlinkSync(outside, join(dir, "agent/link-to-outside"));
    await removeSandboxDir(dir);
    await handle.close();
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.readFileSync(join(outside, "keep"), "utf8")).toBe("outside");
  });
});

describe.each<SafeWriteStrategy>(hasProcFd ? ["procfd", "paths"] : ["paths"])("writeSandboxFile (%s)", (strategy) => {
  const opts = { strategy };

  it("writes 0600 files in 0700 subdirectories and replaces them atomically", async () => {
    await writeSandboxFile(root, "aws/credentials", "one", opts);
    await writeSandboxFile(root, "aws/credentials", "two", opts);
    expect(fs.readFileSync(join(root, "aws/credentials"), "utf8")).toBe("two");
    expect(mode(join(root, "aws/credentials"))).toBe(0o600);
    expect(mode(join(root, "aws"))).toBe(0o700);
    expect(fs.readdirSync(join(root, "aws"))).toEqual(["credentials"]);
  });

  it("replaces a planted symlink instead of writing through it", async () => {
    fs.writeFileSync(join(outside, "target"), "outside");
    fs.mkdirSync(join(root, "aws"), { mode: 0o700 });
    fs.symlinkSync(join(outside, "target"), join(root, "aws/credentials"));
    await writeSandboxFile(root, "aws/credentials", "secret", opts);
    expect(fs.lstatSync(join(root, "aws/credentials")).isFile()).toBe(true);
    expect(fs.readFileSync(join(root, "aws/credentials"), "utf8")).toBe("secret");
    expect(fs.readFileSync(join(outside, "target"), "utf8")).toBe("outside");
  });

  it("replaces a planted hardlink, leaving the outside file unchanged", async () => {
    fs.writeFileSync(join(outside, "target"), "outside");
    fs.mkdirSync(join(root, "aws"), { mode: 0o700 });
    fs.linkSync(join(outside, "target"), join(root, "aws/credentials"));
    await writeSandboxFile(root, "aws/credentials", "secret", opts);
    expect(fs.readFileSync(join(outside, "target"), "utf8")).toBe("outside");
    expect(fs.statSync(join(outside, "target")).nlink).toBe(1);
    expect(fs.readFileSync(join(root, "aws/credentials"), "utf8")).toBe("secret");
  });

  it("replaces a planted FIFO without blocking", async () => {
    fs.mkdirSync(join(root, "git"), { mode: 0o700 });
    execFileSync("mkfifo", [join(root, "git/credentials")]);
    const write = writeSandboxFile(root, "git/credentials", "secret", opts);
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("write blocked")), 3000).unref());
    await Promise.race([write, timeout]);
    expect(fs.lstatSync(join(root, "git/credentials")).isFile()).toBe(true);
  });

  it("replaces a subdirectory planted as a symlink to an outside directory", async () => {
    fs.symlinkSync(outside, join(root, "aws"));
    await writeSandboxFile(root, "aws/credentials", "secret", opts);
    expect(fs.lstatSync(join(root, "aws")).isDirectory()).toBe(true);
    expect(fs.readFileSync(join(root, "aws/credentials"), "utf8")).toBe("secret");
    expect(listOutside()).toEqual([]);
  });

  it.runIf(isRoot)("refuses a subdirectory owned by someone else", async () => {
    fs.mkdirSync(join(root, "gh"), { mode: 0o700 });
    fs.chownSync(join(root, "gh"), 65534, 65534);
    await expect(writeSandboxFile(root, "gh/hosts.yml", "x", opts)).rejects.toMatchObject({ code: "ERR_SANDBOX_UNSAFE" });
    expect(fs.readdirSync(join(root, "gh"))).toEqual([]);
  });

  it("leaves nothing half-written when the final name cannot be replaced", async () => {
    fs.mkdirSync(join(root, "aws/credentials/blocker"), { recursive: true, mode: 0o700 });
    await expect(writeSandboxFile(root, "aws/credentials", "secret", opts)).rejects.toMatchObject({ code: "ERR_SANDBOX_UNSAFE" });
    expect(fs.readdirSync(join(root, "aws"))).toEqual(["credentials"]);
  });

  it("refuses paths that leave the sandbox", async () => {
    for (const bad of ["../x", "/etc/passwd", "aws/../../x", "", "aws//x", "./env"]) {
      await expect(writeSandboxFile(root, bad, "x", opts)).rejects.toMatchObject({ code: "ERR_UNSAFE_PATH" });
    }
  });
});

describe.runIf(hasProcFd)("writeSandboxFile with the directory swapped mid-write (procfd)", () => {
  it("keeps writing into the directory it opened, not the symlink swapped in", async () => {
    await writeSandboxFile(root, "aws/credentials", "old");
    await writeSandboxFile(root, "aws/credentials", "secret", {
      afterOpenDir: () => {
        fs.renameSync(join(root, "aws"), join(root, "aws-moved"));
        fs.symlinkSync(outside, join(root, "aws"));
      },
    });
    expect(listOutside()).toEqual([]);
    expect(fs.readFileSync(join(root, "aws-moved/credentials"), "utf8")).toBe("secret");
  });

  it("writes nothing outside while another process keeps swapping the subdirectory", async () => {
    const script = `
      const fs = require("node:fs");
      const [aws, real, outside] = process.argv.slice(1);
      let swaps = 0;
      const until = Date.now() + 800;
      while (Date.now() < until) {
        try { fs.renameSync(aws, real); } catch {}
        try { fs.symlinkSync(outside, aws); swaps++; } catch {}
        try { fs.unlinkSync(aws); } catch {}
        try { fs.renameSync(real, aws); } catch {}
      }
      process.stdout.write(String(swaps));`;
    await writeSandboxFile(root, "aws/credentials", "first");
    const swapper = spawn(process.execPath, ["-e", script, join(root, "aws"), join(root, "aws-real"), outside]);
    let swaps = "";
    swapper.stdout.on("data", (c: Buffer) => (swaps += c.toString()));
    let running = true;
    const exited = new Promise((resolve) => swapper.on("exit", resolve)).then(() => (running = false));
    let ok = 0;
    for (let i = 0; running; i++) {
      await writeSandboxFile(root, "aws/credentials", `secret-${i}`).then(
        () => ok++,
        () => undefined,
      );
      await removeSandboxFile(root, "aws/credentials").catch(() => undefined);
    }
    await exited;
    expect(ok).toBeGreaterThan(0);
    expect(Number(swaps)).toBeGreaterThan(0);
    expect(listOutside()).toEqual([]);
  });
});

describe("removeSandboxFile", () => {
  it("removes a file it wrote and the subdirectory it leaves empty", async () => {
    const id = await writeSandboxFile(root, "aws/credentials", "secret");
    await expect(removeSandboxFile(root, "aws/credentials", id)).resolves.toBe(true);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  it("leaves a symlink planted in place of the file, and its target untouched", async () => {
    await writeSandboxFile(root, "aws/credentials", "secret");
    fs.writeFileSync(join(outside, "target"), "outside");
    fs.rmSync(join(root, "aws/credentials"));
    fs.symlinkSync(join(outside, "target"), join(root, "aws/credentials"));
    await expect(removeSandboxFile(root, "aws/credentials")).resolves.toBe(false);
    expect(fs.readFileSync(join(outside, "target"), "utf8")).toBe("outside");
  });

  it("does not descend into a subdirectory swapped for a symlink", async () => {
    await writeSandboxFile(root, "aws/credentials", "secret");
    fs.writeFileSync(join(outside, "credentials"), "outside");
    fs.renameSync(join(root, "aws"), join(root, "aws-moved"));
    fs.symlinkSync(outside, join(root, "aws"));
    await expect(removeSandboxFile(root, "aws/credentials")).resolves.toBe(false);
    expect(fs.readFileSync(join(outside, "credentials"), "utf8")).toBe("outside");
  });

  it("does not remove a different file put where ours was", async () => {
    const id = await writeSandboxFile(root, "env", "X=1\n");
    // Made before ours goes, so it cannot reuse our inode number.
    fs.writeFileSync(join(root, "other"), "someone else's");
    fs.renameSync(join(root, "other"), join(root, "env"));
    await expect(removeSandboxFile(root, "env", id)).resolves.toBe(false);
    expect(fs.readFileSync(join(root, "env"), "utf8")).toBe("someone else's");
  });

  it("removes files even after the directory was made world-writable", async () => {
    await writeSandboxFile(root, "env", "X=1\n");
    fs.chmodSync(root, 0o777);
    await expect(removeSandboxFile(root, "env")).resolves.toBe(true);
  });
});
