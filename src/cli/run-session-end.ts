/**
 * `broker run` follows its session's events while CMD runs: a refresh teaches the maskers the new
 * values (and is acknowledged, so the daemon hands them out only then); an end that CMD did not
 * cause (TTL, `broker revoke`, the daemon stopping or dying) is said on stderr and, unless
 * `--on-session-end warn`, stops CMD: SIGTERM, then SIGKILL after a grace, and broker run exits
 * SESSION_ENDED_EXIT.
 */
import type { BrokerClient, SessionEvent } from "../client/broker-client.js";
import { BrokerError } from "../errors.js";
import { credentialValues } from "./run-output.js";

/** broker run's own exit code when its session ended under CMD (not one of the CLI's 0-5, nor a shell's 126-128+N). */
export const SESSION_ENDED_EXIT = 121;

export type OnSessionEnd = "stop" | "warn";

const WHY: Record<string, string> = {
  expire: "ttl expired",
  close: "revoked",
  revoke: "revoked",
  shutdown: "the daemon is shutting down",
  disconnect: "its connection to the daemon closed",
  leak: "the egress proxy caught a placeholder where it does not belong (on_leak: end)",
};

export interface RunSessionFollower {
  /** Hands over the maskers' `add`; refreshes that came before are replayed. */
  attachMaskers(add: (values: string[]) => void): void;
  /** Hands over what stops CMD; if the session already ended, it is called at once. */
  attachStop(stop: () => void): void;
  /** True once the session ended under CMD (and CMD was told to stop). */
  stoppedCmd(): boolean;
  /** CMD exited: nothing from here on is news (broker run ends the session itself). */
  close(): void;
}

export function followRunSession(client: BrokerClient, id: string, options: { stderr: NodeJS.WritableStream; onEnd: OnSessionEnd }): RunSessionFollower {
  let add: ((values: string[]) => void) | null = null;
  const early: string[][] = [];
  let stop: (() => void) | null = null;
  let done = false;
  let stopped = false;

  const ended = (why: string) => {
    if (done) return;
    done = true;
    watch?.close();
    const then = options.onEnd === "warn" ? "the command keeps running without it (--on-session-end warn)" : "stopping the command";
    options.stderr.write(`broker: session ${id} ended (${why}); ${then}\n`);
    if (options.onEnd === "warn") return;
    stopped = true;
    stop?.();
  };
  const onEvent = (event: SessionEvent) => {
    if (done) return;
    if (event.type === "end") {
      for (const leak of event.leaks ?? []) options.stderr.write(`broker: the egress proxy refused what looked like an exfiltration attempt: ${leak}\n`);
      return ended(WHY[event.reason] ?? event.reason);
    }
    if (event.type !== "refresh") return;
    const values = credentialValues(event.credentials);
    if (add) add(values);
    else early.push(values);
    void client.ackRefresh(id, event.seq).catch(() => undefined);
  };

  // The watch is set up while CMD starts, not before: a refresh is minutes away at the
  // earliest, and an end that comes first is still told to the watch that follows it.
  let watch: { close(): void } | null = null;
  void client.watchSession(id, { onEvent, onDrop: () => ended("lost the connection to the daemon") }).then(
    (w) => {
      watch = w;
      if (done) w.close();
    },
    (error: unknown) => {
      // Gone between the open and the watch (a TTL of a second, a quick revoke), or unreachable.
      const gone = error instanceof BrokerError && error.code === "ERR_SESSION_NOT_FOUND";
      ended(gone ? "it is no longer live" : "lost the connection to the daemon");
    },
  );

  return {
    attachMaskers(fn) {
      add = fn;
      for (const values of early.splice(0)) fn(values);
    },
    attachStop(fn) {
      stop = fn;
      if (stopped) fn();
    },
    stoppedCmd: () => stopped,
    close() {
      done = true;
      watch?.close();
    },
  };
}
