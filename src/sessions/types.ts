/** The session as the socket API shows it (docs/interface.md "Socket API"). */
import type { ApprovalWait } from "../approval/pending-approvals.js";
import type { AwsCredentials, GithubCredentials } from "../providers/provider.js";

export interface SessionCredentials {
  aws?: AwsCredentials;
  github?: GithubCredentials;
  env: Record<string, string>;
}

export interface SessionView {
  id: string;
  task: string;
  createdAt: string;
  expiresAt: string;
  sandbox?: { dir: string; path: string; files: string[] };
  /** A confined session: its sockets, and what its box hides, opens and passes on. */
  confinement?: SessionConfinement;
  credentials?: SessionCredentials;
  /** In the answer to an open only: what the client should tell its user (e.g. credentials in its environment end before the session). */
  warnings?: string[];
}

export interface SessionConfinement {
  /** Host directory holding both sockets; bind it into the box. */
  dir: string;
  /** The per-session socket (answers for this session only). */
  socket: string;
  /** The egress proxy (HTTP/1.1 forward proxy on a Unix socket). */
  proxy: string;
  /** Paths the box must hide: the daemon's state, policies and socket dirs, then the policy's `sandbox.hide` (`~/` not yet expanded). */
  hide: string[];
  /** The policy's `sandbox.write` and `sandbox.pass_env`, `~/` not yet expanded. */
  write: string[];
  passEnv: string[];
  /** Hosts the proxy refused so far, `host:port`. */
  denied: string[];
  /** With injection: the CA bundle (session CA, system roots, the operator's extra CAs) the box must trust. */
  caBundle?: string;
  /** Placeholders the proxy caught where they do not belong, as `credential in where to host`. */
  leaks?: string[];
}

export interface OpenSessionRequest {
  task: string;
  ttlSeconds?: number;
  sandbox?: { dir?: string; tmp?: boolean; path?: string };
  scope?: { github?: { repositories?: string[]; permissions?: Record<string, "read" | "write" | "admin"> } };
  /** Open a session socket and an egress proxy for a box (`broker run`, or a wrapper's own sandbox). */
  confine?: boolean;
  /** The command runs without a box (`broker run --no-sandbox`): refused for a task with injected credentials. */
  unboxed?: boolean;
  /** Credentials the client puts in a process's environment, where no refresh reaches them. */
  envDelivery?: ("aws" | "github")[];
  /** Providers the caller cannot do without (`broker mint --format credential-process`: aws); a task lacking one is refused before anything is minted. */
  requires?: ("aws" | "github")[];
  /** The open call's side of a wait for approval (policy `approval:`): who asks, and whether it is still there. */
  approval?: ApprovalWait;
}

export type EndReason = "close" | "expire" | "revoke" | "shutdown" | "disconnect" | "failed-open" | "leak";
