/**
 * How many connections the daemon may hold, sized from its open-file limit so that a flood of
 * clients can never take the descriptors that revocation (HTTPS to GitHub), the journal, the
 * audit log and sandbox writes need: a reserve is set aside first and connections are refused
 * before they reach it.
 */
import { readFileSync } from "node:fs";

export interface ConnectionCaps {
  /** Connections on every socket the daemon serves, together. */
  total: number;
  /** Connections one peer may hold on the main socket. */
  perPeer: number;
  /** Connections one session's socket may hold (its box is its only peer). */
  perSession: number;
  /** Descriptors kept free for everything that is not a client connection. */
  reserve: number;
  /** The soft RLIMIT_NOFILE the figures come from. */
  limit: number;
}

/** Beyond this, more connections buy nothing a local broker needs and cost memory (see the body budget). */
const MAX_TOTAL = 4096;
const MIN_RESERVE = 256;
/** Node's own default when nothing can be read (and the usual soft limit). */
const FALLBACK_LIMIT = 1024;

/** The soft "Max open files" of this process (Linux: /proc/self/limits), else the usual 1024. */
export function readOpenFileLimit(text?: string): number {
  try {
    const limits = text ?? readFileSync("/proc/self/limits", "utf8");
    const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits)?.[1];
    if (soft === "unlimited") return Number.MAX_SAFE_INTEGER;
    if (soft !== undefined && Number(soft) > 0) return Number(soft);
  } catch {
    // not Linux: fall back
  }
  return FALLBACK_LIMIT;
}

/** A quarter of the limit (at least 256) stays in reserve; the rest, up to 4096, is for connections. */
export function connectionCaps(limit: number): ConnectionCaps {
  const reserve = Math.max(MIN_RESERVE, Math.floor(limit / 4));
  const total = Math.max(16, Math.min(MAX_TOTAL, limit - reserve));
  return { total, perPeer: Math.max(8, Math.floor(total / 2)), perSession: 32, reserve, limit };
}
