/**
 * Sessions: open → mint → deliver → refresh → end. Every lease is journaled before anything is
 * handed out; ending a session revokes what can be revoked and removes every file it wrote.
 */
import { randomUUID } from "node:crypto";
import { BrokerError, isBrokerError } from "../errors.js";
import { narrowRequest } from "../policy/narrow.js";
import type { Policy, SessionPlan } from "../policy/types.js";
import type { SessionExits } from "../daemon/session-exits.js";
import { isoTime } from "../util/iso-time.js";
import { journalLeases, mintAll, revokeLeases, type LiveLease } from "./leases.js";
import { checkEnvExpiry, envShortfalls } from "./env-delivery.js";
import { scheduleRefresh } from "./refresh.js";
import { missingProvider } from "./required-providers.js";
import { exitsRequest } from "./exits-request.js";
import { injectedParts, isInjected, prepareInjection, unboxedInjectionError } from "./session-injection.js";
import { realCredentials, sessionCredentials, sessionView } from "./session-view.js";
import type { Session, SessionManagerDeps } from "./session.js";
import type { OverBudget } from "./budget.js";
import { scheduleExpiry } from "./session-expiry.js";
import { unknownTaskError } from "./unknown-task.js";
import type { EndReason, OpenSessionRequest, SessionCredentials, SessionView } from "./types.js";

// Callers know these types from here.
export type { Session, SessionManagerDeps } from "./session.js";

export interface SessionManager {
  open(request: OpenSessionRequest): Promise<Session>;
  get(id: string): Session;
  list(): Session[];
  /** Live sessions of `task`; ERR_TASK_UNKNOWN when it has none and no policy (a typo). */
  listTask(task: string): Session[];
  end(id: string, reason: EndReason): Promise<void>;
  endAll(reason: EndReason, filter?: (s: Session) => boolean): Promise<number>;
  credentials(session: Session): SessionCredentials;
  view(session: Session, withCredentials: boolean): SessionView;
  /** Every secret value the session currently holds (for masking and leak checks). */
  secrets(session: Session): string[];
  size(): number;
}

