/**
 * A small bounded cache of things built asynchronously (upstream clients), by a string id. Callers
 * asking for an id that is being built share the build; a build that fails is not kept; past `max`
 * entries the least recently used one is dropped and handed to `onDrop` (to close it, say).
 * Ids must hold no secret: callers put a digest of key material in them, never the key.
 */
export interface PromiseCache<T> {
  get(id: string, build: () => Promise<T>): Promise<T>;
}

export function createPromiseCache<T>(max: number, onDrop: (dropped: T) => void = () => undefined): PromiseCache<T> {
  const entries = new Map<string, Promise<T>>();
  return {
    get(id, build) {
      const found = entries.get(id);
      if (found) {
        // Map order is use order: move it to the end.
        entries.delete(id);
        entries.set(id, found);
        return found;
      }
      while (entries.size >= Math.max(1, max)) {
        const [oldest, dropped] = entries.entries().next().value as [string, Promise<T>];
        entries.delete(oldest);
        void dropped.then(onDrop, () => undefined);
      }
      const built = build();
      entries.set(id, built);
      built.catch(() => {
        if (entries.get(id) === built) entries.delete(id);
      });
      return built;
    },
  };
}
