/**
 * Section 8's egress proxy in a process of its own, as a session's proxy is in the daemon's: the
 * client, the stand-in and the proxy would otherwise share one thread, and the intercepted path's
 * extra TLS work would be charged twice. Built from the real parts for one rule,
 * `env.BENCH_KEY.inject: { host: 127.0.0.2:<port>, header: Authorization, format: "Bearer {value}" }`.
 *
 * Reads one JSON line on stdin ({ port, cert, real }: the stand-in and its real credential), prints
 * one ({ proxy, ca, placeholder }) once listening; then each `count` line is answered with
 * { injected } (audit lines of intercepted requests that named the rule). Stops when stdin closes.
 *
 * usage: node injection-proxy.js
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startEgressProxy } from "../src/egress/forward-proxy.js";
import { sessionInjection } from "../src/egress/injection-handler.js";
import { makePlaceholders } from "../src/egress/placeholders.js";
import { createSessionCa } from "../src/egress/session-ca.js";
import { parseEgressEntry } from "../src/policy/egress-rules.js";

const HOST = "127.0.0.2";

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const first = await lines.next();
if (first.done) process.exit(1);
const standIn = JSON.parse(first.value) as { port: number; cert: string; real: string };

const parsed = parseEgressEntry(`${HOST}:${standIn.port}`);
if (!("rule" in parsed) || parsed.rule.kind === "any") throw new Error("the stand-in's host entry does not parse");
const inject = { hosts: [parsed.rule], header: "authorization", format: "Bearer {value}" };
const placeholders = makePlaceholders({ env: { BENCH_KEY: {} }, reals: [standIn.real] });
const injection = sessionInjection({
  plan: { task: "bench-inject", env: { BENCH_KEY: { secret: "bench-key", inject } } },
  placeholders,
  reals: { env: { BENCH_KEY: () => standIn.real } },
  onLeak: () => undefined,
});
const ca = await createSessionCa({ label: "bench" });
const dir = mkdtempSync(join(tmpdir(), "broker-bench-inject-"));
const socketPath = join(dir, "proxy.sock");
let injected = 0;
const proxy = await startEgressProxy({
  socketPath,
  decide: (host, port) => ({ allowed: host === HOST && port === standIn.port, exact: true }),
  denyHint: () => "the bench allows only its stand-in",
  audit: (line) => {
    if (line.intercepted && line.rule === "env:BENCH_KEY" && line.status === 200) injected++;
  },
  injection,
  ca,
  upstreamCa: [standIn.cert],
});

const stop = () => void proxy.close().finally(() => (rmSync(dir, { recursive: true, force: true }), process.exit(0)));
process.on("SIGTERM", stop);
process.stdout.write(`${JSON.stringify({ proxy: socketPath, ca: ca.certPem, placeholder: placeholders.env.BENCH_KEY })}\n`);
for (let line = await lines.next(); !line.done; line = await lines.next()) {
  if (line.value === "count") process.stdout.write(`${JSON.stringify({ injected })}\n`);
}
stop();
