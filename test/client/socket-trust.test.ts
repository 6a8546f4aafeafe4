/**
 * The client's checks of a socket before it connects (socket-trust.ts), one refusal each, on
 * real files: a directory open to others, owned by someone else or a symlink; a socket that is
 * a symlink, open to others or owned by someone else; a path longer than sun_path holds.
 */
import { chmodSync, chownSync, mkdirSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultSocketPath } from "../../src/cli/places.js";
import { checkSocketTrust, describeUid } from "../../src/client/socket-trust.js";
import { ensureSocketDir } from "../../src/daemon/socket-dir.js";
import { tempDir } from "../helpers/tmp.js";

const me = process.getuid!();
const untrusted = expect.objectContaining({ code: "ERR_SOCKET_UNTRUSTED" });

describe("checkSocketTrust", () => {
  let root: { path: string; cleanup: () => void };
  const servers: Server[] = [];
  const listen = async (name: string, dirMode = 0o700, sockMode = 0o600): Promise<string> => {
    const dir = join(root.path, name);
    mkdirSync(dir, { mode: 0o700 });
    const socket = join(dir, "broker.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    servers.push(server);
    chmodSync(socket, sockMode);
    chmodSync(dir, dirMode);
    return socket;
  };

  beforeAll(() => {
    root = tempDir("broker-trust-");
  });
  afterAll(() => {
    for (const s of servers) s.close();
    root?.cleanup();
  });

  it("accepts the user's own 0700 directory and 0600 socket, and lets a missing one through to connect", async () => {
    expect(() => checkSocketTrust(join(root.path, "absent", "broker.sock"))).not.toThrow();
    const socket = await listen("good");
    expect(() => checkSocketTrust(socket)).not.toThrow();
    expect(() => checkSocketTrust(join(root.path, "good", "absent.sock"))).not.toThrow();
  });

  it("refuses a directory open to group or others, and a socket open to them", async () => {
    const openDir = await listen("open-dir", 0o755);
    expect(() => checkSocketTrust(openDir)).toThrow(untrusted);
    expect(() => checkSocketTrust(openDir)).toThrow(/mode 0755/);
    const openSocket = await listen("open-socket", 0o700, 0o666);
    expect(() => checkSocketTrust(openSocket)).toThrow(/it is open to group or others \(mode 0666\)/);
  });

  it("refuses a directory or socket owned by someone else, naming the owner", async () => {
    const socket = await listen("theirs");
    // As another uid sees it: root owns it.
    expect(() => checkSocketTrust(socket, 4242)).toThrow(untrusted);
    expect(() => checkSocketTrust(socket, 4242)).toThrow(`its directory ${join(root.path, "theirs")} is owned by ${describeUid(me)}, not by you (uid 4242)`);
    if (me === 0) {
      // Root trusts the directory's owner, and then the socket must be that owner's too.
      chownSync(join(root.path, "theirs"), 4242, 4242);
      expect(() => checkSocketTrust(socket)).toThrow(/it is owned by uid 0/);
    }
  });

  it("refuses a symlinked socket and a symlinked directory", async () => {
    const real = await listen("real");
    mkdirSync(join(root.path, "links"), { mode: 0o700 });
    symlinkSync(real, join(root.path, "links", "broker.sock"));
    expect(() => checkSocketTrust(join(root.path, "links", "broker.sock"))).toThrow(/it is a symlink/);
    symlinkSync(join(root.path, "real"), join(root.path, "dirlink"));
    expect(() => checkSocketTrust(join(root.path, "dirlink", "broker.sock"))).toThrow(/is a symlink/);
  });

  it("refuses a path longer than a Unix socket path may be", () => {
    expect(() => checkSocketTrust(`/tmp/${"a".repeat(110)}/broker.sock`)).toThrow(/longer than a Unix socket path may be/);
  });
});

describe("the daemon's socket directory", () => {
  it("is refused when its sessions' sockets would not fit in a Unix socket path", () => {
    const dir = `/tmp/${"d".repeat(60)}`;
    expect(() => ensureSocketDir(join(dir, "broker.sock"))).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_PATH", message: expect.stringMatching(/too long/) }));
  });
});

describe("defaultSocketPath", () => {
  it("is under XDG_RUNTIME_DIR, else under the user's own state dir, never /tmp", () => {
    expect(defaultSocketPath({ XDG_RUNTIME_DIR: "/run/user/1000", HOME: "/home/a" })).toBe("/run/user/1000/broker/broker.sock");
    expect(defaultSocketPath({ HOME: "/home/a" })).toBe("/home/a/.local/state/broker/run/broker.sock");
    expect(defaultSocketPath({ HOME: "/home/a", XDG_STATE_HOME: "/srv/state" })).toBe("/srv/state/broker/run/broker.sock");
  });
});
