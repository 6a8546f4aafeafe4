import { createHash } from "node:crypto";

/** The first 8 hex of the SHA-256 of a token: safe to log, enough to correlate. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 8);
}
