/** The session as the socket API shows it (CONTRACT.md "Socket API"). */
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
  credentials?: SessionCredentials;
}

export interface OpenSessionRequest {
  task: string;
  ttlSeconds?: number;
  sandbox?: { dir?: string; tmp?: boolean; path?: string };
  scope?: { github?: { repositories?: string[]; permissions?: Record<string, "read" | "write" | "admin"> } };
}

export type EndReason = "close" | "expire" | "revoke" | "shutdown" | "disconnect" | "failed-open";
