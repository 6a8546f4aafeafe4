/**
 * Section 8's reference for interception's throughput: a TLS relay in a process of its own, as
 * the daemon is, that only decrypts what the client sends and encrypts it again to the stand-in
 * (and back), with no HTTP parsing, rules or tripwire: what any TLS-terminating hop costs here.
 * Run as a program, it is the relay: `node relay-floor.js <stand-in port> <socket path>`, with the
 * stand-in's certificate on stdin; it prints its own certificate (JSON) once it listens.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { Agent as HttpAgent } from "node:http";
import { connect as tlsConnect, createServer } from "node:tls";
import { fileURLToPath } from "node:url";
import { opensslCert } from "./egress.js";
import type { Cleanups } from "./fixture.js";
import { STREAM_HIGH_WATER_MARK } from "../src/egress/intercept-upstream.js";

const HOST = "127.0.0.2";

/** Starts the relay for the stand-in on `port`; the agent's one keep-alive connection goes through it. */
export async function startRelayFloor(port: number, standInCert: string, socketPath: string, cleanups: Cleanups): Promise<HttpAgent> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(port), socketPath], { stdio: ["pipe", "pipe", "inherit"] });
  cleanups.add(() => void child.kill("SIGKILL"));
  child.stdin.end(standInCert);
  const cert = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      out += d;
      if (out.endsWith("\n")) resolve((JSON.parse(out) as { cert: string }).cert);
    });
    child.once("exit", (code) => reject(new Error(`bench: the relay exited with ${code}`)));
  });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  agent.createConnection = (() => tlsConnect({ path: socketPath, host: HOST, ca: cert, ALPNProtocols: ["http/1.1"] })) as unknown as HttpAgent["createConnection"];
  cleanups.add(() => agent.destroy());
  return agent;
}

async function relay(port: number, socketPath: string): Promise<void> {
  let standInCert = "";
  for await (const chunk of process.stdin) standInCert += String(chunk);
  const own = opensslCert(HOST);
  const options = { highWaterMark: STREAM_HIGH_WATER_MARK };
  const server = createServer({ ...own, ...options }, (box) => {
    const upstream = tlsConnect({ host: HOST, port, ca: standInCert, ...options });
    const end = () => (box.destroy(), upstream.destroy());
    box.on("error", end).pipe(upstream).on("error", end).pipe(box);
  });
  rmSync(socketPath, { force: true });
  server.listen(socketPath, () => process.stdout.write(`${JSON.stringify({ cert: own.cert })}\n`));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void relay(Number(process.argv[2]), process.argv[3]!);
