/**
 * The bridge program (native/broker-bridge), the box's first process, in a real bwrap box with
 * no network but its own loopback: a client inside reaches a Unix-socket echo server outside
 * through 127.0.0.1:PORT (a payload over 1 MiB, several connections at once, half-close passed
 * on both ways); the ready byte arrives on fd 4 and CMD gets neither fd 3 nor fd 4; a missing
 * command is exit 127 with broker's message; a port it cannot bind is exit 1, CMD never run;
 * and a shell CMD's `wait` does not wait for the forwarder (it is not CMD's child).
 */
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBridge } from "../../src/sandbox/bridge-command.js";
import { bwrapWorks } from "../helpers/bwrap.js";
import { tempDir } from "../helpers/tmp.js";

const bridge = findBridge();
const MOUNT = "/run/bridge-test";
const PORT = 24_680;

/** The client run inside: one connection per size, all at once; prints `size:received:intact` per connection. */
const CLIENT = `
const net = require("node:net");
const port = Number(process.argv[2]);
const pattern = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 10)) & 255));
Promise.all(process.argv.slice(3).map(Number).map((size) => new Promise((resolve) => {
  const sent = pattern(size);
  const chunks = [];
  const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true }, () => socket.end(sent));
  socket.on("data", (c) => chunks.push(c));
  socket.on("error", (e) => resolve(size + ":error:" + e.code));
  socket.on("end", () => { const got = Buffer.concat(chunks); resolve(size + ":" + got.length + ":" + got.equals(sent)); });
}))).then((lines) => console.log(lines.join("\\n")));
`;

describe.skipIf(!bwrapWorks())("broker-bridge in a box", () => {
  const dir = tempDir("broker-bridge-", "/var/tmp");
  let server: Server;

  /** bwrap with a private network and /run, the test dir at MOUNT; fds 3 and 4 are pipes. */
  function box(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string; ready: string }> {
    // The bridge's own directory stays visible, as broker run keeps it: a checkout may live under /tmp.
    const bwrap = ["--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/run", "--ro-bind", dirname(bridge!), dirname(bridge!), "--ro-bind", dir.path, MOUNT];
    const child = spawn("bwrap", [...bwrap, "--", bridge!, ...args], { stdio: ["pipe", "pipe", "pipe", "pipe", "pipe"] });
    const out = { stdout: "", stderr: "", ready: "" };
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out.stdout += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (out.stderr += d));
    (child.stdio[4] as Readable).setEncoding("utf8").on("data", (d: string) => (out.ready += d));
    (child.stdio[3] as Readable).resume();
    child.stdin!.end(input);
    return new Promise((resolve) => child.on("close", (code) => resolve({ code, ...out })));
  }

  beforeAll(async () => {
    writeFileSync(join(dir.path, "client.cjs"), CLIENT);
    // The echo server: what comes in goes back; the client's end becomes the server's end.
    server = createServer({ allowHalfOpen: true }, (socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => server.listen(join(dir.path, "echo.sock"), resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    dir.cleanup();
  });

  it("is built next to the addon", () => {
    expect(bridge).toMatch(/native\/build\/Release\/broker-bridge$/);
  });

  it("echoes through 127.0.0.1:PORT to the Unix socket outside: over 1 MiB, several connections, half-close both ways", async () => {
    const sizes = [1_600_000, 0, 1, 65_536, 200_000];
    const result = await box([`${PORT}=${MOUNT}/echo.sock`, `${PORT + 1}=${MOUNT}/echo.sock`, "--", process.execPath, `${MOUNT}/client.cjs`, String(PORT), ...sizes.map(String)]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split("\n")).toEqual(sizes.map((s) => `${s}:${s}:true`));
    expect(result.ready).toBe("r");
  });

  it("sends the ready byte on fd 4 and starts CMD without fds 3 and 4, with zero bridges too", async () => {
    const probe = 'for fd in 3 4; do if [ -e /proc/self/fd/$fd ]; then echo "fd$fd open"; else echo "fd$fd closed"; fi; done';
    for (const bridges of [[], [`${PORT}=${MOUNT}/echo.sock`]]) {
      const result = await box([...bridges, "--", "sh", "-c", probe]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.ready).toBe("r");
      expect(result.stdout).toBe("fd3 closed\nfd4 closed\n");
    }
  });

  it("a shell CMD's wait returns at once: the forwarder is not its child, and still forwards after", async () => {
    // Were the forwarder CMD's child, `wait` would block until the box died (the test's timeout).
    const result = await box([`${PORT}=${MOUNT}/echo.sock`, "--", "sh", "-c", `wait; echo waited; exec "$0" "$@"`, process.execPath, `${MOUNT}/client.cjs`, String(PORT), "5"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("waited\n5:5:true\n");
  });

  it("a missing command is exit 127 with broker's message", async () => {
    const result = await box([`${PORT}=${MOUNT}/echo.sock`, "--", "no-such-command-here"]);
    expect(result.code).toBe(127);
    expect(result.stderr).toBe("broker: cannot run no-such-command-here in the sandbox (not found; check the command name and PATH)\n");
    expect(result.ready).toBe("r");
  });

  it("a command it may not execute is exit 126", async () => {
    const result = await box(["--", `${MOUNT}/client.cjs`]);
    expect(result.code).toBe(126);
    expect(result.stderr).toBe(`broker: cannot run ${MOUNT}/client.cjs in the sandbox (Permission denied)\n`);
  });

  it("a port it cannot listen on is exit 1, no ready byte, CMD never run", async () => {
    const result = await box([`${PORT}=${MOUNT}/echo.sock`, `${PORT}=${MOUNT}/echo.sock`, "--", "sh", "-c", "echo ran"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`broker: the sandbox's network bridge did not start (port ${PORT}: Address already in use)\n`);
    expect(result.stdout).toBe("");
    expect(result.ready).toBe("");
  });

  it("refuses a malformed bridge or a missing --", () => {
    for (const args of [["80", "--", "true"], ["x=/s", "--", "true"], ["70000=/s", "--", "true"], ["1=/s", "true"], ["--"]]) {
      const result = spawnSync(bridge!, args, { encoding: "utf8" });
      expect(result.status, args.join(" ")).toBe(2);
      expect(result.stderr).toContain("usage: broker-bridge PORT=UNIXSOCKET... -- CMD ARGS...");
    }
  });
});
