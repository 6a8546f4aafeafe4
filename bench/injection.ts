/**
 * 8. Credential injection: what the egress proxy's TLS interception costs a request that carries
 * a placeholder, against the same request sent straight to the far end with the real value. The
 * proxy is a daemon session's own; the client and the stand-in (injection-stand-in.ts, 401
 * without the real credential) share this process. Throughput is also measured through a bare
 * TLS relay (relay-floor.ts), what any TLS-terminating hop costs. Also two costs measured in
 * isolation: a leaf certificate's first issue, and re-signing an AWS request.
 */
import { randomBytes } from "node:crypto";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { cpus, loadavg } from "node:os";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { measureAwsResignCost } from "../src/egress/aws-resign-cost.js";
import { createSessionCa } from "../src/egress/session-ca.js";
import { openTunnel } from "./egress.js";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writePolicy, type BenchRoot, type Cleanups, type Daemon } from "./fixture.js";
import { CHUNK, startStandIn, type StandIn } from "./injection-stand-in.js";
import { startRelayFloor } from "./relay-floor.js";
import type { Report } from "./report.js";
import { versus } from "./report.js";
import { median, percentile } from "./stats.js";

const SECTION = "8 credential injection";
const HOST = "127.0.0.2";
/** The stand-in's real credential, made at run time: the box side only ever holds its placeholder. */
const REAL = `bench-real-${randomBytes(24).toString("base64url")}`;

/** Where the box's requests go: a proxy's Unix socket, the CA the box trusts for it, and the placeholder it holds. */
export interface InjectionEndpoint {
  proxy: string;
  ca: string;
  placeholder: string;
  /** Audit lines of intercepted requests that named the rule (absent when the proxy's audit is out of reach). */
  injected?: () => Promise<number>;
}

export const INJECT_TASK = "bench-inject";
export const INJECT_SECRET = "bench-inject-key";

/** Section 8's stand-in and what the daemon must know of it, set up before the daemon starts. */
export interface InjectionSetup {
  standIn: StandIn;
  /** The secret to seed the store with: the stand-in's real credential. */
  secret: [name: string, value: string];
}

/**
 * Starts the stand-in, writes the task whose env entry is injected for it, and has the daemon
 * trust the stand-in's certificate upstream (BROKER_UPSTREAM_CA, as an operator's CA would be).
 */
export async function prepareInjection(root: BenchRoot, cleanups: Cleanups): Promise<InjectionSetup> {
  const standIn = await startStandIn(cleanups, REAL);
  const caFile = join(root.path, "inject-upstream-ca.pem");
  writeFileSync(caFile, standIn.cert, { mode: 0o600 });
  root.env.BROKER_UPSTREAM_CA = caFile;
  const inject = `{ host: "${HOST}:${standIn.port}", header: Authorization, format: "Bearer {value}" }`;
  writePolicy(root, INJECT_TASK, `task: ${INJECT_TASK}\nttl: 10m\nmax_sessions: 4\nenv:\n  BENCH_KEY:\n    secret: ${INJECT_SECRET}\n    inject: ${inject}\n`);
  return { standIn, secret: [INJECT_SECRET, REAL] };
}

/** The box's side of a daemon session of the task: its proxy socket, the CA bundle it trusts, its placeholder, and the audit. */
async function injectionEndpoint(root: BenchRoot, daemon: Daemon, cleanups: Cleanups): Promise<InjectionEndpoint> {
  const session = await daemon.client.openSession({ task: INJECT_TASK });
  cleanups.add(() => daemon.client.closeSession(session.id).catch(() => undefined));
  const confinement = session.confinement;
  const placeholder = session.credentials?.env.BENCH_KEY;
  if (!confinement?.caBundle || placeholder === undefined) throw new Error("bench: the injected session has no proxy, CA bundle or placeholder");
  const injected = async () =>
    readFileSync(join(root.stateDir, "audit.jsonl"), "utf8")
      .split("\n")
      .filter((line) => line.includes(session.id) && line.includes('"intercepted":true') && line.includes('"rule":"env:BENCH_KEY"') && line.includes('"status":200')).length;
  return { proxy: confinement.proxy, ca: readFileSync(confinement.caBundle, "utf8"), placeholder, injected };
}

