/**
 * Issue 15, reproduction 1 (the SO_PEERCRED part): a fake daemon of another Unix user answers on
 * the socket the client connects to. The peer check refuses it; the user's own daemon passes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDaemonPeer } from "../../src/client/daemon-peer.js";
import { waitFor } from "../helpers/daemon.js";
import { canCreateUsers, createThrowawayUser, type ThrowawayUser } from "../helpers/throwaway-user.js";
import { tempDir } from "../helpers/tmp.js";

const VICTIM_UID = 54321;

const connected = (path: string): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });

describe.skipIf(process.platform !== "linux")("checkDaemonPeer", () => {
  let dir: { path: string; cleanup: () => void };
  let own: Server;

  beforeAll(async () => {
    dir = tempDir("broker-peer-", "/var/tmp");
    own = createServer((c) => c.end());
    await new Promise<void>((resolve) => own.listen(join(dir.path, "own.sock"), resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => own.close(resolve));
    dir.cleanup();
  });

  it("accepts the user's own daemon", async () => {
    const socket = await connected(join(dir.path, "own.sock"));
    try {
      expect(() => checkDaemonPeer(socket, join(dir.path, "own.sock"))).not.toThrow();
    } finally {
      socket.destroy();
    }
  });

  describe.skipIf(!canCreateUsers())("against another user's fake daemon", () => {
    let other: ThrowawayUser;
    let fake: ChildProcess;
    const path = () => join(dir.path, "theirs", "broker.sock");

    beforeAll(async () => {
      other = createThrowawayUser("brkpeer");
      chmodSync(dir.path, 0o711); // the other user may pass through to its own directory
      mkdirSync(join(dir.path, "theirs"), { mode: 0o755 });
      chownSync(join(dir.path, "theirs"), other.uid, other.gid);
      const server = `require("net").createServer((c) => c.end('HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\n{}')).listen(${JSON.stringify(path())}, () => console.log("listening"))`;
      fake = spawn("setpriv", [`--reuid=${other.uid}`, `--regid=${other.gid}`, "--clear-groups", "--", process.execPath, "-e", server], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      fake.stdout!.setEncoding("utf8").on("data", (s: string) => (out += s));
      await waitFor(() => out.includes("listening") || undefined, 10_000);
    });
    afterAll(() => {
      fake?.kill("SIGKILL");
      other?.remove();
    });

    it("refuses it with ERR_DAEMON_UNTRUSTED, naming the socket and the owner's uid", async () => {
      const socket = await connected(path());
      try {
        let thrown: unknown;
        try {
          // As a non-root user would check it (the suite may run as root, who trusts the owner).
          checkDaemonPeer(socket, path(), VICTIM_UID);
        } catch (error) {
          thrown = error;
        }
        expect(thrown).toMatchObject({ code: "ERR_DAEMON_UNTRUSTED", message: expect.stringContaining(`${path()} runs as uid ${other.uid} (pid ${fake.pid})`) });
        expect((thrown as { fix?: string }).fix).toMatch(/start your own `broker daemon`/);
      } finally {
        socket.destroy();
      }
    });

    it("lets root use the socket it was pointed at when the socket's owner answers it", async () => {
      const socket = await connected(path());
      try {
        expect(() => checkDaemonPeer(socket, path(), 0)).not.toThrow();
      } finally {
        socket.destroy();
      }
    });
  });
});
