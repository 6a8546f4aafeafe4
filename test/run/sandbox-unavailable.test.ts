/**
 * Where no box can be made, `broker run` refuses (exit 1, ERR_SANDBOX_UNAVAILABLE, a fix naming
 * the package or the sysctl and --no-sandbox) and never runs CMD unconfined by itself; `broker
 * doctor` says the same. A missing bwrap is a PATH without it; refused user namespaces are a
 * stand-in `bwrap` that fails the way bwrap does there, before running anything; a bridge program
 * not built is a copy of the package whose native/ holds the addon only. socat is not needed.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findOnPath } from "../../src/util/find-on-path.js";
import { tempDir } from "../helpers/tmp.js";
import { startRunFixture, type RunFixture } from "./run-fixture.js";

describe("broker run without a sandbox to run in", () => {
  let f: RunFixture;
  const bins = tempDir("broker-no-box-");
  const marker = join(bins.path, "cmd-ran");
  /** A PATH holding only what the CLI and CMD need (sh, node, touch), plus `extra` first. */
  const pathWith = (extra: string): string => `${extra}:${join(bins.path, "base")}`;
  beforeAll(async () => {
    f = await startRunFixture();
    mkdirSync(join(bins.path, "base"));
    for (const tool of ["sh", "touch", "node"]) {
      const found = findOnPath(tool, process.env.PATH);
      if (found) symlinkSync(found, join(bins.path, "base", tool));
    }
    mkdirSync(join(bins.path, "refused"));
    writeFileSync(join(bins.path, "refused", "bwrap"), "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n");
    chmodSync(join(bins.path, "refused", "bwrap"), 0o755);
    mkdirSync(join(bins.path, "none"));
  });
  afterAll(async () => {
    await f.cleanup();
    bins.cleanup();
  });

  it("refuses when bwrap is not installed, naming the package and --no-sandbox, before opening a session", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--", "touch", marker], { env: { PATH: pathWith(join(bins.path, "none")) } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_SANDBOX_UNAVAILABLE");
    expect(result.stderr).toContain("bubblewrap");
    expect(result.stderr).toContain("--no-sandbox");
    expect(existsSync(marker)).toBe(false);
    expect((await f.d.client.health()).sessions).toBe(0);
  });

  it("refuses when user namespaces are refused, naming the sysctl, runs nothing and ends the session", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--", "touch", marker], { env: { PATH: pathWith(join(bins.path, "refused")) } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_SANDBOX_UNAVAILABLE");
    expect(result.stderr).toContain("kernel.apparmor_restrict_unprivileged_userns");
    expect(existsSync(marker)).toBe(false);
    expect(await f.d.client.listSessions()).toEqual([]);
  });

  it("refuses when the bridge program is not built, naming npm ci / npm rebuild, before opening a session", async () => {
    const root = fileURLToPath(new URL("../../", import.meta.url));
    const pkg = join(bins.path, "pkg");
    cpSync(join(root, "dist"), join(pkg, "dist"), { recursive: true });
    cpSync(join(root, "package.json"), join(pkg, "package.json"));
    mkdirSync(join(pkg, "native", "build", "Release"), { recursive: true });
    cpSync(join(root, "native", "build", "Release", "broker_native.node"), join(pkg, "native", "build", "Release", "broker_native.node"));
    symlinkSync(join(root, "node_modules"), join(pkg, "node_modules"));
    const result = spawnSync(process.execPath, [join(pkg, "dist", "bin", "broker.cjs"), "run", "--task", "agent", "--", "touch", marker], { env: f.d.env, encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("ERR_SANDBOX_UNAVAILABLE");
    expect(result.stderr).toContain("native/build/Release/broker-bridge");
    expect(result.stderr).toContain("npm rebuild");
    expect(result.stderr).toContain("--no-sandbox");
    expect(existsSync(marker)).toBe(false);
    expect((await f.d.client.health()).sessions).toBe(0);
  });

  it("runs unconfined only when asked to, with the warning", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--no-sandbox", "--", "touch", marker], { env: { PATH: pathWith(join(bins.path, "none")) } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: --no-sandbox: .*keychain/);
    expect(existsSync(marker)).toBe(true);
  });

  it("broker doctor checks the sandbox: fails without bwrap, passes with it", async () => {
    const missing = await f.d.cli(["doctor"], { env: { PATH: pathWith(join(bins.path, "none")) } });
    expect(missing.stdout).toMatch(/FAIL\s+sandbox: bwrap is not installed/);
    expect(missing.stdout).toContain("apt-get install bubblewrap");
    const present = await f.d.cli(["doctor"]);
    expect(present.stdout).toMatch(/ok\s+sandbox: bwrap makes a box here.*native\/build\/Release\/broker-bridge bridges its network/);
  });
});
