/**
 * The audit log: `<state>/audit.jsonl`, one JSON object per line. Credentials appear only as
 * fingerprints (an access key id, or the first 8 hex of a token's SHA-256), never as values.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";

export type AuditEvent = "session.open" | "mint" | "refresh" | "deny" | "revoke" | "expire" | "session.close" | "recover";

export interface AuditEntry {
  event: AuditEvent;
  task: string | null;
  session: string | null;
  outcome: string;
  [field: string]: string | number | boolean | null | undefined | string[];
}

export interface AuditLog {
  write(entry: AuditEntry): void;
  close(): Promise<void>;
}

export function openAuditLog(stateDir: string, now: () => number = Date.now): AuditLog {
  const stream: WriteStream = createWriteStream(join(stateDir, "audit.jsonl"), { flags: "a", mode: 0o600 });
  return {
    write(entry) {
      const { event, task, session, outcome, ...rest } = entry;
      stream.write(`${JSON.stringify({ time: new Date(now()).toISOString(), event, task, session, outcome, ...rest })}\n`);
    },
    close() {
      return new Promise((resolve) => stream.end(resolve));
    },
  };
}
