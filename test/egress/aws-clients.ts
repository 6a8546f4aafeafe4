/**
 * The box's side of the AWS interception test: run the real clients (awscli, boto3) in an
 * environment that reads nothing of the host (temp HOME and config, no metadata service), reach
 * the proxy's Unix socket as a TCP proxy on 127.0.0.1, and make credentials shaped like STS's.
 * Children are run asynchronously: the proxy and the stand-in they talk to live in this process.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import type { Creds } from "./aws-sigv4-check.js";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Temporary credentials with STS's shapes (ASIA…, 40-character secret, a long token), made at run time. */
export function stsShapedCreds(): Creds {
  const key = [...randomBytes(16)].map((b) => BASE32[b % 32]).join("");
  return {
    accessKeyId: `ASIA${key}`,
    secretAccessKey: randomBytes(30).toString("base64"),
    sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(330).toString("base64")}`,
  };
}

/** A TCP listener on 127.0.0.1 whose every connection is piped to the proxy's Unix socket (the box's bridge). */
export async function tcpBridge(socketPath: string): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((client) => {
    const proxy = connect(socketPath);
    client.pipe(proxy).pipe(client);
    const end = () => {
      client.destroy();
      proxy.destroy();
    };
    client.on("error", end).on("close", end);
    proxy.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface ClientEnv {
  home: string;
  configFile: string;
  env: Record<string, string>;
}

/** A private HOME and AWS config (region, path-style S3, and `s3` extras such as payload_signing_enabled). */
export function clientEnv(dir: string, name: string, p: { creds: Creds; caFile: string; proxyPort?: number; s3?: Record<string, string> }): ClientEnv {
  const home = join(dir, `home-${name}`);
  mkdirSync(home, { recursive: true });
  const configFile = join(home, "config");
  const s3 = { addressing_style: "path", ...p.s3 };
  writeFileSync(configFile, `[default]\nregion = us-east-1\ns3 =\n${Object.entries(s3).map(([k, v]) => `    ${k} = ${v}\n`).join("")}`);
  const proxy: Record<string, string> = p.proxyPort ? { HTTPS_PROXY: `http://127.0.0.1:${p.proxyPort}`, https_proxy: `http://127.0.0.1:${p.proxyPort}` } : {};
  return {
    home,
    configFile,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      LANG: "C.UTF-8",
      AWS_CONFIG_FILE: configFile,
      AWS_SHARED_CREDENTIALS_FILE: join(home, "no-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_PAGER: "",
      AWS_CA_BUNDLE: p.caFile,
      AWS_ACCESS_KEY_ID: p.creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: p.creds.secretAccessKey,
      AWS_SESSION_TOKEN: p.creds.sessionToken,
      ...proxy,
    },
  };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(command: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
