/** A session's TTL timer: ends it when its time is up, re-arming where a timer cannot wait that long. */
import type { Session } from "./session.js";

const MAX_TIMER_MS = 2 ** 31 - 1;

export function scheduleExpiry(session: Session, now: () => number, end: (id: string) => Promise<unknown>): void {
  const fire = () => {
    const left = session.expiresAt - now();
    if (left > 0) return arm(left);
    void end(session.id);
  };
  const arm = (ms: number) => {
    const timer = setTimeout(() => {
      session.timers.delete(timer);
      fire();
    }, Math.min(ms, MAX_TIMER_MS));
    session.timers.add(timer);
  };
  arm(Math.max(0, session.expiresAt - now()));
}
