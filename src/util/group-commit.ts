/**
 * Coalesces fsyncs: a request made while one runs is served by the next one, which starts when
 * it ends, so every request is covered by an fsync that began after its write.
 */
export function groupCommit(sync: () => Promise<void>): { request(): Promise<void>; idle(): Promise<void> } {
  let running: Promise<void> | null = null;
  let next: { promise: Promise<void>; start: () => void } | null = null;

  const settle = () => {
    running = null;
    if (next) {
      const queued = next;
      next = null;
      queued.start();
    }
  };
  const run = (): Promise<void> => {
    const current = sync();
    // `running` never rejects: the failure goes to the requesters, through `current`.
    running = current.then(settle, settle);
    return current;
  };

  return {
    request() {
      if (!running) return run();
      if (!next) {
        let start!: () => void;
        const promise = new Promise<void>((resolve, reject) => {
          start = () => run().then(resolve, reject);
        });
        next = { promise, start };
      }
      return next.promise;
    },
    async idle() {
      while (running) await running;
    },
  };
}
