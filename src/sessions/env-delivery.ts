/**
 * Credentials delivered in a process's environment (`broker run` without --no-env, `broker mint
 * --format env|dotenv`): no refresh reaches them there. This is the one place that knows which
 * credentials are so held, what a session opened that way is told, and why a replaced one stays
 * valid. When the egress proxy injects the real value and the environment holds a placeholder,
 * `heldInEnv` is where that provider stops counting.
 */
import type { AuditLog } from "../audit/audit-log.js";
import { BrokerError } from "../errors.js";
import type { ProviderName } from "../providers/provider.js";
import { formatDuration } from "../util/duration.js";
import { EXPIRY_SLACK_MS, type LiveLease } from "./leases.js";

/** The providers whose credentials a client may say it puts in an environment. */
export type EnvDelivered = Extract<ProviderName, "aws" | "github">;

/** Whether this lease's value sits in the environment of a process the session serves. */
export function heldInEnv(lease: LiveLease): boolean {
  return lease.inEnv === true;
}

/**
 * A replaced lease still in an environment is kept valid until its own expiry (or the session's
 * end), not revoked at refresh: revoking it would cut the command off mid-run. Only revocable
 * leases are concerned; the others stay valid anyway.
 */
export function keepAfterRefresh(lease: LiveLease): boolean {
  return heldInEnv(lease) && lease.lease.revoke !== null;
}

export interface EnvShortfall {
  provider: EnvDelivered;
  /** Epoch ms when the credential in the environment stops working. */
  expiresAt: number;
}

interface SessionTimes {
  id: string;
  task: string;
  expiresAt: number;
  leases: Map<ProviderName, LiveLease>;
  policy: { onEnvExpiry?: "warn" | "refuse" };
}

/** Credentials in an environment that end before the session does. */
export function envShortfalls(session: SessionTimes): EnvShortfall[] {
  const out: EnvShortfall[] = [];
  for (const lease of session.leases.values()) {
    const expiresAt = lease.lease.expiresAt;
    if (!heldInEnv(lease) || expiresAt === null || expiresAt >= session.expiresAt - EXPIRY_SLACK_MS) continue;
    out.push({ provider: lease.provider as EnvDelivered, expiresAt });
  }
  return out;
}

const VARIABLES: Record<EnvDelivered, string> = { github: "GH_TOKEN/GITHUB_TOKEN", aws: "the AWS_* keys" };
const REFRESHED: Record<EnvDelivered, string> = {
  github: "the sandbox files (--sandbox-tmp) or the `broker git-credential` helper, which are refreshed",
  aws: "--aws-endpoint, the sandbox files (--sandbox-tmp) or credential_process, which are refreshed",
};

/** For people: whole seconds, or whole minutes from ten minutes on (`floor` for a limit to stay within). */
function shown(ms: number, round: (x: number) => number = Math.round): string {
  const s = Math.max(1, round(ms / 1000));
  return formatDuration(s >= 600 ? Math.max(60, round(s / 60) * 60) : s);
}

function fact(s: EnvShortfall, session: SessionTimes, now: number): string {
  return `${VARIABLES[s.provider]} in the environment expire in ${shown(s.expiresAt - now)}, ${shown(session.expiresAt - s.expiresAt)} before the session ends`;
}

function fix(s: EnvShortfall, now: number): string {
  return `take them from ${REFRESHED[s.provider]}, or ask for --ttl ${shown(s.expiresAt - now, Math.floor)} or less`;
}

/**
 * At open: the warnings for a session that outlives the credentials in its client's environment,
 * or, when the policy says `on_env_expiry: refuse`, the refusal (audited as a denial).
 */
export function checkEnvExpiry(session: SessionTimes, audit: AuditLog, now: number): string[] {
  const shortfalls = envShortfalls(session);
  if (shortfalls.length === 0) return [];
  if (session.policy.onEnvExpiry === "refuse") {
    const refused = envExpiryRefused(session, shortfalls, now);
    audit.write({ event: "deny", task: session.task, session: session.id, outcome: "env-expiry", code: refused.code, providers: shortfalls.map((f) => f.provider) });
    throw refused;
  }
  return envWarnings(session, shortfalls, now);
}

/** One line per shortfall, for the client to print at open. */
function envWarnings(session: SessionTimes, shortfalls: EnvShortfall[], now: number): string[] {
  return shortfalls.map((s) => `${fact(s, session, now)}; ${fix(s, now)} (on_env_expiry: refuse in ${session.task}.yaml refuses such sessions)`);
}

/** The refusal when the policy says `on_env_expiry: refuse`. */
function envExpiryRefused(session: SessionTimes, shortfalls: EnvShortfall[], now: number): BrokerError {
  const first = shortfalls[0]!;
  return new BrokerError("ERR_ENV_EXPIRY", `task "${session.task}" refuses a session that outlives the credentials in its environment (on_env_expiry: refuse): ${shortfalls.map((s) => fact(s, session, now)).join("; ")}`, {
    fix: `${fix(first, now)}; or set on_env_expiry: warn in ${session.task}.yaml`,
  });
}
