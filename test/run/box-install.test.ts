/**
 * A broker installed under /tmp (a CI checkout, say) still starts its box: /tmp is private in
 * the box, so the package root and the bridge program's directory are bound back in, and CMD
 * reaches the session's proxy through the bridge (an HTTP answer on 127.0.0.1:PORT).
 */
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks } from "../helpers/bwrap.js";
import { tempDir } from "../helpers/tmp.js";
import { nodeCmd, startRunFixture, type RunFixture } from "./run-fixture.js";

// Connects to the proxy named in HTTPS_PROXY and prints the status line it answers.
const ASK_PROXY = `
const net = require("node:net");
const url = new URL(process.env.HTTPS_PROXY);
const s = net.connect(Number(url.port), url.hostname, () => s.write("GET http://refused.invalid/ HTTP/1.1\\r\\nhost: refused.invalid\\r\\nconnection: close\\r\\n\\r\\n"));
let got = "";
s.on("data", (d) => (got += d)).on("end", () => console.log(got.split("\\r\\n")[0])).on("error", (e) => console.log("error " + e.code));
`;

describe.skipIf(!bwrapWorks())("broker run from a package under /tmp", () => {
  let f: RunFixture;
  const pkg = tempDir("broker-pkg-", "/tmp");
  beforeAll(async () => {
    f = await startRunFixture();
    const root = fileURLToPath(new URL("../../", import.meta.url));
    cpSync(join(root, "dist"), join(pkg.path, "dist"), { recursive: true });
    cpSync(join(root, "package.json"), join(pkg.path, "package.json"));
    mkdirSync(join(pkg.path, "native", "build"), { recursive: true });
    cpSync(join(root, "native", "build", "Release"), join(pkg.path, "native", "build", "Release"), { recursive: true });
    symlinkSync(join(root, "node_modules"), join(pkg.path, "node_modules"));
  });
  afterAll(async () => {
    await f.cleanup();
    pkg.cleanup();
  });

  it("runs CMD in the box behind its own bridge program, which reaches the proxy", async () => {
    expect(pkg.path.startsWith("/tmp/")).toBe(true);
    const cli = join(pkg.path, "dist", "bin", "broker.cjs");
    const child = spawn(process.execPath, [cli, "run", "--task", "agent", "--", ...nodeCmd(ASK_PROXY)], { env: f.d.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^HTTP\/1\.1 \d{3}/);
  });
});
