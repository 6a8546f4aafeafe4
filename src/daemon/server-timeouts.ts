/**
 * Timeouts for the daemon's HTTP servers (main and per-session sockets), so a slow or silent
 * client cannot hold a connection: a connection that has not sent a whole request head in 10 s
 * (an idle connection included) gets 408, a request whose body has not arrived in 30 s gets 408,
 * and an idle keep-alive connection is closed after 5 s. A connection bound to a session or
 * carrying a long-lived stream lifts its own idle timeout (holdOpen in connection-gate.ts).
 */
import type { Server } from "node:http";

export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Node checks the header and request timeouts on this beat (its default, 30 s, would let them run late). */
const CHECK_EVERY_MS = 1_000;

export function applyServerTimeouts(server: Server): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Read by Node when the server starts listening.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = CHECK_EVERY_MS;
  server.maxHeadersCount = 64;
}
