/** Structured JSON logs on stderr. Callers pass fingerprints and codes, never secret values. */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(stream: NodeJS.WritableStream = process.stderr, now: () => number = Date.now): Logger {
  return {
    log(level, msg, fields = {}) {
      stream.write(`${JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

