/**
 * Socket access. A throwaway second user (useradd; removed after) tries the running daemon's
 * socket and state directory: connecting fails with EACCES (the socket directory is 0700, and
 * the socket itself 0600 even if that directory is later opened up), and the journal, audit log
 * and file store cannot be read. A control opens the socket up and shows the probe would see it.
 * The daemon refuses to start on a socket directory with group/other bits, owned by someone
 * else, or that is a symlink.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { canCreateUsers, createThrowawayUser, type ThrowawayUser } from "../helpers/throwaway-user.js";
import { tempDir } from "../helpers/tmp.js";
import { recordArgv, recordCreated, recordFigure, recordSecret, recordText } from "./support/evidence.js";
import { CLI } from "../helpers/cli.js";

const SECRET = `socket-test-${"5f".repeat(12)}`;
const PROBE = `const net = require("net"), fs = require("fs");
const [sock, state] = process.argv.slice(1); const out = {};
const t = (k, f) => { try { f(); out[k] = "ok"; } catch (e) { out[k] = e.code; } };
t("list state dir", () => fs.readdirSync(state));
t("read audit log", () => fs.readFileSync(state + "/audit.jsonl"));
t("read journal", () => fs.readFileSync(state + "/journal.jsonl"));
t("read file store", () => fs.readFileSync(state + "/secrets.jwe"));
const s = net.connect(sock);
s.on("connect", () => { out.connect = "ok"; s.destroy(); console.log(JSON.stringify(out)); });
s.on("error", (e) => { out.connect = e.code; console.log(JSON.stringify(out)); });`;

const mode = (path: string) => statSync(path).mode & 0o777;

describe.skipIf(!canCreateUsers())("socket access", () => {
  let d: TestDaemon;
  let user: ThrowawayUser;
  const rows: [string, string, string, boolean][] = [];

  beforeAll(async () => {
    user = createThrowawayUser();
    recordCreated("user", user.name);
    d = await startTestDaemon({ policies: { report: "task: report\nttl: 5m\nenv:\n  DEMO: { secret: demo }\n" } });
    recordCreated("dir", d.root);
    recordSecret("generic-socket", SECRET);
    await d.cli(["secret", "set", "demo", "--type", "generic"], { input: SECRET });
    await d.client.openSession({ task: "report" }); // so the journal and audit log have lines
    chmodSync(d.root, 0o711); // the second user may walk to the daemon's dirs, as it could to /run/user or /tmp
  });
  afterAll(async () => {
    for (const row of rows) recordFigure("Socket access", ...row);
    user?.remove();
    recordText("daemon-log", d?.stderr() ?? "");
    await d?.cleanup();
  });

  const probe = (): Record<string, string> => {
    const argv = [process.execPath, "-e", PROBE, d.socket, d.stateDir];
    recordArgv(["setpriv", `--reuid=${user.uid}`, "…", ...argv]);
    const result = user.run(argv);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, string>;
  };

  it("keeps a second user out of the socket and the state directory", async () => {
    const seen = probe();
    expect(seen).toEqual({ "list state dir": "EACCES", "read audit log": "EACCES", "read journal": "EACCES", "read file store": "EACCES", connect: "EACCES" });
    rows.push([`second user (uid ${user.uid}, setpriv): connect to the socket`, seen.connect!, "EACCES", seen.connect === "EACCES"]);
    const state = Object.entries(seen).filter(([k]) => k !== "connect");
    rows.push(["second user: list the state dir; read audit log, journal, file store", state.map(([, v]) => v).join(", "), "EACCES ×4", state.every(([, v]) => v === "EACCES")]);
    const modes = { socket: mode(d.socket), "socket dir": mode(join(d.socket, "..")), "state dir": mode(d.stateDir), "audit.jsonl": mode(join(d.stateDir, "audit.jsonl")), "journal.jsonl": mode(join(d.stateDir, "journal.jsonl")), "secrets.jwe": mode(join(d.stateDir, "secrets.jwe")) };
    const shown = Object.entries(modes).map(([k, m]) => `${k} ${m.toString(8)}`).join(", ");
    const ok = modes.socket === 0o600 && modes["socket dir"] === 0o700 && modes["state dir"] === 0o700 && modes["audit.jsonl"] === 0o600 && modes["journal.jsonl"] === 0o600 && modes["secrets.jwe"] === 0o600;
    rows.push(["modes on disk", shown, "socket & files 600, dirs 700", ok]);
    expect(ok, shown).toBe(true);
    expect((await d.client.health()).ok).toBe(true); // the owner still gets in
  });

  it("still refuses the second user when the socket dir is opened up later (the socket is 0600), and the probe sees a socket opened to all", () => {
    const dir = join(d.socket, "..");
    chmodSync(dir, 0o711);
    let loosened: Record<string, string>;
    let opened: Record<string, string>;
    try {
      loosened = probe();
      chmodSync(d.socket, 0o666);
      opened = probe();
    } finally {
      chmodSync(d.socket, 0o600);
      chmodSync(dir, 0o700);
    }
    rows.push(["second user, socket dir loosened to 711 after start: connect", loosened.connect!, "EACCES (socket is 600)", loosened.connect === "EACCES"]);
    rows.push(["control: socket dir 711 and socket 666: the same probe connects", opened.connect!, "ok (the probe can see access)", opened.connect === "ok"]);
    expect(loosened.connect).toBe("EACCES");
    expect(opened.connect).toBe("ok");
  });

  it("refuses to start on a socket directory that is not private", async () => {
    const tmp = tempDir("broker-rel-sockdir-");
    recordCreated("dir", tmp.path);
    try {
      const cases: [string, string][] = [];
      for (const m of [0o755, 0o750, 0o770, 0o705, 0o701, 0o710, 0o777]) {
        const dir = join(tmp.path, `m${m.toString(8)}`);
        mkdirSync(dir);
        chmodSync(dir, m);
        cases.push([`mode ${m.toString(8)}`, dir]);
      }
      const owned = join(tmp.path, "owned");
      mkdirSync(owned, { mode: 0o700 });
      chownSync(owned, user.uid, user.gid);
      cases.push(["0700 but owned by the second user", owned]);
      const real = join(tmp.path, "real");
      mkdirSync(real, { mode: 0o700 });
      symlinkSync(real, join(tmp.path, "link"));
      cases.push(["a symlink to a 0700 dir", join(tmp.path, "link")]);
      const results = await Promise.all(
        cases.map(async ([name, dir]) => {
          const env = { ...d.env, BROKER_SOCKET: join(dir, "broker.sock"), BROKER_STATE_DIR: join(tmp.path, `state-${name.replace(/\W/g, "")}`) };
          recordArgv([process.execPath, CLI, "daemon"]);
          const r = await runCli(["daemon"], { env, timeoutMs: 15_000 });
          recordText("daemon-refusal", r.stderr);
          return { name, refused: r.code === 1 && r.stderr.includes("ERR_UNSAFE_PATH") && !existsSync(join(dir, "broker.sock")), code: r.code };
        }),
      );
      const refused = results.filter((r) => r.refused).map((r) => r.name);
      rows.push([`daemon start on an unsafe socket dir (${cases.map(([n]) => n).join("; ")})`, `${refused.length}/${cases.length} refused (ERR_UNSAFE_PATH, exit 1, no socket)`, "all", refused.length === cases.length]);
      expect(results.filter((r) => !r.refused)).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });
});
