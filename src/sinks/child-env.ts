/**
 * The environment of `broker run`'s command (docs/interface.md "Environment") and the
 * variables of the sandbox `env` file, built from one place so they agree.
 */
import { BrokerError } from "../errors.js";
import { envNameProblem } from "../policy/env-deny-list.js";
import type { AwsCredentials, EnvCredentials, GithubCredentials } from "../providers/provider.js";

/** What the sinks need of a session: who it is and its current credentials. */
export interface SessionWithCredentials {
  id: string;
  task: string;
  /** ISO 8601, or epoch ms. */
  expiresAt: string | number;
  credentials: { aws?: AwsCredentials; github?: GithubCredentials; env: EnvCredentials };
}

export interface ChildEnvOptions {
  /** `--no-env`: only BROKER_* are set, no credential values. */
  noEnv?: boolean;
  /** `--keep-socket`: leave BROKER_SOCKET so the command can reach the daemon. */
  keepSocket?: boolean;
  /** Host path of the sandbox directory, if any. */
  sandboxDir?: string;
  /**
   * Where the command sees the sandbox directory (`--sandbox-path`, inside the box): the
   * variables pointing tools at its files (as in its `env` file) use it. Set even with `noEnv`:
   * they name files, not credentials, and are what makes the files usable.
   */
  sandboxPath?: string;
  /**
   * `--aws-endpoint`: the container-credentials endpoint replaces the static AWS keys. Set even
   * with `noEnv`: it was asked for explicitly, and env vars are its only way in.
   */
  awsEndpoint?: { url: string; token: string };
}

/** Inherited variables that would hand the command someone else's credentials. */
export const SCRUBBED_VARIABLES = [
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_SECURITY_TOKEN",
  "AWS_PROFILE",
  "AWS_DEFAULT_PROFILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_ROLE_ARN",
  "GH_TOKEN",
  "GITHUB_TOKEN",
  "GH_ENTERPRISE_TOKEN",
  "GITHUB_ENTERPRISE_TOKEN",
] as const;
const SCRUBBED_PREFIX = "AWS_CONTAINER_";

const scrubbed = new Set<string>(SCRUBBED_VARIABLES);

/** Whether an inherited variable is removed before the session's are set. */
export function isScrubbed(name: string, keepSocket = false): boolean {
  // Windows environment names are case-insensitive.
  const key = process.platform === "win32" ? name.toUpperCase() : name;
  if (key === "BROKER_SOCKET") return !keepSocket;
  return scrubbed.has(key) || key.startsWith(SCRUBBED_PREFIX);
}

/**
 * The session's `env` entries, refused whole if one is not a name a policy may use (PATH,
 * LD_PRELOAD, BASH_ENV, …; env-deny-list.ts): an answer naming one comes from a daemon that is
 * not the user's own or that skipped the check, and nothing of it is applied.
 */
export function checkedSessionEnv(env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== "object" || env === null || Array.isArray(env)) throw unsafeEnv("its env is not an object of names and values");
  for (const [name, value] of Object.entries(env)) {
    const problem = envNameProblem(name);
    // The name is the daemon's: shown JSON-quoted and cut short, so it cannot steer the terminal.
    if (problem) throw unsafeEnv(`it sets ${JSON.stringify(name).slice(0, 80)}, which ${problem.replace(/; choose another name$/, "")}`);
    if (typeof value !== "string") throw unsafeEnv(`its env value for ${name} is not a string`);
  }
  return env as Record<string, string>;
}

function unsafeEnv(what: string): BrokerError {
  return new BrokerError("ERR_UNSAFE_ENV", `refusing the daemon's answer: ${what}; nothing of it was applied`, {
    fix: "make sure the socket is your own daemon's (broker doctor), update the daemon, and run `broker policy check` on its policies",
  });
}

/** AWS keys (static unless an endpoint serves them), GitHub token, the policy's env entries. */
function credentialVars(session: SessionWithCredentials, staticAws = true): Record<string, string> {
  const { aws, github, env } = session.credentials;
  return {
    ...(aws ? { ...(staticAws ? staticAwsVars(aws) : {}), ...regionVars(aws) } : {}),
    ...(github ? githubVars(github) : {}),
    ...checkedSessionEnv(env),
  };
}

/**
 * gh reads GH_TOKEN only for github.com (and *.ghe.com); for a GitHub Enterprise Server host it
 * reads GH_ENTERPRISE_TOKEN, then GITHUB_ENTERPRISE_TOKEN, and GH_HOST picks the host for
 * commands run outside a clone.
 */
function githubVars(github: GithubCredentials): Record<string, string> {
  const vars: Record<string, string> = { GH_TOKEN: github.token, GITHUB_TOKEN: github.token };
  if (github.host.toLowerCase() !== "github.com") {
    vars.GH_ENTERPRISE_TOKEN = github.token;
    vars.GITHUB_ENTERPRISE_TOKEN = github.token;
    vars.GH_HOST = github.host;
  }
  return vars;
}

