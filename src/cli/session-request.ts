/** Turns the flags `mint` and `run` share into a session request. */
import { resolve } from "node:path";
import type { OpenSessionOptions } from "../client/broker-client.js";
import { BrokerError } from "../errors.js";
import { parseDuration } from "../util/duration.js";
import { requireFlag, stringFlag, type OptionsSpec, type ParsedArgs } from "./args.js";

export const SESSION_OPTIONS = {
  task: { type: "string" },
  ttl: { type: "string" },
  sandbox: { type: "string" },
  "sandbox-path": { type: "string" },
  repositories: { type: "string" },
  permissions: { type: "string" },
} as const satisfies OptionsSpec;

/** `--help` lines of the flags `mint` and `run` share. */
export const SESSION_FLAG_HELP = {
  task: ["T", "the task (policy) to open a session of; required"],
  ttl: ["DUR", "session lifetime, e.g. 15m, 1h or 900 (default: the policy's ttl; at most its max_ttl)"],
  sandbox: ["DIR", "write the session's files into DIR (an existing directory you own)"],
  "sandbox-path": ["P", "where DIR is seen inside the sandbox; paths in the files use it"],
  repositories: ["a,b", "narrow the GitHub token to these repositories of the policy's"],
  permissions: ["k=v,…", "narrow the GitHub token's permissions, e.g. contents=read,issues=write"],
} as const;

export async function sessionRequestFromFlags(parsed: ParsedArgs, usage: string, options: { sandboxTmp?: boolean } = {}): Promise<OpenSessionOptions> {
  const task = requireFlag(parsed, "task", usage);
  const request: OpenSessionOptions = { task };
  const ttl = stringFlag(parsed, "ttl");
  if (ttl !== undefined) {
    const seconds = parseDuration(ttl);
    if (seconds === null || seconds < 1) throw new BrokerError("ERR_USAGE", `--ttl ${JSON.stringify(ttl)} is not a duration`, { fix: "use e.g. --ttl 15m, --ttl 1h or --ttl 900" });
    request.ttl = seconds;
  }
  const dir = stringFlag(parsed, "sandbox");
  const path = stringFlag(parsed, "sandbox-path");
  if (dir !== undefined && options.sandboxTmp) throw new BrokerError("ERR_USAGE", "--sandbox and --sandbox-tmp exclude each other", { fix: `usage: ${usage}` });
  if (path !== undefined && dir === undefined && !options.sandboxTmp) throw new BrokerError("ERR_USAGE", "--sandbox-path needs --sandbox or --sandbox-tmp", { fix: `usage: ${usage}` });
  if (dir !== undefined || options.sandboxTmp) {
    // The daemon runs elsewhere: a relative --sandbox means relative to this shell, so resolve it here.
    request.sandbox = { ...(dir !== undefined ? { dir: resolve(dir) } : { tmp: true }), ...(path !== undefined ? { path } : {}) };
  }
  const repositories = stringFlag(parsed, "repositories");
  const permissions = stringFlag(parsed, "permissions");
  if (repositories !== undefined || permissions !== undefined) {
    // Loaded only for a narrowed request: most mints and runs take the policy as it is.
    const { parseRequestedPermissions, parseRequestedRepositories } = await import("../policy/narrow.js");
    request.scope = {
      github: {
        ...(repositories !== undefined ? { repositories: parseRequestedRepositories(repositories) } : {}),
        ...(permissions !== undefined ? { permissions: parseRequestedPermissions(permissions) } : {}),
      },
    };
  }
  return request;
}
