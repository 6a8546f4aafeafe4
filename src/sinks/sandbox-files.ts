/**
 * The files a session writes into its sandbox directory (docs/interface.md "Sandbox directory"):
 * what they say, and writing/removing them through safe-write.
 */
import type { AwsCredentials, GithubCredentials } from "../providers/provider.js";
import { type SessionWithCredentials, sessionEnvVars } from "./child-env.js";
import { formatDotenv } from "./env-file.js";
import { type FileIdentity, type SafeWriteOptions, removeSandboxDir, removeSandboxFile, writeSandboxFile } from "./safe-write.js";

/** Every file a session may write, for cleaning up after a session whose list was lost. */
export const SANDBOX_FILES = ["aws/credentials", "aws/config", "git/credentials", "gh/hosts.yml", "env", "session.json"] as const;

function awsCredentialsFile(aws: AwsCredentials): string {
  return `[default]\naws_access_key_id = ${aws.accessKeyId}\naws_secret_access_key = ${aws.secretAccessKey}\naws_session_token = ${aws.sessionToken}\n`;
}

function awsConfigFile(aws: AwsCredentials): string {
  return `[default]\nregion = ${aws.region}\n`;
}

/** Percent-encodes all but RFC 3986 unreserved characters, as git-credential-store writes. */
function credentialStoreEncode(value: string): string {
  return Array.from(Buffer.from(value, "utf8"))
    .map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`))
    .join("");
}

function gitCredentialsFile(github: GithubCredentials): string {
  return `${github.scheme}://x-access-token:${credentialStoreEncode(github.token)}@${github.host}\n`;
}

/** A YAML scalar: plain when that cannot be misread, else double-quoted (JSON is valid YAML). */
function yamlScalar(value: string): string {
  return /^[A-Za-z][A-Za-z0-9._-]*(:[0-9]+)?$/.test(value) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(value)
    ? value
    : JSON.stringify(value);
}

/**
 * gh's `git_protocol` takes only `https` or `ssh`, and gh clones over https whatever the host's
 * scheme: for an http host no value is true, so the key is left out rather than claim https.
 */
function ghHostsFile(github: GithubCredentials): string {
  const protocol = github.scheme === "https" ? "    git_protocol: https\n" : "";
  return `${yamlScalar(github.host)}:\n    oauth_token: ${yamlScalar(github.token)}\n    user: x-access-token\n${protocol}`;
}

function isoTime(time: string | number): string {
  return typeof time === "number" ? new Date(time).toISOString() : time;
}

/**
 * The sandbox files for a session, by path relative to the sandbox directory. Paths written
 * inside them use `sandboxPath`, where the directory is seen from inside the sandbox. `marker`
 * (in session.json) lets the daemon later tell the directory's files as its own.
 */
export function renderSandboxFiles(session: SessionWithCredentials, sandboxPath: string, marker?: string): Record<string, string> {
  const { aws, github } = session.credentials;
  const files: Record<string, string> = {};
  if (aws) {
    files["aws/credentials"] = awsCredentialsFile(aws);
    files["aws/config"] = awsConfigFile(aws);
  }
  if (github) {
    files["git/credentials"] = gitCredentialsFile(github);
    files["gh/hosts.yml"] = ghHostsFile(github);
  }
  files.env = formatDotenv(sessionEnvVars(session, sandboxPath));
  files["session.json"] = `${JSON.stringify({ id: session.id, task: session.task, expiresAt: isoTime(session.expiresAt), ...(marker ? { marker } : {}) }, null, 2)}\n`;
  return files;
}

/** Written files by relative path, with the identity that lets removal confirm they are ours. */
export type WrittenFiles = Record<string, FileIdentity>;

/**
 * Writes (or on refresh, atomically replaces) each file, recording each in `written` as soon as
 * it is written. Fails on the first file that cannot be written safely; files already written
 * stay (and stay recorded in `written`, so `removeSandbox` can remove them) until removal.
 */
export async function writeSandbox(dir: string, files: Record<string, string>, options: SafeWriteOptions = {}, written: WrittenFiles = {}): Promise<WrittenFiles> {
  for (const [relPath, content] of Object.entries(files)) {
    written[relPath] = await writeSandboxFile(dir, relPath, content, options);
  }
  return written;
}

export interface RemoveSandboxOptions extends SafeWriteOptions {
  /** `--sandbox-tmp`: the directory was ours; remove it and anything left in it. */
  removeDir?: boolean;
  /** What `writeSandbox` returned; without it, any regular file of ours at those paths goes. */
  written?: WrittenFiles;
}

/** Removes every file (never following links), then the emptied subdirectories, then a tmp dir. */
export async function removeSandbox(dir: string, relPaths: readonly string[], options: RemoveSandboxOptions = {}): Promise<void> {
  let firstError: unknown;
  for (const relPath of relPaths) {
    // Keep going: one stubborn file must not leave the others' secrets behind.
    await removeSandboxFile(dir, relPath, options.written?.[relPath], options).catch((error: unknown) => {
      firstError ??= error;
    });
  }
  if (options.removeDir) await removeSandboxDir(dir, options);
  if (firstError !== undefined) throw firstError;
}
