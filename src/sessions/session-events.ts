/**
 * What a session's holder is told while it lives (`GET /v1/sessions/{id}/events`): a `refresh`
 * with the new credentials, before anyone else can get them, and an `end` with the reason.
 *
 * A refresh waits for every watcher to acknowledge it (`POST /v1/sessions/{id}/events/ack`), so
 * that `broker run`'s masker knows a new value before the command can read it from a file or
 * the session socket. A watcher that does not answer in time does not hold the refresh up longer.
 */
import type { SessionCredentials, EndReason } from "./types.js";

export type SessionEvent =
  | { type: "refresh"; seq: number; credentials: SessionCredentials }
  | { type: "end"; reason: EndReason; leaks?: string[] };

export type EventListener = (event: SessionEvent) => void;

export interface SessionEvents {
  /** Calls `listener` with the session's events; an already ended session's `end` comes at once. Returns the unsubscribe. */
  watch(id: string, listener: EventListener): () => void;
  /** Tells the watchers of new credentials; resolves once all acknowledged them, or after the timeout. */
  refresh(id: string, credentials: SessionCredentials): Promise<void>;
  /** A watcher has taken in refresh `seq`. */
  ack(id: string, seq: number): void;
  /** `leaks`: for an end by `on_leak`, what the proxy caught (never a value). */
  end(id: string, reason: EndReason, leaks?: string[]): void;
}

/** How long a refresh waits for its acknowledgements. */
export const ACK_TIMEOUT_MS = 2_000;
/** How many ended sessions' reasons are kept, for a watcher that subscribes just after the end (no timer per session: ends come by the thousand per second under load). */
const ENDED_KEPT = 1024;

export function createSessionEvents(options: { ackTimeoutMs?: number } = {}): SessionEvents {
  const ackTimeoutMs = options.ackTimeoutMs ?? ACK_TIMEOUT_MS;
  const watchers = new Map<string, Set<EventListener>>();
  const ended = new Map<string, Extract<SessionEvent, { type: "end" }>>();
  // Pending refreshes by session, then by seq: the number of acks still missing and the resolver.
  const pending = new Map<string, Map<number, { missing: number; done: () => void }>>();
  let nextSeq = 1;

  const emit = (id: string, event: SessionEvent): void => {
    for (const listener of [...(watchers.get(id) ?? [])]) listener(event);
  };

  return {
    watch(id, listener) {
      const end = ended.get(id);
      if (end !== undefined) {
        listener(end);
        return () => undefined;
      }
      let set = watchers.get(id);
      if (!set) watchers.set(id, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && watchers.get(id) === set) watchers.delete(id);
      };
    },

    refresh(id, credentials) {
      const count = watchers.get(id)?.size ?? 0;
      if (count === 0) return Promise.resolve();
      const seq = nextSeq++;
      return new Promise<void>((resolve) => {
        let bySeq = pending.get(id);
        if (!bySeq) pending.set(id, (bySeq = new Map()));
        const finish = () => {
          clearTimeout(timer);
          bySeq.delete(seq);
          if (bySeq.size === 0 && pending.get(id) === bySeq) pending.delete(id);
          resolve();
        };
        const timer = setTimeout(finish, ackTimeoutMs);
        timer.unref();
        bySeq.set(seq, { missing: count, done: finish });
        emit(id, { type: "refresh", seq, credentials });
      });
    },

    ack(id, seq) {
      const entry = pending.get(id)?.get(seq);
      if (!entry) return;
      entry.missing -= 1;
      if (entry.missing <= 0) entry.done();
    },

    end(id, reason, leaks) {
      if (ended.has(id)) return;
      const end = { type: "end" as const, reason, ...(leaks && leaks.length > 0 ? { leaks: [...leaks] } : {}) };
      ended.set(id, end);
      if (ended.size > ENDED_KEPT) ended.delete(ended.keys().next().value as string);
      // Nobody is left to acknowledge a refresh of an ended session.
      for (const entry of [...(pending.get(id)?.values() ?? [])]) entry.done();
      emit(id, end);
      watchers.delete(id);
    },
  };
}
