/**
 * A typed client for the daemon's socket API, for the CLI and for people who write their own
 * launch wrappers. It uses Node's built-ins only (node:net; see http-wire.ts).
 */
import type { SessionCredentials, SessionView } from "../sessions/types.js";
import { watchSession, type SessionWatch, type WatchHandlers } from "./session-watch.js";
import { socketRequest } from "./socket-request.js";

export type { SessionCredentials, SessionView } from "../sessions/types.js";
export type { AwsCredentials, GithubCredentials } from "../providers/provider.js";
export type { SessionEvent, SessionWatch, WatchHandlers } from "./session-watch.js";

export interface OpenSessionOptions {
  task: string;
  /** Whole seconds or a duration such as "15m". */
  ttl?: number | string;
  sandbox?: { dir?: string; tmp?: boolean; path?: string };
  scope?: { github?: { repositories?: string[]; permissions?: Record<string, "read" | "write" | "admin"> } };
  /** Give the session its own socket and egress proxy, for a box (see `confinement` in the answer). */
  confine?: boolean;
  /** The caller runs the session's command without a box (`broker run --no-sandbox`): a task whose credentials are injected is then refused. */
  unboxed?: boolean;
  /** The credentials you will put in a process's environment (no refresh reaches them): a replaced GitHub token then stays valid to its expiry, and the answer's `warnings` say when one ends before the session. */
  envDelivery?: ("aws" | "github")[];
  /** Providers the caller needs: a task without one of them is refused (ERR_POLICY_DENIED) before a session opens. */
  requires?: ("aws" | "github")[];
  /** The session this request comes from inside of (BROKER_SESSION), shown to an approver. */
  parent?: string;
}

/** How a caller hears that its open waits for a person's approval (policy `approval:`). */
export interface OpenWaitOptions {
  /** Called once with the waiting request's id (for `broker approve ID`); the open returns when it is decided. */
  onPending?: (id: string) => void;
}

/** A session request waiting for approval, as `GET /v1/approvals` lists it (the summary is the daemon's). */
export interface PendingApproval {
  id: string;
  task: string;
  digest: string;
  createdAt: string;
  expiresAt: string;
  summary: { task: string; ttlSeconds: number; repositories: string[] | null; permissions: Record<string, string>; providers: string[]; reasons: string[] };
  requester: { pid: number | null; uid: number | null; executable: string | null; cwd: string | null };
  parentSession: string | null;
}

export interface BoundSession {
  session: SessionView;
  /** Closes the connection the session is bound to; the daemon then ends the session. */
  release(): void;
}

export interface Health {
  ok: boolean;
  version: string;
  sessions: number;
  /** Whether the kernel would write a core file of the daemon (absent from older daemons). */
  coreDumps?: "on" | "off" | "unknown";
}

export class BrokerClient {
  constructor(readonly socketPath: string) {}

  health(): Promise<Health> {
    return this.call<Health>("GET", "/v1/health");
  }

  /** Opens a session that lives until its TTL or `closeSession`. */
  async openSession(options: OpenSessionOptions, wait: OpenWaitOptions = {}): Promise<SessionView> {
    return (await socketRequest<SessionView>({ socketPath: this.socketPath, method: "POST", path: "/v1/sessions", body: options, ...(wait.onPending ? { onPending: wait.onPending } : {}) })).body;
  }

  /**
   * Opens a session bound to a connection of its own: it ends when `release()` is called or this
   * process exits or dies, whichever comes first.
   */
  async openBoundSession(options: OpenSessionOptions, wait: OpenWaitOptions = {}): Promise<BoundSession> {
    const { body, socket } = await socketRequest<SessionView>({
      socketPath: this.socketPath, method: "POST", path: "/v1/sessions", body: { ...options, bind: "connection" }, keepOpen: true, ...(wait.onPending ? { onPending: wait.onPending } : {}),
    });
    return { session: body, release: () => void socket?.destroy() };
  }

