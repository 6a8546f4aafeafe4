/**
 * One error family, end to end. Each failure has a stable `code`; the daemon maps it to an
 * HTTP status and `{error:{code,message}}`, the CLI maps it to an exit code and prints the
 * message and the fix. Messages never carry a secret value.
 */

/** Exit codes (docs/interface.md "Global flags and exit codes"). */
export const Exit = { ok: 0, error: 1, usage: 2, denied: 3, unreachable: 4, upstream: 5 } as const;

interface CodeInfo {
  status: number;
  exit: number;
}

/** Every stable code, its HTTP status and its CLI exit code. */
export const CODES = {
  ERR_USAGE: { status: 400, exit: Exit.usage },
  ERR_INVALID_SECRET: { status: 400, exit: Exit.usage },
  ERR_SECRET_NOT_FOUND: { status: 404, exit: Exit.error },
  ERR_SECRET_TYPE: { status: 400, exit: Exit.error },
  ERR_STORE_UNAVAILABLE: { status: 503, exit: Exit.error },
  ERR_STORE_PASSPHRASE_MISSING: { status: 500, exit: Exit.usage },
  ERR_STORE_PASSPHRASE: { status: 500, exit: Exit.error },
  ERR_STORE_CORRUPT: { status: 500, exit: Exit.error },
  ERR_STORE_LOCKED: { status: 503, exit: Exit.error },
  ERR_POLICY_INVALID: { status: 400, exit: Exit.error },
  ERR_POLICY_DENIED: { status: 403, exit: Exit.denied },
  ERR_TASK_UNKNOWN: { status: 404, exit: Exit.denied },
  ERR_SESSION_LIMIT: { status: 429, exit: Exit.denied },
  ERR_SESSION_NOT_FOUND: { status: 404, exit: Exit.error },
  ERR_NESTED_SESSION: { status: 400, exit: Exit.usage },
  ERR_BAD_REQUEST: { status: 400, exit: Exit.error },
  ERR_BODY_TOO_LARGE: { status: 413, exit: Exit.error },
  ERR_ROUTE_NOT_FOUND: { status: 404, exit: Exit.error },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, exit: Exit.error },
  ERR_UNSAFE_PATH: { status: 400, exit: Exit.error },
  ERR_SANDBOX_UNSAFE: { status: 400, exit: Exit.error },
  ERR_ENV_REFERENCE: { status: 400, exit: Exit.error },
  ERR_SANDBOX_UNAVAILABLE: { status: 500, exit: Exit.error },
  ERR_SANDBOX_PATH: { status: 400, exit: Exit.error },
  ERR_SESSION_SCOPE: { status: 403, exit: Exit.denied },
  ERR_EGRESS_DENIED: { status: 403, exit: Exit.denied },
  ERR_DAEMON_RUNNING: { status: 409, exit: Exit.error },
  ERR_DAEMON_UNREACHABLE: { status: 503, exit: Exit.unreachable },
  ERR_DAEMON_STOPPING: { status: 503, exit: Exit.unreachable },
  ERR_UPSTREAM_AWS: { status: 502, exit: Exit.upstream },
  ERR_UPSTREAM_GITHUB: { status: 502, exit: Exit.upstream },
  ERR_UPSTREAM_TIMEOUT: { status: 504, exit: Exit.upstream },
  ERR_JOURNAL: { status: 500, exit: Exit.error },
  ERR_INTERNAL: { status: 500, exit: Exit.error },
  /** `on_env_expiry: refuse`: the session would outlive the credentials put in a process's environment. */
  ERR_ENV_EXPIRY: { status: 403, exit: Exit.denied },
  /** The client's own refusal of a socket someone else could have put there; never sent by a daemon. */
  ERR_SOCKET_UNTRUSTED: { status: 500, exit: Exit.error },
  /** A session answer that would set a variable changing what the command runs or trusts. */
  ERR_UNSAFE_ENV: { status: 502, exit: Exit.error },
  /** The native addon (native/) is missing or broken on Linux: fail closed. */
  ERR_NATIVE_UNAVAILABLE: { status: 500, exit: Exit.error },
  /** --passphrase-file is readable or writable by others, or not the user's own. */
  ERR_PASSPHRASE_FILE_UNSAFE: { status: 500, exit: Exit.error },
  /** The client's own refusal of a daemon socket answered by another uid (SO_PEERCRED). */
  ERR_DAEMON_UNTRUSTED: { status: 503, exit: Exit.unreachable },
  /** The daemon cannot create or use its state directory. */
  ERR_STATE_DIR: { status: 500, exit: Exit.error },
  /** The daemon is at its connection or body budget (a flood of slow clients). */
  ERR_BUSY: { status: 503, exit: Exit.unreachable },
  /** The task is over its `budget:` (sessions or credentials per hour); the answer carries Retry-After. */
  ERR_BUDGET: { status: 429, exit: Exit.denied },
  /** An operator denied the session request waiting for approval (`broker deny`). */
  ERR_APPROVAL_DENIED: { status: 403, exit: Exit.denied },
  /** Nobody approved the session request within the policy's `approval.timeout`. */
  ERR_APPROVAL_TIMEOUT: { status: 403, exit: Exit.denied },
  /** `broker approve`/`deny` named a request that is not waiting (never was, already decided, withdrawn or changed). */
  ERR_APPROVAL_NOT_FOUND: { status: 404, exit: Exit.error },
  /** `broker approve` without a terminal to confirm on and without --yes. */
  ERR_CONFIRMATION_REQUIRED: { status: 400, exit: Exit.usage },
  /** A task whose credentials the egress proxy injects, asked for without a box (`broker run --no-sandbox`). */
  ERR_INJECT_UNBOXED: { status: 400, exit: Exit.usage },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CODES;

export interface BrokerErrorOptions {
  /** What the user should do about it, printed by the CLI under the message. */
  fix?: string;
  cause?: unknown;
  /** Extra, secret-free fields for the API answer (e.g. the upstream's own code). */
  details?: Record<string, string | number | boolean>;
}

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly fix: string | undefined;
  readonly details: Record<string, string | number | boolean> | undefined;

  constructor(code: ErrorCode, message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BrokerError";
    this.code = code;
    this.fix = options.fix;
    this.details = options.details;
  }

  get status(): number {
    return CODES[this.code].status;
  }

  get exitCode(): number {
    return CODES[this.code].exit;
  }

  toJSON(): { code: ErrorCode; message: string; fix?: string } & Record<string, unknown> {
    return { code: this.code, message: this.message, ...(this.fix ? { fix: this.fix } : {}), ...this.details };
  }
}

export function isBrokerError(value: unknown): value is BrokerError {
  return value instanceof BrokerError;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(CODES, value);
}

/** Rebuilds a BrokerError from an API error body, so the CLI can map its code to an exit code. */
export function fromApiError(status: number, body: unknown): BrokerError {
  const err = (body as { error?: { code?: unknown; message?: unknown; fix?: unknown } } | null)?.error;
  const code = isErrorCode(err?.code) ? err.code : status >= 500 ? "ERR_INTERNAL" : "ERR_BAD_REQUEST";
  const message = typeof err?.message === "string" ? err.message : `the daemon answered HTTP ${status}`;
  const fix = typeof err?.fix === "string" ? err.fix : undefined;
  return new BrokerError(code, message, fix ? { fix } : {});
}
