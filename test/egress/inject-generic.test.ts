/**
 * A generic secret injected at the egress proxy, end to end: real clients in the box `broker run`
 * makes (curl over HTTP/1.1 and HTTP/2, Python requests, Node's undici through the proxy
 * variables, a WebSocket client) hold only a placeholder and reach a TLS stand-in on 127.0.0.2
 * that accepts only the real value. The real value is counted in everything the box could see.
 * Then the tripwire: the placeholder in a body, or a request whose Host is not its CONNECT host,
 * is refused, audited as `leak`, and ends the session.
 */
import { createRequire } from "node:module";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks } from "../helpers/bwrap.js";
import { startTestDaemon, waitFor, type TestDaemon } from "../helpers/daemon.js";
import { makeTestCa, type TestCa } from "../helpers/test-ca.js";
import { tempDir } from "../helpers/tmp.js";
import { randomValue } from "../run/run-fixture.js";
import { boxReport, getDirect, getViaProxy, occurrences, startApiStandIn, type ApiStandIn } from "./inject-stand-in.js";

const UNDICI = createRequire(import.meta.url).resolve("undici");
const WS = createRequire(import.meta.url).resolve("ws");

type AuditLine = Record<string, unknown>;
const auditOf = (d: TestDaemon): AuditLine[] =>
  readFileSync(join(d.stateDir, "audit.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditLine);

/** A Node client through the proxy variables (undici's EnvHttpProxyAgent reads HTTPS_PROXY and NODE_EXTRA_CA_CERTS' bundle). */
const NODE_CLIENT = `
const { EnvHttpProxyAgent, fetch } = require(process.argv[2]);
const tls = require("node:tls"); const fs = require("node:fs");
const ca = fs.readFileSync(process.env.SSL_CERT_FILE, "utf8");
fetch(process.argv[3], { headers: { authorization: "Bearer " + process.env.OPENAI_API_KEY }, dispatcher: new EnvHttpProxyAgent({ connect: { ca } }) })
  .then((r) => r.text()).then((t) => console.log("node=" + t.trim()), (e) => console.log("node=failed " + e.message));
`;

/** A WebSocket client through a CONNECT tunnel it opens itself (ws has no proxy support of its own). */
const WS_CLIENT = `
const WebSocket = require(process.argv[2]); const http = require("node:http"); const tls = require("node:tls"); const fs = require("node:fs");
const proxy = new URL(process.env.HTTPS_PROXY); const target = new URL(process.argv[3]);
http.request({ host: proxy.hostname, port: proxy.port, method: "CONNECT", path: target.host }).on("connect", (res, socket) => {
  const ws = new WebSocket(process.argv[3], { headers: { authorization: "Bearer " + process.env.OPENAI_API_KEY },
    createConnection: () => tls.connect({ socket, host: target.hostname, ca: fs.readFileSync(process.env.SSL_CERT_FILE, "utf8"), ALPNProtocols: ["http/1.1"] }) });
  ws.on("open", () => ws.send("hello"));
  ws.on("message", (m) => { console.log("ws=" + m); ws.close(); });
  ws.on("error", (e) => console.log("ws=failed " + e.message));
}).on("error", (e) => console.log("ws=failed " + e.message)).end();
`;

describe.skipIf(!bwrapWorks())("a generic secret injected at the egress proxy", () => {
  const dir = tempDir("broker-inject-", "/var/tmp");
  const work = tempDir("broker-inject-work-", "/var/tmp");
  let ca: TestCa;
  let api: ApiStandIn;
  let d: TestDaemon;
  const bearer = randomValue("sk-real");
  const key = randomValue("key-real");
  beforeAll(async () => {
    ca = makeTestCa(dir.path);
    api = await startApiStandIn(ca, { bearer, key });
    const at = `"127.0.0.2:${api.port}"`;
    const policy =
      `task: api\nttl: 5m\nenv:\n` +
      `  OPENAI_API_KEY:\n    secret: openai\n    inject: { host: ${at}, header: Authorization, format: "Bearer {value}" }\n` +
      `  SEARCH_KEY:\n    secret: search\n    inject: { host: ${at}, query: key }\n`;
    // The daemon trusts the test CA as an operator's corporate CA: through NODE_EXTRA_CA_CERTS.
    const policies = { api: policy, leaky: policy.replace("task: api", "task: leaky"), denying: policy.replace("task: api", "task: denying") + "on_leak: deny\n" };
    d = await startTestDaemon({ parent: "/var/tmp", policies, env: { NODE_EXTRA_CA_CERTS: ca.certFile } });
    for (const [name, value] of [["openai", bearer], ["search", key]] as const) {
      const set = await d.cli(["secret", "set", name, "--type", "generic"], { input: `${value}\n` });
      expect(set.code, set.stderr).toBe(0);
    }
    writeFileSync(join(work.path, "node-client.cjs"), NODE_CLIENT);
    writeFileSync(join(work.path, "ws-client.cjs"), WS_CLIENT);
  }, 60_000);
  afterAll(async () => {
    await d?.cleanup();
    await api?.close();
    dir.cleanup();
    work.cleanup();
  });

  const run = (task: string, script: string) => d.cli(["run", "--task", task, "--sandbox-tmp", "--", "sh", "-c", script], { cwd: work.path, timeoutMs: 60_000 });

  it("real clients in the box hold a placeholder, and the stand-in gets the real value", async () => {
    const url = `https://127.0.0.2:${api.port}`;
    const script = `
      echo "session=$BROKER_SESSION"
      echo "curl=$(curl -sS -H "Authorization: Bearer $OPENAI_API_KEY" ${url}/v1/models)"
      echo "h2=$(curl -sS --http2 -o /dev/null -w '%{http_version}' -H "Authorization: Bearer $OPENAI_API_KEY" ${url}/h2)"
      echo "query=$(curl -sS "${url}/search?q=x&key=$SEARCH_KEY")"
      echo "python=$(/usr/bin/python3 -c 'import os, requests; print(requests.get("${url}/py", headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}).text.strip())' 2>&1)"
      ${process.execPath} node-client.cjs ${UNDICI} ${url}/node 2>&1 | head -8
      ${process.execPath} ws-client.cjs ${WS} wss://127.0.0.2:${api.port}/socket 2>&1 | head -8
      awk 'n { print } /END CERTIFICATE/ { n = 1 }' "$SSL_CERT_FILE" > /tmp/without-session-ca.pem
      echo "pinned=$(curl -sS --cacert /tmp/without-session-ca.pem ${url}/pinned 2>&1 | head -c 12)"
      echo "env_b64=$(env | base64 -w0)"
      echo "files_b64=$(cat "$BROKER_SANDBOX_DIR"/env "$SSL_CERT_FILE" 2>&1 | base64 -w0)"
      echo "socket_b64=$(curl -sS --unix-socket "$BROKER_SOCKET" http://session/v1/session/credentials | base64 -w0)"
      echo "placeholder_rev=$(printf %s "$OPENAI_API_KEY" | rev)"`;
    const result = await run("api", script);
    expect(result.code, result.stderr).toBe(0);
    const seen = boxReport(result.stdout);
    expect(seen.curl).toBe(`{"auth":"ok","key":"none","path":"/v1/models","bytes":0}`);
    expect(seen.h2).toBe("2");
    expect(seen.query).toContain(`"key":"ok"`);
    expect(seen.python).toContain(`"auth":"ok"`);
    expect(seen.node, result.stdout.replace(/^(env|files|socket)_b64=.*$/gm, "")).toContain(`"auth":"ok"`);
    expect(seen.ws).toBe("echo hello auth=ok");
    // A client with its own trust store (pinning) fails closed, and the audit names the host.
    expect(seen.pinned).toBe("curl: (60) S");
    expect(api.seen.filter((s) => s.url === "/pinned")).toEqual([]);
    // Printed reversed: broker run masks the box's credentials, placeholders included, in its output.
    seen.placeholder = [...(seen.placeholder_rev ?? "")].reverse().join("");
    // The box held a placeholder, shaped as broker-ph-…, never the real value.
    expect(seen.placeholder).toMatch(/^broker-ph-[A-Za-z0-9_-]{43}$/);
    // Not in the environment, the sandbox files, the session socket's answers, or any byte the box received.
    for (const value of [bearer, key]) {
      expect(occurrences(result.stdout + result.stderr, value)).toBe(0);
      expect(occurrences(seen.env ?? "", value)).toBe(0);
    }
    expect(seen.env).toContain(`OPENAI_API_KEY=${seen.placeholder}`);
    expect(seen.socket).toContain(seen.placeholder);
    // The stand-in saw the real value on each request, and never the placeholder.
    const received = api.received();
    expect(occurrences(received, bearer)).toBeGreaterThanOrEqual(5);
    expect(occurrences(received, seen.placeholder!)).toBe(0);
    // Each intercepted request has its audit line: the rule, a fingerprint, never a value.
    const lines = await waitFor(() => {
      const mine = auditOf(d).filter((l) => l.event === "egress" && l.session === seen.session && l.intercepted === true);
      return mine.length >= 6 ? mine : undefined;
    });
    expect(lines.map((l) => l.rule)).toContain("env:OPENAI_API_KEY");
    expect(lines.map((l) => l.rule)).toContain("env:SEARCH_KEY");
    expect(auditOf(d).filter((l) => l.event === "egress" && l.session === seen.session && l.reason === "tls-refused")).toEqual([expect.objectContaining({ host: "127.0.0.2", port: api.port })]);
    const audit = readFileSync(join(d.stateDir, "audit.jsonl"), "utf8");
    for (const value of [bearer, key, seen.placeholder!]) expect(occurrences(audit, value)).toBe(0);
  }, 90_000);

  it("the placeholder in a request body is refused as a leak, audited, and ends the session", async () => {
    const before = api.seen.length;
    const script = `
      echo "session=$BROKER_SESSION"
      echo "status=$(curl -sS -o /dev/null -w '%{http_code}' --data "note=$OPENAI_API_KEY" https://127.0.0.2:${api.port}/exfil)"
      sleep 10; echo still=running`;
    const result = await run("leaky", script);
    const seen = boxReport(result.stdout);
    // The session ends at once: curl may see its connection cut (000), or be gone before it prints.
    expect([undefined, "403", "000"]).toContain(seen.status);
    expect(seen.still).toBeUndefined();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("env:OPENAI_API_KEY in the body");
    expect(api.seen.slice(before).filter((s) => s.url === "/exfil")).toEqual([]);
    const leak = auditOf(d).find((l) => l.event === "leak" && l.session === seen.session);
    expect(leak).toMatchObject({ credential: "env:OPENAI_API_KEY", where: "body", outcome: "session-ended" });
    expect(await waitFor(() => auditOf(d).find((l) => l.event === "session.close" && l.session === seen.session))).toMatchObject({ reason: "leak" });
  }, 90_000);

  it("a request whose Host is not the host it tunnelled to is refused as a leak and ends the session", async () => {
    const script = `
      echo "session=$BROKER_SESSION"
      echo "status=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Host: evil.example' -H "Authorization: Bearer $OPENAI_API_KEY" https://127.0.0.2:${api.port}/fronted)"
      sleep 10; echo still=running`;
    const result = await run("leaky", script);
    const seen = boxReport(result.stdout);
    expect([undefined, "403", "000"]).toContain(seen.status);
    expect(seen.still).toBeUndefined();
    expect(api.seen.filter((s) => s.url === "/fronted")).toEqual([]);
    expect(await waitFor(() => auditOf(d).find((l) => l.event === "leak" && l.session === seen.session))).toMatchObject({ where: "host", outcome: "session-ended" });
    expect(result.stderr).toContain("a request naming another host");
  }, 90_000);

  it("a TLS handshake whose SNI is not the host it tunnelled to is refused as a leak and ends the session", async () => {
    const script = `
      echo "session=$BROKER_SESSION"
      echo | openssl s_client -proxy "\${HTTPS_PROXY#http://}" -connect 127.0.0.2:${api.port} -servername evil.example >/dev/null 2>&1
      sleep 10; echo still=running`;
    const result = await run("leaky", script);
    const seen = boxReport(result.stdout);
    expect(seen.still).toBeUndefined();
    expect(await waitFor(() => auditOf(d).find((l) => l.event === "leak" && l.session === seen.session))).toMatchObject({ where: "sni", host: "127.0.0.2", outcome: "session-ended" });
    expect(await waitFor(() => auditOf(d).find((l) => l.event === "session.close" && l.session === seen.session))).toMatchObject({ reason: "leak" });
    expect(result.stderr).toContain("a TLS handshake (SNI) naming another host");
  }, 90_000);

  it("with on_leak: deny, a leak is refused with 403 and audited, and the session goes on", async () => {
    const script = `
      echo "session=$BROKER_SESSION"
      echo "status=$(curl -sS -o /dev/null -w '%{http_code}' --data "note=$OPENAI_API_KEY" https://127.0.0.2:${api.port}/exfil)"
      echo "after=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OPENAI_API_KEY" https://127.0.0.2:${api.port}/v1/models)"`;
    const result = await run("denying", script);
    expect(result.code, result.stderr).toBe(0);
    const seen = boxReport(result.stdout);
    expect(seen.status).toBe("403");
    expect(seen.after).toBe("200");
    expect(result.stderr).toContain("env:OPENAI_API_KEY in the body");
    expect(await waitFor(() => auditOf(d).find((l) => l.event === "leak" && l.session === seen.session))).toMatchObject({ credential: "env:OPENAI_API_KEY", where: "body", outcome: "denied" });
    expect(await waitFor(() => auditOf(d).find((l) => l.event === "session.close" && l.session === seen.session))).toMatchObject({ reason: "close" });
  }, 90_000);

  it("is refused outright without the box (--no-sandbox): the real value is never handed over", async () => {
    const result = await d.cli(["run", "--task", "api", "--no-sandbox", "--", "sh", "-c", "echo ran=$OPENAI_API_KEY"], { cwd: work.path });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("ERR_INJECT_UNBOXED");
    expect(result.stdout).not.toContain("ran=");
    expect(occurrences(result.stdout + result.stderr, bearer)).toBe(0);
  });

  it("broker mint answers with the placeholder and the proxy's socket, never the real value", async () => {
    const minted = await d.cli(["mint", "--task", "api", "--format", "json"]);
    expect(minted.code, minted.stderr).toBe(0);
    expect(occurrences(minted.stdout, bearer)).toBe(0);
    const view = JSON.parse(minted.stdout) as { id: string; credentials: { env: Record<string, string> }; confinement?: { proxy: string; caBundle: string } };
    expect(view.credentials.env.OPENAI_API_KEY).toMatch(/^broker-ph-/);
    expect(view.confinement?.proxy).toMatch(/proxy\.sock$/);
    expect(readFileSync(view.confinement!.caBundle, "utf8")).toContain("BEGIN CERTIFICATE");
    expect(statSync(view.confinement!.caBundle).mode & 0o777).toBe(0o600);
    await d.cli(["revoke", view.id]);
  });

  it("after the session ends its placeholder opens nothing: the proxy is gone, and a captured request replayed to the API fails", async () => {
    const minted = await d.cli(["mint", "--task", "api", "--format", "json"]);
    expect(minted.code, minted.stderr).toBe(0);
    const view = JSON.parse(minted.stdout) as { id: string; credentials: { env: Record<string, string> }; confinement: { proxy: string; caBundle: string } };
    const captured = { authorization: `Bearer ${view.credentials.env.OPENAI_API_KEY}` };
    const bundle = readFileSync(view.confinement.caBundle, "utf8");
    const before = await getViaProxy(view.confinement.proxy, api.port, bundle, "/before", captured).catch((e: Error) => { throw new Error(`before: ${e.message}`); });
    expect(JSON.parse(before.body)).toMatchObject({ auth: "ok" });
    expect((await d.cli(["revoke", view.id])).code).toBe(0);
    await expect(getViaProxy(view.confinement.proxy, api.port, bundle, "/after", captured)).rejects.toThrow(/ENOENT|ECONNREFUSED/);
    // The request exactly as the box sent it, straight to the API: it holds only the placeholder.
    const replayed = await getDirect(api.port, ca.cert, "/replayed", captured);
    expect(JSON.parse(replayed.body)).toMatchObject({ auth: "bad" });
    expect(api.seen.filter((s) => s.url === "/after")).toEqual([]);
  });
});
