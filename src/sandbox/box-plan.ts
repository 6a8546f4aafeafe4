/**
 * Works out a confined run's box from its session: what to hide (the daemon's list, the usual
 * credential places, XDG_RUNTIME_DIR, the broker's own places, the policy's `hide`), what to open
 * read-write (the policy's `write`), what to mount (the sandbox dir, the session's sockets), and
 * the variables that point the command at its ways out (proxy, session socket).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SessionView } from "../client/broker-client.js";
import { BrokerError } from "../errors.js";
import type { Bridge } from "./bridge-command.js";
import type { BoxSpec } from "./bwrap-args.js";
import { expandHome, HIDDEN_CREDENTIAL_PATHS, isWithin } from "./hidden-paths.js";

/** Where things appear inside the box. */
export const DEFAULT_SANDBOX_PATH = "/run/broker";
export const SESSION_MOUNT = "/run/broker-session";
export const AWS_ENDPOINT_MOUNT = "/run/broker-aws";

export interface BoxInputs {
  session: SessionView;
  /** The operator's environment (HOME, XDG_RUNTIME_DIR). */
  env: NodeJS.ProcessEnv;
  home: string;
  cwd: string;
  /** The places this CLI was pointed at (they may differ from the daemon's own). */
  places: { socket: string; stateDir: string; policies: string };
  /** `--aws-endpoint`: host directory of the endpoint's Unix socket. */
  awsEndpointDir?: string;
  /** Where this broker and its Node are installed: kept visible if a private dir would cover them. */
  installs?: readonly string[];
}

export interface BoxPlan {
  box: Omit<BoxSpec, "infoFd">;
  bridges: Bridge[];
  proxyPort: number;
  awsPort?: number;
  /** Variables set inside on top of the session's. */
  env: Record<string, string>;
}

/**
 * A port on the box's own loopback: random, so it rarely meets one CMD wants for itself. Not a
 * secret (CMD reads it from HTTPS_PROXY), so Math.random will do: `broker run` need not load node:crypto.
 */
const boxPort = (): number => 20_000 + Math.floor(Math.random() * 40_000);

function expandAll(paths: readonly string[], home: string): string[] {
  return paths.map((p) => expandHome(p, home)).filter((p): p is string => p !== null);
}

/** `write` paths must exist to be bound: made here (0700), as the operator asked for them. */
function ensureDirs(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      mkdirSync(path, { recursive: true, mode: 0o700 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EEXIST" && code !== "ENOTDIR") {
        throw new BrokerError("ERR_SANDBOX_PATH", `sandbox.write path ${path} cannot be made (${code})`, { fix: "create it yourself or fix the policy's sandbox.write" });
      }
    }
  }
}

export function proxyVars(port: number): Record<string, string> {
  const url = `http://127.0.0.1:${port}`;
  return {
    HTTP_PROXY: url,
    HTTPS_PROXY: url,
    http_proxy: url,
    https_proxy: url,
    NO_PROXY: "localhost,127.0.0.1,::1",
    no_proxy: "localhost,127.0.0.1,::1",
    NODE_USE_ENV_PROXY: "1",
    npm_config_proxy: url,
    npm_config_https_proxy: url,
  };
}

/** Every variable a common client reads its CA bundle from: with injection, the bundle that trusts the session CA. */
export const CA_BUNDLE_VARS = ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT", "PIP_CERT", "npm_config_cafile"];

export function caBundleVars(file: string): Record<string, string> {
  return Object.fromEntries(CA_BUNDLE_VARS.map((name) => [name, file]));
}

export function planBox(inputs: BoxInputs): BoxPlan {
  const { session, home } = inputs;
  const confinement = session.confinement;
  if (!confinement) throw new BrokerError("ERR_INTERNAL", "the daemon gave the session no sockets for a box", { fix: "update the daemon to this CLI's version" });
  const hide = [
    ...expandAll(confinement.hide, home),
    ...expandAll(HIDDEN_CREDENTIAL_PATHS, home),
    ...(inputs.env.XDG_RUNTIME_DIR ? [inputs.env.XDG_RUNTIME_DIR] : []),
    inputs.places.socket,
    dirname(inputs.places.socket),
    inputs.places.stateDir,
    inputs.places.policies,
  ];
  const write = expandAll(confinement.write, home);
  ensureDirs(write);
  const proxyPort = boxPort();
  let awsPort = boxPort();
  while (awsPort === proxyPort) awsPort = boxPort();
  const bridges: Bridge[] = [{ port: proxyPort, socket: `${SESSION_MOUNT}/proxy.sock` }];
  const mounts = [{ source: confinement.dir, target: SESSION_MOUNT }];
  if (session.sandbox) mounts.push({ source: session.sandbox.dir, target: session.sandbox.path });
  if (inputs.awsEndpointDir !== undefined) {
    mounts.push({ source: inputs.awsEndpointDir, target: AWS_ENDPOINT_MOUNT });
    bridges.push({ port: awsPort, socket: `${AWS_ENDPOINT_MOUNT}/aws.sock` });
  }
  // `broker git-credential` and `credential-process` run inside: a broker installed under /tmp or
  // /run (a CI checkout, say) would otherwise be covered by the box's private dirs.
  const keep = (inputs.installs ?? []).filter((p) => ["/tmp", "/run"].some((d) => isWithin(p, d)));
  return {
    box: { cwd: inputs.cwd, hide, write, mounts, keep },
    bridges,
    proxyPort,
    ...(inputs.awsEndpointDir !== undefined ? { awsPort } : {}),
    env: {
      ...proxyVars(proxyPort),
      ...(confinement.caBundle !== undefined ? caBundleVars(`${SESSION_MOUNT}/ca.pem`) : {}),
      BROKER_SOCKET: `${SESSION_MOUNT}/session.sock`,
      TMPDIR: "/tmp",
    },
  };
}

/** Refuses a `--sandbox-path` the box cannot mount, or one that would cover its own mounts. */
export function checkSandboxPath(path: string): void {
  const ours = [SESSION_MOUNT, AWS_ENDPOINT_MOUNT];
  const fresh = path.startsWith("/run/") || path.startsWith("/tmp/");
  if (!fresh || ours.some((m) => path === m || path.startsWith(`${m}/`)) || path.includes("/../")) {
    throw new BrokerError("ERR_SANDBOX_PATH", `--sandbox-path ${path} cannot be used inside the sandbox`, {
      fix: `use a path under /run/ or /tmp/ (default ${DEFAULT_SANDBOX_PATH}), other than ${ours.join(" and ")}`,
    });
  }
}