export function createSessionManager(deps: SessionManagerDeps): SessionManager {
  const sessions = new Map<string, Session>();
  const opening = new Map<string, number>();

  // Live sessions per task, kept alongside `sessions`: counting them on every open was O(n).
  const live = new Map<string, number>();
  const liveCount = (task: string): number => (opening.get(task) ?? 0) + (live.get(task) ?? 0);

  function policyFor(task: string): Policy {
    const policy = deps.policies().get(task);
    if (!policy) {
      deps.audit.write({ event: "deny", task, session: null, outcome: "unknown-task" });
      throw unknownTaskError(task, deps.policies().keys());
    }
    return policy;
  }

  const releaseLeases = (session: Session, leases: Iterable<LiveLease>) => revokeLeases(deps.revocation, session, leases);

  const manager: SessionManager = {
    async open(request) {
      const policy = policyFor(request.task);
      const unmet = missingProvider(policy, request.requires);
      if (unmet) {
        deps.audit.write({ event: "deny", task: policy.task, session: null, outcome: "denied", code: unmet.code, reason: unmet.message });
        throw unmet;
      }
      let plan: SessionPlan;
      try {
        plan = narrowRequest(policy, { ...(request.ttlSeconds !== undefined ? { ttlSeconds: request.ttlSeconds } : {}), ...(request.scope ? { scope: request.scope } : {}) });
      } catch (error) {
        if (isBrokerError(error)) deps.audit.write({ event: "deny", task: request.task, session: null, outcome: "denied", code: error.code, reason: error.message });
        throw error;
      }
      if (request.unboxed && injectedParts(plan)) {
        deps.audit.write({ event: "deny", task: plan.task, session: null, outcome: "denied", code: "ERR_INJECT_UNBOXED" });
        throw unboxedInjectionError(plan.task);
      }
      // Checked and counted in one turn (no await between) unless over: two opens cannot both take the last one.
      const mints = deps.providers.filter((p) => p.applies(plan)).length;
      const over = deps.budget?.over(policy, mints);
      // `over_budget: approve`: the open waits for a person as under `approval:`, the budget named as the reason.
      let approvedOver = false;
      /** The approval that let this open go ahead, named on its session.open line. */
      let approval: string | undefined;
      const askApproval = deps.approvals ? async (o: OverBudget) => {
        approval = await deps.approvals!.check(policy, plan, request.approval, `over its budget of ${o.limit} ${o.budget === "sessions_per_hour" ? "sessions" : "credentials"} per hour`);
        return (approvedOver = true);
      } : undefined;
      if (over) await deps.budget!.refuse(over, askApproval);
      if (liveCount(policy.task) >= policy.maxSessions) {
        deps.audit.write({ event: "deny", task: policy.task, session: null, outcome: "session-limit", limit: policy.maxSessions });
        throw new BrokerError("ERR_SESSION_LIMIT", `task "${policy.task}" already has ${policy.maxSessions} live sessions (max_sessions)`, {
          fix: "end one (broker revoke ID), wait for one to expire, or raise max_sessions in the policy",
        });
      }
      deps.budget?.countOpen(policy, mints);
      opening.set(policy.task, (opening.get(policy.task) ?? 0) + 1);
      try {
        // While it waits, the request holds its place among the task's max_sessions.
        if (!approvedOver) approval = await deps.approvals?.check(policy, plan, request.approval);
        return await openSession(policy, plan, request, approval);
      } finally {
        const n = (opening.get(policy.task) ?? 1) - 1;
        if (n > 0) opening.set(policy.task, n);
        else opening.delete(policy.task);
      }
    },

    get(id) {
      const session = sessions.get(id);
      if (!session) throw new BrokerError("ERR_SESSION_NOT_FOUND", `no live session "${id}"`, { fix: "list live sessions with `broker sessions`" });
      return session;
    },

    list: () => [...sessions.values()],
    listTask(task) {
      const mine = [...sessions.values()].filter((s) => s.task === task);
      if (mine.length === 0 && !deps.policies().has(task)) throw unknownTaskError(task, deps.policies().keys());
      return mine;
    },
    size: () => sessions.size,

    async end(id, reason) {
      const session = manager.get(id);
      session.ending ??= endSession(session, reason);
      return session.ending;
    },

    async endAll(reason, filter = () => true) {
      const chosen = [...sessions.values()].filter(filter);
      await Promise.all(chosen.map((s) => manager.end(s.id, reason).catch(() => undefined)));
      return chosen.length;
    },

    credentials: sessionCredentials,
    view: sessionView,

    secrets(session) {
      return [...session.leases.values(), ...session.replaced].flatMap((l) => l.lease.secrets);
    },
  };

  async function openSession(policy: Policy, plan: SessionPlan, request: OpenSessionRequest, approval: string | undefined): Promise<Session> {
    const now = deps.now();
    const session: Session = {
      id: randomUUID(),
      task: plan.task,
      plan,
      policy,
      hide: deps.hide ?? [],
      createdAt: now,
      expiresAt: now + plan.ttlSeconds * 1000,
      leases: new Map(),
      replaced: new Set(),
      warnings: [],
      timers: new Set(),
      ending: null,
    };
    if (request.sandbox) session.sandbox = await deps.sandbox.prepare(request.sandbox);
    const sandboxRecord = session.sandbox ? { sandbox: { dir: session.sandbox.dir, tmp: session.sandbox.tmp } } : {};
    const openRecord = { t: "open", session: session.id, task: session.task, expiresAt: session.expiresAt, ...sandboxRecord } as const;
    // Only sandbox files make this record worth an fsync: without them, recovery has nothing to clean up for it.
    if (session.sandbox) await deps.journal.append(openRecord);
    else deps.journal.appendUnsynced(openRecord);

    const providers = deps.providers.filter((p) => p.applies(plan));
    const { minted, error } = await mintAll(providers, { sessionId: session.id, plan, sessionExpiresAt: session.expiresAt }, deps.now);
    const inEnv = new Set<string>(request.envDelivery ?? []);
    const injected = injectedParts(plan);
    for (const lease of minted) if (inEnv.has(lease.provider) && !isInjected(injected, lease.provider)) lease.inEnv = true;
    try {
      if (error) throw error;
      const journaled = journalLeases(deps.journal, deps.cipher, session.id, minted);
      if (journaled) await journaled;
      for (const lease of minted) session.leases.set(lease.provider, lease);
      const injection = prepareInjection(plan, realCredentials(session));
      if (injection) session.injection = injection;
      session.warnings = [...checkEnvExpiry(session, deps.audit, deps.now()), ...(injection?.fallbacks ?? [])];
      if (session.sandbox) session.sandbox.files = await deps.sandbox.write(session.sandbox, manager.view(session, false), manager.credentials(session));
      // An injected credential's placeholders work only through the session's proxy: it always has one.
      if (request.confine || session.injection) session.exits = await openExits(session);
    } catch (failure) {
      await journalLeases(deps.journal, deps.cipher, session.id, minted.filter((l) => !session.leases.has(l.provider)))?.catch(() => undefined);
      for (const lease of minted) session.leases.set(lease.provider, lease);
      const code = isBrokerError(failure) ? failure.code : "ERR_INTERNAL";
      deps.audit.write({ event: "mint", task: session.task, session: session.id, outcome: "failed", code });
      await endSession(session, "failed-open");
      throw failure;
    }

    sessions.set(session.id, session);
    live.set(session.task, (live.get(session.task) ?? 0) + 1);
    deps.audit.write({ event: "session.open", task: session.task, session: session.id, outcome: "ok", expiresAt: isoTime(session.expiresAt), ...(approval ? { approval } : {}), ...(session.sandbox ? { sandbox: session.sandbox.dir } : {}), ...(session.warnings.length > 0 ? { envExpiresFirst: envShortfalls(session).map((f) => f.provider) } : {}) });
    for (const lease of minted) {
      deps.audit.write({ event: "mint", task: session.task, session: session.id, outcome: "ok", provider: lease.provider, credential: lease.lease.fingerprint, validUntil: lease.lease.expiresAt === null ? null : isoTime(lease.lease.expiresAt), ...(lease.inEnv ? { inEnv: true } : {}), ...lease.lease.audit });
      scheduleRefresh(session, lease, refreshDeps);
    }
    scheduleExpiry(session, deps.now, (id) =>
      manager.end(id, "expire").catch((error: unknown) => deps.logger.log("error", "ending an expired session failed", { session: id, code: isBrokerError(error) ? error.code : "ERR_INTERNAL" })),
    );
    return session;
  }

  const refreshDeps = {
    ...deps,
    isLive: (s: Session) => sessions.get(s.id) === s && !s.ending,
    rewriteFiles: async (s: Session) => {
      if (s.sandbox) s.sandbox.files = await deps.sandbox.write(s.sandbox, manager.view(s, false), manager.credentials(s));
    },
    release: (s: Session, lease: LiveLease) => releaseLeases(s, [lease]),
    announce: (s: Session, fresh: LiveLease) =>
      deps.events?.refresh(s.id, sessionCredentials({ ...s, leases: new Map([...s.leases, [fresh.provider, fresh]]) })) ?? Promise.resolve(),
  };

  function openExits(session: Session): Promise<SessionExits> {
    if (!deps.openExits) throw new BrokerError("ERR_INTERNAL", "this daemon cannot confine sessions", {});
    return deps.openExits(exitsRequest(session, deps.audit, (id) => manager.end(id, "leak")));
  }

  async function endSession(session: Session, reason: EndReason): Promise<void> {
    // The holder hears of it first, so that its command stops while credentials are revoked.
    if (reason !== "failed-open") deps.events?.end(session.id, reason, session.injection?.leaks);
    // The box's ways out close first: nothing leaves through them while credentials are revoked.
    await session.exits?.close().catch((error: unknown) => deps.logger.log("error", "closing the session's sockets failed", { session: session.id, code: (error as NodeJS.ErrnoException).code ?? "ERR_INTERNAL" }));
    for (const timer of session.timers) clearTimeout(timer);
    session.timers.clear();
    if (sessions.delete(session.id)) {
      const n = (live.get(session.task) ?? 1) - 1;
      if (n > 0) live.set(session.task, n);
      else live.delete(session.task);
    }
    if (session.sandbox) {
      await deps.sandbox.remove(session.sandbox).catch((error: unknown) => deps.logger.log("error", "removing sandbox files failed", { session: session.id, code: isBrokerError(error) ? error.code : "ERR_INTERNAL" }));
    }
    const replaced = [...session.replaced];
    session.replaced.clear();
    await releaseLeases(session, [...session.leases.values(), ...replaced]);
    // Lost in an OS crash, it would only have recovery remove files that are already gone.
    deps.journal.appendUnsynced({ t: "close", session: session.id });
    if (reason === "expire") deps.audit.write({ event: "expire", task: session.task, session: session.id, outcome: "ok" });
    if (reason !== "failed-open") deps.audit.write({ event: "session.close", task: session.task, session: session.id, outcome: "ok", reason });
  }

  return manager;
}
