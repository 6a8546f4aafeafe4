/**
 * The daemon's stderr is JSON lines only. Node prints process warnings there as plain text (the
 * AWS SDK emits an 8-line NodeVersionSupportWarning on Node < 22 through `process.emitWarning`),
 * so the daemon replaces Node's printer with one that hands each warning to its JSON logger.
 */
import type { Logger } from "./logger.js";

export function routeProcessWarnings(logger: Logger, target: NodeJS.Process = process): void {
  // Node's own printer is a "warning" listener (absent under --no-warnings); ours replaces it.
  target.removeAllListeners("warning");
  target.on("warning", (warning: Error & { code?: string }) => {
    logger.log("warn", warning.message, { warning: warning.name, ...(warning.code ? { code: warning.code } : {}) });
  });
}
