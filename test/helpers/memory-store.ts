import type { SecretEntry, SecretStore, StoredSecret } from "../../src/store/secret-store.js";
import { INTERNAL_PREFIX } from "../../src/store/secret-store.js";

/** An in-process store for unit tests of code that only reads secrets; store backends have their own tests. */
export function memoryStore(initial: Record<string, StoredSecret> = {}): SecretStore {
  const entries = new Map(Object.entries(initial));
  return {
    kind: "file",
    async get(name) {
      return entries.get(name) ?? null;
    },
    async set(name, secret) {
      entries.set(name, secret);
    },
    async delete(name) {
      return entries.delete(name);
    },
    async list(): Promise<SecretEntry[]> {
      return [...entries]
        .filter(([name]) => !name.startsWith(INTERNAL_PREFIX))
        .map(([name, s]) => ({ name, type: s.type }))
        .sort((a, b) => a.name.localeCompare(b.name));
    },
  };
}