  /** Every live session, or those of `task` (ERR_TASK_UNKNOWN for a task the daemon has no policy for). */
  listSessions(task?: string): Promise<SessionView[]> {
    return this.call<SessionView[]>("GET", task === undefined ? "/v1/sessions" : `/v1/sessions?task=${encodeURIComponent(task)}`);
  }

  /** A session without credentials; on a session socket (inside a box), only its own. */
  async getSession(id: string): Promise<SessionView> {
    try {
      return await this.call<SessionView>("GET", `/v1/sessions/${encodeURIComponent(id)}`);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ERR_SESSION_SCOPE") throw error;
      const own = await this.call<SessionView>("GET", "/v1/session");
      if (own.id !== id) throw error;
      return own;
    }
  }

  /** The task of session `id`: asked of the operator's socket, or of the session socket for its own session. */
  async sessionTask(id: string): Promise<string> {
    try {
      return (await this.getSession(id)).task;
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ERR_SESSION_SCOPE") throw error;
      const own = await this.call<SessionView>("GET", "/v1/session");
      if (own.id !== id) throw error;
      return own.task;
    }
  }

  /**
   * The session's current credentials. Inside a box BROKER_SOCKET is the session's own socket,
   * which refuses the operator's routes (ERR_SESSION_SCOPE): then it is asked for its session.
   */
  async credentials(id: string): Promise<SessionCredentials> {
    try {
      return await this.call<SessionCredentials>("GET", `/v1/sessions/${encodeURIComponent(id)}/credentials`);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "ERR_SESSION_SCOPE") throw error;
      const own = await this.call<SessionView>("GET", "/v1/session");
      if (own.id !== id) throw error;
      return this.call<SessionCredentials>("GET", "/v1/session/credentials");
    }
  }

  /** Follows the session's refresh and end events (main socket only; see session-watch.ts). */
  watchSession(id: string, handlers: WatchHandlers): Promise<SessionWatch> {
    return watchSession(this.socketPath, id, handlers);
  }

  /** Says that refresh `seq` was taken in (its new values are masked): the daemon then hands them out. */
  async ackRefresh(id: string, seq: number): Promise<void> {
    await this.call<undefined>("POST", `/v1/sessions/${encodeURIComponent(id)}/events/ack`, { seq });
  }

  /** Requests waiting for approval (main socket only). */
  listApprovals(): Promise<PendingApproval[]> {
    return this.call<PendingApproval[]>("GET", "/v1/approvals");
  }

  /** Approves request `id`, bound to the plan `digest` that was shown (ERR_APPROVAL_NOT_FOUND if it changed). */
  async approve(id: string, digest: string): Promise<void> {
    await this.call<undefined>("POST", `/v1/approvals/${encodeURIComponent(id)}/approve`, { digest });
  }

  async deny(id: string, reason?: string): Promise<void> {
    await this.call<undefined>("POST", `/v1/approvals/${encodeURIComponent(id)}/deny`, reason === undefined ? {} : { reason });
  }

  async closeSession(id: string): Promise<void> {
    await this.call<undefined>("DELETE", `/v1/sessions/${encodeURIComponent(id)}`);
  }

  /** Ends every live session of `task`, or every one with `all`, in the daemon; returns the ids it ended. */
  async closeSessions(which: { task: string } | { all: true }): Promise<string[]> {
    const query = "task" in which ? `task=${encodeURIComponent(which.task)}` : "all=1";
    return (await this.call<{ revoked: string[] }>("DELETE", `/v1/sessions?${query}`)).revoked;
  }

  /** Ends the session and returns it as it was at its end (null from a daemon that answers 204 only). */
  async closeSessionWithView(id: string): Promise<SessionView | null> {
    return (await this.call<SessionView | undefined>("DELETE", `/v1/sessions/${encodeURIComponent(id)}?view=1`)) ?? null;
  }

  private async call<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T> {
    return (await socketRequest<T>({ socketPath: this.socketPath, method, path, body })).body;
  }
}
