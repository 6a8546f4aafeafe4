/**
 * The audit log: `<state>/audit.jsonl`, one JSON object per line. Credentials appear only as
 * fingerprints (an access key id, or the first 8 hex of a token's SHA-256), never as values.
 *
 * Lines go through a FileAppender (util/file-appender.ts): the lines of one turn of the event
 * loop share one write(2), made before the loop next waits. A failed write (a full disk, say) is
 * reported through `onError` with the count of lines lost so far; the daemon goes on serving.
 */
import { closeSync, constants } from "node:fs";
import { join } from "node:path";
import { createFileAppender } from "../util/file-appender.js";
import { isoTime } from "../util/iso-time.js";
import { openPrivateFile } from "../util/private-dir.js";

export type AuditEvent =
  | "session.open" | "mint" | "refresh" | "deny" | "revoke" | "expire" | "session.close" | "recover" | "egress"
  | "approval.request" | "approve" | "approval.timeout" | "approval.withdraw" | "budget.deny" | "leak";

export interface AuditEntry {
  event: AuditEvent;
  task: string | null;
  session: string | null;
  outcome: string;
  [field: string]: string | number | boolean | null | undefined | string[];
}

export interface AuditLog {
  write(entry: AuditEntry): void;
  /** Calls back once every line written so far is in the file (or its loss reported). */
  afterWrite(callback: () => void): void;
  close(): Promise<void>;
}

export interface AuditLogOptions {
  now?: () => number;
  /** Called on each failed write, with the errno code and the lines lost since the log was opened. */
  onError?: (code: string, lost: number) => void;
  /** Test seam: opens the file (a test gives /dev/full, which the real open refuses as a symlink). */
  openFile?: (path: string) => number;
}

const openFile = (path: string) => openPrivateFile(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, "the audit log");

export function openAuditLog(stateDir: string, options: AuditLogOptions = {}): AuditLog {
  const now = options.now ?? Date.now;
  // Never through a symlink or into a file with another name: the daemon would append to someone else's file.
  const fd = (options.openFile ?? openFile)(join(stateDir, "audit.jsonl"));
  let closed = false;
  let lost = 0;
  const appender = createFileAppender(fd, (error, lines) => {
    lost += lines;
    options.onError?.(error.code ?? "EIO", lost);
  });
  return {
    write(entry) {
      if (closed) return;
      // `time` first, then the entry as written (every caller leads with event, task, session,
      // outcome). Spliced in rather than spread into a new object: this runs several times a session.
      appender.add(`{"time":"${isoTime(now())}",${JSON.stringify(entry).slice(1)}\n`);
    },
    afterWrite: (callback) => appender.afterWrite(callback),
    async close() {
      if (closed) return;
      closed = true;
      try {
        appender.flush();
      } finally {
        closeSync(fd);
      }
    },
  };
}
