/**
 * Box attacks: from inside `broker run --task boxed`, every way around the broker an injected
 * agent would try, each played against the real CLI, daemon (OS keychain) and bwrap, each
 * refused; the box's own task and its listed host work. Every output and log of these runs goes to
 * the evidence the secret-hygiene scan searches.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer as tlsServer, type Server } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { readReport, startBoxFixture, type BoxFixture } from "../run/box-fixture.js";
import { recordCreated, recordFigure, recordSecret, recordText } from "./support/evidence.js";

const AREA = "Box attacks";
const b64 = (command: string): string => `$( (${command}) 2>&1 | base64 -w0)`;

/** Each attack: a shell line inside the box, and what its output must (not) show. */
interface Attack {
  name: string;
  script: string;
  refused: (out: string) => boolean;
}

describe.skipIf(!bwrapWorks() || !process.env.DBUS_SESSION_BUS_ADDRESS)("attacks from inside the box", () => {
  let f: BoxFixture;
  let tls: Server;
  let tlsPort: number;
  let otherSession: { id: string; value: string };
  const certDir = tempDir("broker-box-tls-");
  recordCreated("dir", certDir.path);

  beforeAll(async () => {
    spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(certDir.path, "k"), "-out", join(certDir.path, "c"), "-days", "1", "-subj", "/CN=127.0.0.2", "-addext", "subjectAltName=IP:127.0.0.2"]);
    tls = tlsServer({ key: readFileSync(join(certDir.path, "k")), cert: readFileSync(join(certDir.path, "c")) }, (s) => {
      s.on("error", () => undefined);
      s.end("tls stand-in\n");
      setTimeout(() => s.destroy(), 1_000);
    });
    await new Promise<void>((resolve) => tls.listen(0, "127.0.0.2", resolve));
    tlsPort = (tls.address() as { port: number }).port;
    f = await startBoxFixture({ store: "os", extraPolicy: `  - "127.0.0.2:${tlsPort}"\n` });
    recordCreated("dir", f.d.root);
    recordCreated("dir", f.work);
    recordSecret("stored-generic", f.demo);
    // The operator's own session of another task, which the box must not reach.
    const other = await f.d.client.openSession({ task: "deploy" });
    otherSession = { id: other.id, value: other.credentials!.env.DEPLOY_TOKEN! };
    recordSecret("minted-env", otherSession.value);
  });
  afterAll(async () => {
    await new Promise((resolve) => tls?.close(resolve));
    recordText("daemon-log", f.d.stderr());
    recordText("audit", readFileSync(join(f.d.stateDir, "audit.jsonl"), "utf8"));
    await f.cleanup();
    certDir.cleanup();
  });

  const sock = (args: string) => `curl -sS --max-time 5 --unix-socket "$BROKER_SOCKET" ${args}`;
  const attacks = (): Attack[] => [
    { name: "Secret Service (secret-tool)", script: "secret-tool search --all service broker", refused: (o) => !o.includes("box-demo") && !o.includes(f.demo) },
    { name: "session bus (dbus-send)", script: "dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.ListNames", refused: (o) => !o.includes("org.freedesktop.secrets") },
    { name: "main socket", script: `curl -sS --max-time 5 --unix-socket '${f.d.socket}' http://b/v1/sessions`, refused: (o) => !o.includes(otherSession.id) },
    { name: "open another task", script: sock(`-X POST -H 'content-type: application/json' -d '{"task":"deploy"}' http://b/v1/sessions`), refused: (o) => o.includes("ERR_SESSION_SCOPE") },
    { name: "list sessions", script: sock("http://b/v1/sessions"), refused: (o) => o.includes("ERR_SESSION_SCOPE") && !o.includes(otherSession.id) },
    { name: "another session's credentials", script: sock(`http://b/v1/sessions/${otherSession.id}/credentials`), refused: (o) => !o.includes(otherSession.value) && o.includes("ERR_SESSION_SCOPE") },
    { name: "revoke another session", script: sock(`-X DELETE http://b/v1/sessions/${otherSession.id}`), refused: (o) => o.includes("ERR_SESSION_SCOPE") },
    { name: "revoke every session (broker revoke --all)", script: `node '${CLI}' revoke --all 2>&1`, refused: (o) => o.includes("ERR_SESSION_SCOPE") && !o.includes(otherSession.id) },
    { name: "file store and passphrase", script: `cat '${join(f.d.stateDir, "journal.jsonl")}' '${join(f.d.root, "state")}'/* 2>&1; echo "$BROKER_STORE_PASSPHRASE"`, refused: (o) => !o.includes("{") && !o.includes("test passphrase") },
    { name: "planted ~/.aws and ~/.ssh", script: 'cat "$HOME/.aws/credentials" "$HOME/.ssh/id_ed25519"', refused: (o) => !o.includes("AKIAPLANTED") && !o.includes("planted-operator-key") },
    { name: "see or signal the daemon", script: `kill -STOP ${f.d.process.pid} && echo SIGNALLED; ls /proc | grep -c '^[0-9]'`, refused: (o) => !o.includes("SIGNALLED") && Number(o.trim().split("\n").at(-1)) < 10 },
    { name: "write outside the working directory", script: 'touch "$HOME/planted" /var/tmp/broker-box-escape && echo WROTE', refused: (o) => !o.includes("WROTE") },
    { name: "abstract and host Unix sockets", script: "cat /proc/net/unix | wc -l", refused: (o) => Number(o.trim()) < 6 },
    { name: "direct connection around the proxy", script: `curl -sS --max-time 5 --noproxy '*' http://127.0.0.2:${f.listed.port}/`, refused: (o) => !o.includes("listed stand-in") },
    { name: "unlisted loopback host", script: `curl -sS --max-time 5 http://127.0.0.3:${f.unlisted.port}/`, refused: (o) => !o.includes("unlisted stand-in") && o.includes("egress:") },
    { name: "listed host as a front (Host)", script: `curl -sS --max-time 5 -H 'Host: 127.0.0.3:${f.unlisted.port}' http://127.0.0.2:${f.listed.port}/`, refused: (o) => !o.includes("stand-in") },
    {
      name: "listed host as a front (SNI)",
      script: `printf 'Q' | timeout 5 openssl s_client -quiet -proxy "\${HTTPS_PROXY#http://}" -connect 127.0.0.2:${tlsPort} -servername evil.example 2>&1`,
      refused: (o) => !o.includes("tls stand-in"),
    },
  ];

  it("refuses every attack, while the box's own task and listed host work", async () => {
    const list = attacks();
    const script = list.map((a, i) => `echo "a${i}_b64=${b64(a.script)}"`).join("\n") +
      `\necho "own_b64=${b64(sock("http://b/v1/session/credentials"))}"\necho "listed_b64=${b64(`curl -sS --max-time 5 http://127.0.0.2:${f.listed.port}/`)}"\n` +
      `echo "tls_b64=${b64(`printf 'Q' | timeout 5 openssl s_client -quiet -proxy "\${HTTPS_PROXY#http://}" -connect 127.0.0.2:${tlsPort} 2>&1`)}"`;
    const result = await f.d.cli(["run", "--task", "boxed", "--pass-env", "DBUS_SESSION_BUS_ADDRESS", "--", "sh", "-c", script], { cwd: f.work, timeoutMs: 120_000 });
    recordText("cli-box-attacks", `${result.stdout}\n${result.stderr}`);
    expect(result.code, result.stderr).toBe(0);
    const r = readReport(result.stdout);
    const failed = list.filter((a, i) => !a.refused(r[`a${i}`] ?? ""));
    recordFigure(AREA, "attacks refused from inside the box", `${list.length - failed.length} / ${list.length}`, `${list.length} / ${list.length}`, failed.length === 0);
    expect(failed.map((a, i) => `${a.name}: ${r[`a${i}`]}`)).toEqual([]);
    expect(JSON.parse(r.own!).env.DEMO_TOKEN).toBe(f.demo);
    expect(r.listed).toBe("listed stand-in\n");
    expect(r.tls).toContain("tls stand-in");
    // The other session lived on untouched; the box's is gone.
    expect((await f.d.client.listSessions()).map((s) => s.id)).toEqual([otherSession.id]);
    const refused = result.stderr.match(/egress proxy refused (\d+) host/)?.[1];
    recordFigure(AREA, "hosts named in the exit summary", refused ?? "none", "≥ 2", Number(refused) >= 2);
    expect(Number(refused)).toBeGreaterThanOrEqual(2);
  });

  it("audits every egress connection, refused and allowed, without payloads", () => {
    const lines = readFileSync(join(f.d.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    const egress = lines.filter((l) => l.event === "egress");
    const denied = egress.filter((l) => l.outcome === "denied");
    recordFigure(AREA, "egress audit lines (denied / ok)", `${denied.length} / ${egress.length - denied.length}`, "≥ 3 / ≥ 2", denied.length >= 3 && egress.length - denied.length >= 2);
    expect(denied.map((l) => l.reason)).toEqual(expect.arrayContaining(["not in egress", "host-mismatch", "sni-mismatch"]));
    expect(egress.every((l) => typeof l.bytesIn === "number" && !JSON.stringify(l).includes("stand-in"))).toBe(true);
  });
});
