/**
 * Shared setup for the containment tests: a real daemon whose root (socket, state, policies and
 * the operator's HOME) lies under /var/tmp, which the box does not make private as it does
 * /tmp, so only the box's own hiding keeps it out of reach; planted operator credentials; a
 * listed stand-in on 127.0.0.2 and an unlisted one on 127.0.0.3.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { tempDir } from "../helpers/tmp.js";
import { randomValue } from "./run-fixture.js";

export interface StandIn {
  server: Server;
  port: number;
  /** Requests it answered, as `METHOD host-header path`. */
  seen: string[];
}

export async function startStandIn(address: string, body: string): Promise<StandIn> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.headers.host} ${req.url}`);
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return { server, port: (server.address() as AddressInfo).port, seen };
}

export interface BoxFixture {
  d: TestDaemon;
  home: string;
  work: string;
  demo: string;
  listed: StandIn;
  unlisted: StandIn;
  cleanup(): Promise<void>;
}

export const PLANTED_AWS = "[default]\naws_access_key_id = AKIAPLANTEDOPERATOR\naws_secret_access_key = planted-operator-secret\n";
export const PLANTED_SSH = "-----BEGIN OPENSSH PRIVATE KEY-----\nplanted-operator-key\n-----END OPENSSH PRIVATE KEY-----\n";

export async function startBoxFixture(options: { store?: "os" | "file"; extraPolicy?: string } = {}): Promise<BoxFixture> {
  const listed = await startStandIn("127.0.0.2", "listed stand-in\n");
  const unlisted = await startStandIn("127.0.0.3", "unlisted stand-in\n");
  const boxed =
    `task: boxed\nttl: 5m\nenv:\n  DEMO_TOKEN: { secret: box-demo }\n` +
    `sandbox:\n  write: [ "~/agent-cache" ]\n  pass_env: [ "BOX_EXTRA_*" ]\n` +
    `egress:\n  - "127.0.0.2:${listed.port}"\n${options.extraPolicy ?? ""}`;
  const work = tempDir("broker-box-work-", "/var/tmp");
  const d = await startTestDaemon({
    parent: "/var/tmp",
    store: options.store ?? "file",
    policies: { boxed, deploy: "task: deploy\nttl: 5m\nenv:\n  DEPLOY_TOKEN: { secret: box-deploy }\n" },
    // What an operator's shell holds, which the command must not inherit.
    env: { SSH_AUTH_SOCK: "/var/tmp/operator-agent.sock", OPENAI_API_KEY: "sk-operator-own", BOX_EXTRA_ONE: "passed-on-purpose" },
  });
  const home = d.env.HOME!;
  mkdirSync(join(home, ".aws"), { recursive: true });
  writeFileSync(join(home, ".aws", "credentials"), PLANTED_AWS);
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, ".ssh", "id_ed25519"), PLANTED_SSH, { mode: 0o600 });
  const demo = randomValue("box-demo");
  for (const [name, value] of [["box-demo", demo], ["box-deploy", randomValue("box-deploy")]] as const) {
    const set = await d.cli(["secret", "set", name, "--type", "generic"], { input: `${value}\n` });
    if (set.code !== 0) throw new Error(`secret set ${name} failed: ${set.stderr}`);
  }
  return {
    d,
    home,
    work: work.path,
    demo,
    listed,
    unlisted,
    async cleanup() {
      await Promise.all([listed, unlisted].map((s) => new Promise((resolve) => s.server.close(resolve))));
      await d.cleanup();
      work.cleanup();
    },
  };
}

/** Reads `key=value` lines; values are base64 when the key ends in `_b64`. */
export function readReport(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const at = line.indexOf("=");
    if (at < 0) continue;
    const key = line.slice(0, at);
    const value = line.slice(at + 1);
    if (key.endsWith("_b64")) out[key.slice(0, -4)] = Buffer.from(value, "base64").toString("utf8");
    else out[key] = value;
  }
  return out;
}
