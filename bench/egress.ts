/**
 * 7. Egress proxy: an HTTPS download through a confined session's proxy (CONNECT over its Unix
 * socket, then TLS end to end) against the same download straight over loopback, and the time a
 * CONNECT adds before the tunnel is open. The far end is a TLS stand-in on 127.0.0.2 that the
 * policy lists exactly.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect, createServer, type TLSSocket } from "node:tls";
import type { Cleanups, Daemon } from "./fixture.js";
import { writePolicy, type BenchRoot } from "./fixture.js";
import type { Report } from "./report.js";
import { versus } from "./report.js";
import { median } from "./stats.js";

const SECTION = "7 egress proxy";
export const EGRESS_TASK = "bench-egress";
const HOST = "127.0.0.2";
const CHUNK = Buffer.alloc(1024 * 1024, 0x61);

export interface EgressTarget {
  port: number;
  ca: string;
}

/** A TLS server on 127.0.0.2 that sends the number of MiB the client's first byte asks for. */
/** A self-signed P-256 certificate for an IP address, made by openssl (not by the code measured). */
export function opensslCert(ip: string): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "broker-bench-tls-"));
  try {
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", `/CN=${ip}`, "-addext", `subjectAltName=IP:${ip}`], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startEgressTarget(cleanups: Cleanups): Promise<EgressTarget> {
  const { key, cert } = opensslCert(HOST);
  const server = createServer({ key, cert }, (socket) => {
    socket.on("error", () => undefined);
    socket.once("data", (first: Buffer) => {
      let left = first[0] ?? 0;
      const pump = (): void => {
        while (left > 0) {
          left--;
          if (!socket.write(CHUNK)) return void socket.once("drain", pump);
        }
        socket.end();
      };
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, ca: cert };
}

export function writeEgressPolicy(root: BenchRoot, target: EgressTarget): void {
  writePolicy(root, EGRESS_TASK, `task: ${EGRESS_TASK}\nttl: 10m\nmax_sessions: 4\negress:\n  - "${HOST}:${target.port}"\n`);
}

/** Opens a tunnel through the proxy's Unix socket; resolves once it answers 200. */
export function openTunnel(proxy: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(proxy);
    socket.once("error", reject);
    socket.once("connect", () => socket.write(`CONNECT ${HOST}:${port} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n\r\n`));
    let head = "";
    const onData = (chunk: Buffer): void => {
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      if (!head.startsWith("HTTP/1.1 200")) return reject(new Error(`proxy answered ${head.split("\r\n")[0]}`));
      resolve(socket);
    };
    socket.on("data", onData);
  });
}

function tcpConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, HOST, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** MiB/s of one download of `mib` MiB over TLS on `socket` (or a fresh direct connection). */
function download(target: EgressTarget, mib: number, socket?: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const tls: TLSSocket = tlsConnect({ ...(socket ? { socket } : { host: HOST, port: target.port }), ca: target.ca, host: HOST }, () => {
      const started = performance.now();
      let bytes = 0;
      tls.on("data", (chunk: Buffer) => (bytes += chunk.length));
      tls.once("end", () => {
        const seconds = (performance.now() - started) / 1000;
        tls.destroy();
        if (bytes !== mib * CHUNK.length) return reject(new Error(`got ${bytes} bytes`));
        resolve(mib / seconds);
      });
      tls.write(Buffer.from([mib]));
    });
    tls.once("error", reject);
  });
}

export async function benchEgress(daemon: Daemon, target: EgressTarget, report: Report, options: { rounds: number; mib: number }): Promise<void> {
  const session = await daemon.client.openSession({ task: EGRESS_TASK, confine: true });
  try {
    const proxy = session.confinement!.proxy;
    const direct: number[] = [];
    const proxied: number[] = [];
    for (let i = 0; i < options.rounds; i++) {
      direct.push(await download(target, options.mib));
      proxied.push(await download(target, options.mib, await openTunnel(proxy, target.port)));
    }
    const d = median(direct);
    const p = median(proxied);
    report.add(
      versus({ section: SECTION, measure: `HTTPS download of ${options.mib} MiB through the proxy`, value: p, unit: "MiB/s", against: { measure: "direct over loopback", value: d, unit: "MiB/s" }, target: "≥ 0.7× direct", met: p >= 0.7 * d, detail: { direct, proxied } }),
    );

    const tunnel: number[] = [];
    const tcp: number[] = [];
    for (let i = 0; i < options.rounds * 50; i++) {
      let t = performance.now();
      (await openTunnel(proxy, target.port)).destroy();
      tunnel.push(performance.now() - t);
      t = performance.now();
      (await tcpConnect(target.port)).destroy();
      tcp.push(performance.now() - t);
    }
    const added = median(tunnel) - median(tcp);
    report.add({ section: SECTION, measure: "time a CONNECT adds before the tunnel is open (p50)", value: added, unit: "ms", target: "≤ 2 ms", met: added <= 2, detail: { tunnelP50: median(tunnel), tcpP50: median(tcp), runs: tunnel.length } });
  } finally {
    await daemon.client.closeSession(session.id).catch(() => undefined);
  }
}
