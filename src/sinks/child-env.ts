/**
 * The environment of `broker run`'s command (docs/interface.md "Environment") and the
 * variables of the sandbox `env` file, built from one place so they agree.
 */
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

/** AWS keys (static unless an endpoint serves them), GitHub token, the policy's env entries. */
function credentialVars(session: SessionWithCredentials, staticAws = true): Record<string, string> {
  const { aws, github, env } = session.credentials;
  return {
    ...(aws ? { ...(staticAws ? staticAwsVars(aws) : {}), ...regionVars(aws) } : {}),
    ...(github ? { GH_TOKEN: github.token, GITHUB_TOKEN: github.token } : {}),
    ...env,
  };
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
 * Variables of the sandbox `env` file: BROKER_*, the credentials, and (given the path where
 * the sandbox sees the directory) the variables pointing tools at the files written there.
 */
export function sessionEnvVars(session: SessionWithCredentials, sandboxPath?: string): Record<string, string> {
  const { aws, github } = session.credentials;
  // BROKER_* last: a policy env entry must not hide which session this is.
  const vars: Record<string, string> = {
    ...credentialVars(session),
    BROKER_SESSION: session.id,
    BROKER_TASK: session.task,
    ...(sandboxPath !== undefined ? { BROKER_SANDBOX_DIR: sandboxPath } : {}),
  };
  if (sandboxPath === undefined) return vars;
  if (aws) {
    vars.AWS_SHARED_CREDENTIALS_FILE = sandboxJoin(sandboxPath, "aws/credentials");
    vars.AWS_CONFIG_FILE = sandboxJoin(sandboxPath, "aws/config");
  }
  if (github) {
    vars.GH_CONFIG_DIR = sandboxJoin(sandboxPath, "gh");
    vars.GIT_CONFIG_COUNT = "1";
    vars.GIT_CONFIG_KEY_0 = "credential.helper";
    vars.GIT_CONFIG_VALUE_0 = `store --file=${helperArg(sandboxJoin(sandboxPath, "git/credentials"))}`;
  }
  return vars;
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
  return env;
}