/** One keep-alive connection made on first use: CONNECT over the proxy's socket, then TLS trusting the session CA. */
function interceptedAgent(endpoint: InjectionEndpoint, port: number): HttpAgent {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  agent.createConnection = ((_options: unknown, callback: (error: Error | null, socket?: Duplex) => void) => {
    void openTunnel(endpoint.proxy, port).then((tunnel) => {
      const tls = tlsConnect({ socket: tunnel, host: HOST, ca: endpoint.ca, ALPNProtocols: ["http/1.1"] }, () => callback(null, tls));
      tls.once("error", (error) => callback(error));
    }, callback);
    return undefined;
  }) as unknown as HttpAgent["createConnection"];
  return agent;
}

interface Client {
  send(method: "GET" | "POST", path: string, uploadMib?: number): Promise<{ status: number; bytes: number; head: string }>;
}

/** Sends with the given agent and credential; resolves once the whole answer is read. */
function client(agent: HttpAgent, secure: boolean, port: number, credential: string): Client {
  const request = secure ? httpsRequest : httpRequest;
  return {
    send: (method, path, uploadMib = 0) =>
      new Promise((resolve, reject) => {
        const length = uploadMib * CHUNK.length;
        const headers = { authorization: `Bearer ${credential}`, ...(method === "POST" ? { "content-length": String(length) } : {}) };
        const req = request({ host: HOST, port, method, path, agent, headers }, (res: IncomingMessage) => {
          let bytes = 0;
          let head = "";
          res.on("data", (chunk: Buffer) => {
            if (bytes < 64) head += chunk.subarray(0, 64).toString("latin1");
            bytes += chunk.length;
          });
          res.once("end", () => resolve({ status: res.statusCode ?? 0, bytes, head }));
          res.once("error", reject);
        });
        req.once("error", reject);
        let left = uploadMib;
        const pump = (): void => {
          for (; left > 0; left--) if (!req.write(CHUNK)) return void req.once("drain", () => (left--, pump()));
          req.end();
        };
        pump();
      }),
  };
}

