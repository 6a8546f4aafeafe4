/** `broker run`'s flags and their `--help`, apart from the command so both stay short. */
import { commandHelp } from "./command-help.js";
import { SESSION_FLAG_HELP, SESSION_OPTIONS } from "./session-request.js";

export const RUN_USAGE = "broker run --task T [flags] -- CMD [ARGS…]";

export const RUN_OPTIONS = {
  ...SESSION_OPTIONS,
  "sandbox-tmp": { type: "boolean" },
  "env-file": { type: "string" },
  "no-env": { type: "boolean" },
  "aws-endpoint": { type: "boolean" },
  "no-masking": { type: "boolean" },
  "keep-socket": { type: "boolean" },
  "no-sandbox": { type: "boolean" },
  "pass-env": { type: "string", multiple: true },
  nested: { type: "boolean" },
  "on-session-end": { type: "string" },
} as const;

export const RUN_HELP = commandHelp(
  RUN_USAGE,
  "Opens a session bound to CMD, runs CMD with its credentials (in a bubblewrap box on Linux unless\n--no-sandbox) and ends the session, revoking its credentials, when CMD exits. The command goes after --.",
  RUN_OPTIONS,
  {
    ...SESSION_FLAG_HELP,
    sandbox: ["DIR", "write the session's files into DIR (an existing directory you own); CMD's environment points at them"],
    "sandbox-tmp": "write the session's files into a fresh private directory, removed at the end",
    "sandbox-path": ["P", "where the sandbox directory is seen by CMD (default in the box: /run/broker)"],
    "env-file": ["F", "dotenv file of more variables; values may be broker://aws/…, broker://github/token, broker://env/NAME"],
    "no-env": "put no credential in CMD's environment (use the sandbox files, the helper or --aws-endpoint)",
    "aws-endpoint": "serve AWS credentials as a container-credentials endpoint, refreshed while the session lives",
    "no-masking": "do not replace the session's credentials in CMD's piped output",
    "keep-socket": "give CMD a BROKER_SOCKET (the session's own socket, never the daemon's main one)",
    "no-sandbox": "run CMD unconfined (a warning is printed)",
    "pass-env": ["NAME", "pass this variable of yours into CMD's environment (repeatable, * globs)"],
    nested: "open a session even inside another one (BROKER_SESSION set)",
    "on-session-end": ["stop|warn", "when the session ends before CMD: stop CMD and exit 121 (default), or only warn"],
  },
);