function staticAwsVars(aws: AwsCredentials): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: aws.accessKeyId,
    AWS_SECRET_ACCESS_KEY: aws.secretAccessKey,
    AWS_SESSION_TOKEN: aws.sessionToken,
    AWS_CREDENTIAL_EXPIRATION: aws.expiration,
  };
}

function regionVars(aws: AwsCredentials): Record<string, string> {
  return { AWS_REGION: aws.region, AWS_DEFAULT_REGION: aws.region };
}

/** `P/rel` with exactly one slash between, as seen inside the sandbox. */
export function sandboxJoin(sandboxPath: string, rel: string): string {
  return `${sandboxPath.replace(/\/+$/, "")}/${rel}`;
}

/** Quotes a value for the shell-like split git applies to `credential.helper`, only if needed. */
function helperArg(value: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * git's credential helper for the sandbox's `git/credentials`: git-credential-store, asked only
 * for `get`. Plain `store --file=F` also runs on `store` (after every success) and `erase`, and
 * rewriting F fails on a read-only mount with "unable to get credential storage lock".
 */
export function readOnlyStoreHelper(file: string): string {
  return `!f() { test "$1" != get || git credential-store --file=${helperArg(file)} get; }; f`;
}

/** The variables pointing tools at the sandbox files, with paths as the command sees them. */
function sandboxFileVars(session: SessionWithCredentials, sandboxPath: string, options: { awsEndpoint?: boolean } = {}): Record<string, string> {
  const { aws, github } = session.credentials;
  const vars: Record<string, string> = {};
  if (aws) {
    // With an endpoint, a credentials file would win over it in the SDKs' chain and never refresh.
    if (!options.awsEndpoint) vars.AWS_SHARED_CREDENTIALS_FILE = sandboxJoin(sandboxPath, "aws/credentials");
    vars.AWS_CONFIG_FILE = sandboxJoin(sandboxPath, "aws/config");
  }
  if (github) {
    vars.GH_CONFIG_DIR = sandboxJoin(sandboxPath, "gh");
    vars.GIT_CONFIG_COUNT = "1";
    vars.GIT_CONFIG_KEY_0 = "credential.helper";
    vars.GIT_CONFIG_VALUE_0 = readOnlyStoreHelper(sandboxJoin(sandboxPath, "git/credentials"));
  }
  return vars;
}

/**
 * Variables of the sandbox `env` file: BROKER_*, the credentials, and (given the path where
 * the sandbox sees the directory) the variables pointing tools at the files written there.
 */
export function sessionEnvVars(session: SessionWithCredentials, sandboxPath?: string): Record<string, string> {
  // BROKER_* last: a policy env entry must not hide which session this is.
  const vars: Record<string, string> = {
    ...credentialVars(session),
    BROKER_SESSION: session.id,
    BROKER_TASK: session.task,
    ...(sandboxPath !== undefined ? { BROKER_SANDBOX_DIR: sandboxPath } : {}),
  };
  return sandboxPath === undefined ? vars : { ...vars, ...sandboxFileVars(session, sandboxPath) };
}

/**
 * Adds the sandbox's git config entry after any the command inherits (GIT_CONFIG_COUNT=n and
 * its KEY/VALUE pairs), instead of overwriting the first of them.
 */
function appendGitConfig(env: Record<string, string>, vars: Record<string, string>): void {
  const { GIT_CONFIG_COUNT: count, GIT_CONFIG_KEY_0: key, GIT_CONFIG_VALUE_0: value, ...rest } = vars;
  Object.assign(env, rest);
  if (count === undefined || key === undefined || value === undefined) return;
  const inherited = env.GIT_CONFIG_COUNT;
  const n = inherited !== undefined && /^\d{1,4}$/.test(inherited) ? Number(inherited) : 0;
  env[`GIT_CONFIG_KEY_${n}`] = key;
  env[`GIT_CONFIG_VALUE_${n}`] = value;
  env.GIT_CONFIG_COUNT = String(n + 1);
}

/** The command's environment: the parent's, scrubbed, plus the session's. */
export function buildChildEnv(
  parentEnv: Record<string, string | undefined>,
  session: SessionWithCredentials,
  options: ChildEnvOptions = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parentEnv)) {
    if (value !== undefined && !isScrubbed(name, options.keepSocket)) env[name] = value;
  }
  const { aws } = session.credentials;
  if (!options.noEnv) Object.assign(env, credentialVars(session, !options.awsEndpoint));
  if (options.awsEndpoint) {
    env.AWS_CONTAINER_CREDENTIALS_FULL_URI = options.awsEndpoint.url;
    env.AWS_CONTAINER_AUTHORIZATION_TOKEN = options.awsEndpoint.token;
    if (aws) Object.assign(env, regionVars(aws));
  }
  env.BROKER_SESSION = session.id;
  env.BROKER_TASK = session.task;
  if (options.sandboxDir !== undefined) env.BROKER_SANDBOX_DIR = options.sandboxDir;
  if (options.sandboxPath !== undefined) appendGitConfig(env, sandboxFileVars(session, options.sandboxPath, { awsEndpoint: options.awsEndpoint !== undefined }));
  return env;
}