export async function benchInjection(root: BenchRoot, daemon: Daemon, setup: InjectionSetup, report: Report, cleanups: Cleanups, options: { rounds: number; requests: number; mib: number }): Promise<void> {
  // Interception's costs are CPU and scheduling: a busy machine shows in every row below.
  report.note(`section 8 began at load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`);
  const { standIn } = setup;
  const endpoint = await injectionEndpoint(root, daemon, cleanups);
  const directAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: standIn.cert });
  const boxAgent = interceptedAgent(endpoint, standIn.port);
  cleanups.add(() => (directAgent.destroy(), boxAgent.destroy()));
  const direct = client(directAgent, true, standIn.port, REAL);
  const box = client(boxAgent, false, standIn.port, endpoint.placeholder);
  const relayed = client(await startRelayFloor(standIn.port, standIn.cert, join(root.path, "relay-floor.sock"), cleanups), false, standIn.port, REAL);
  const statuses = { ok: 0, other: 0 };
  const timedSend = async (side: Client, method: "GET" | "POST", path: string, uploadMib?: number) => {
    const start = performance.now();
    const answer = await side.send(method, path, uploadMib);
    if (side === box) statuses[answer.status === 200 ? "ok" : "other"]++;
    return { ms: performance.now() - start, ...answer };
  };

  // Sequential small GETs, direct and intercepted in turn so load drift hits both alike. The
  // figures are differences of percentiles (p50(intercepted) − p50(direct), same for p99), per
  // round, then the median over rounds: per-pair differences would pair unrelated scheduling noise.
  const p50s: number[] = [];
  const p99s: number[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const d: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 50 + options.requests; i++) {
      const one = await timedSend(direct, "GET", "/");
      const two = await timedSend(box, "GET", "/");
      if (i < 50) continue; // warm-up: the first connections, the leaf's issue, the JIT
      d.push(one.ms);
      b.push(two.ms);
    }
    p50s.push(percentile(b, 50) - percentile(d, 50));
    p99s.push(percentile(b, 99) - percentile(d, 99));
  }
  // A refused request is not an injected one: its timing says nothing about interception's cost.
  const allInjected = statuses.other === 0;
  const detail = { rounds: options.rounds, requestsPerRound: options.requests, p50s, p99s, allInjected };
  const p50 = median(p50s);
  const p99 = median(p99s);
  report.add({ section: SECTION, measure: "latency interception adds to a keep-alive HTTPS GET (p50)", value: p50, unit: "ms", target: "≤ 2 ms", met: allInjected && p50 <= 2, detail });
  report.add({ section: SECTION, measure: "latency interception adds to a keep-alive HTTPS GET (p99)", value: p99, unit: "ms", target: "≤ 10 ms", met: allInjected && p99 <= 10, detail });

  for (const [what, method, path, upload] of [["download", "GET", `/?mib=${options.mib}`, 0], ["upload", "POST", "/", options.mib]] as const) {
    const runs = { direct: [] as number[], intercepted: [] as number[], relay: [] as number[] };
    // Round 0 warms both paths (their stream code's JIT, the pools' buffers) and is not kept.
    for (let r = 0; r <= options.rounds; r++) {
      for (const [name, side] of [["direct", direct], ["intercepted", box], ["relay", relayed]] as const) {
        const answer = await timedSend(side, method, path, upload);
        // A download counts what arrived; an upload, what the stand-in says it was sent.
        const bytes = method === "GET" ? answer.bytes : Number(answer.head);
        const whole = answer.status === 200 && bytes === options.mib * CHUNK.length;
        // The direct and relayed paths failing is the bench's own fault; the intercepted one shows in the count row below.
        if (!whole && side !== box) throw new Error(`bench: ${name} ${what} answered ${answer.status} with ${bytes} bytes`);
        if (whole && r > 0) runs[name].push(options.mib / (answer.ms / 1000));
      }
    }
    const value = median(runs.intercepted);
    const against = median(runs.direct);
    report.add(
      versus({ section: SECTION, measure: `HTTPS ${what} of ${options.mib} MiB, intercepted and injected`, value, unit: "MiB/s", against: { measure: "direct over TLS", value: against, unit: "MiB/s" }, target: "≥ 0.5× direct", met: value >= 0.5 * against, detail: runs }),
    );
    // No goal: the floor any hop that decrypts and encrypts again reaches here, for reading the row above.
    report.add(versus({ section: SECTION, measure: `HTTPS ${what} of ${options.mib} MiB through a bare TLS relay (no HTTP, no rules)`, value: median(runs.relay), unit: "MiB/s", against: { measure: "direct over TLS", value: against, unit: "MiB/s" }, detail: { runs: runs.relay } }));
  }

  // The row that shows injection happened: the stand-in answers 200 only to the real credential.
  const total = statuses.ok + statuses.other;
  const audited = await endpoint.injected?.();
  report.add({
    section: SECTION,
    measure: `intercepted requests the stand-in took with the real credential (of ${total}; 401s: ${standIn.refused()})`,
    value: statuses.ok,
    unit: "requests",
    target: "all, no 401",
    met: statuses.ok === total && standIn.refused() === 0 && (audited === undefined || audited === total),
    detail: { ...statuses, standInRefused: standIn.refused(), auditedInjected: audited },
  });

  // A fresh CA, as a session has: each new host's leaf is issued on its first CONNECT.
  const ca = await createSessionCa({ label: "bench-leaves" });
  const issue: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await ca.leafFor(`leaf-${i}.bench.test`);
    issue.push(performance.now() - start);
  }
  const leaf = median(issue);
  report.add({ section: SECTION, measure: "leaf certificate issue on a host's first use (median of 20 hosts)", value: leaf, unit: "ms", target: "≤ 5 ms", met: leaf <= 5, detail: { issue, issueTimes: ca.issueTimes() } });

  const means: number[] = [];
  for (let r = 0; r < options.rounds; r++) means.push((await measureAwsResignCost(options.requests * 2)).meanMs);
  const resign = median(means);
  report.add({ section: SECTION, measure: "SigV4 verify and re-sign per AWS request (mean per round)", value: resign, unit: "ms", target: "≤ 0.5 ms", met: resign <= 0.5, detail: { means, requestsPerRound: options.requests * 2 } });
}
