/** A live session as the daemon holds it, and what the session manager is built from. */
import type { Approvals } from "../approval/pending-approvals.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { Logger } from "../daemon/logger.js";
import type { OpenExits, SessionExits } from "../daemon/session-exits.js";
import type { Policy, SessionPlan } from "../policy/types.js";
import type { Provider, ProviderName } from "../providers/provider.js";
import type { HandleCipher } from "./handle-cipher.js";
import type { Budget } from "./budget.js";
import type { Journal } from "./journal.js";
import type { LiveLease } from "./leases.js";
import type { RevocationQueue } from "./revocation.js";
import type { SandboxHandle, SandboxSink } from "./sandbox-sink.js";
import type { SessionEvents } from "./session-events.js";
import type { SessionInjection } from "./session-injection.js";

export interface SessionManagerDeps {
  policies: () => Map<string, Policy>;
  providers: Provider[];
  journal: Journal;
  cipher: HandleCipher;
  revocation: RevocationQueue;
  sandbox: SandboxSink;
  audit: AuditLog;
  logger: Logger;
  now: () => number;
  /** Opens a confined session's session socket and egress proxy (`confine: true`). */
  openExits?: OpenExits;
  /** Host paths the daemon knows a box must hide: its state, policies and socket dirs. */
  hide?: string[];
  /** Tells a session's holder of refreshes and of the end (GET /v1/sessions/{id}/events). */
  events?: SessionEvents;
  /** Per-task sessions and credentials per hour (`budget:`); absent, nothing is counted. */
  budget?: Budget;
  /** Holds a request whose plan needs a person's approval until it is approved (policy `approval:`). */
  approvals?: Pick<Approvals, "check">;
}

export interface Session {
  id: string;
  task: string;
  plan: SessionPlan;
  policy: Policy;
  createdAt: number;
  expiresAt: number;
  leases: Map<ProviderName, LiveLease>;
  /** Leases replaced by a refresh but kept valid: they are in a command's environment. */
  replaced: Set<LiveLease>;
  /** Said to the client at open (a credential in its environment ends before the session). */
  warnings: string[];
  sandbox?: SandboxHandle;
  /** A confined session's ways out of its box. */
  exits?: SessionExits;
  /** Credentials the egress proxy injects: the box holds these placeholders instead. */
  injection?: SessionInjection;
  /** What its box must hide (given with the session to whoever builds the box). */
  hide: string[];
  timers: Set<NodeJS.Timeout>;
  ending: Promise<void> | null;
}
