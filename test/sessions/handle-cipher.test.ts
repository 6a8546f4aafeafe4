/**
 * The journal's sealed handles: what seal makes, open reads back; a handle jose made (the format's
 * reference implementation) opens too; a changed byte, another key or another shape is refused.
 */
import { CompactEncrypt } from "jose";
import { describe, expect, it } from "vitest";
import { journalKeyName, loadHandleCipher } from "../../src/sessions/handle-cipher.js";
import type { SecretStore, StoredSecret } from "../../src/store/secret-store.js";

function memoryStore(): SecretStore & { raw: Map<string, StoredSecret> } {
  const raw = new Map<string, StoredSecret>();
  return {
    kind: "os",
    raw,
    get: async (name) => raw.get(name) ?? null,
    set: async (name, secret) => void raw.set(name, secret),
    delete: async (name) => raw.delete(name),
    list: async () => [],
  } as SecretStore & { raw: Map<string, StoredSecret> };
}

const handle = { provider: "github" as const, apiUrl: "http://127.0.0.2:1", token: "ghs_example", expiresAt: 1 };

describe("handle cipher", () => {
  it("opens what it sealed, and what jose sealed with the same key", async () => {
    const store = memoryStore();
    const cipher = await loadHandleCipher(store, "/state");
    expect(await cipher.open(await cipher.seal(handle))).toEqual(handle);

    const key = Buffer.from(store.raw.get(journalKeyName("/state"))!.value, "base64url");
    const byJose = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(handle))).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(key);
    expect(await cipher.open(byJose)).toEqual(handle);
  });

  it("refuses a changed ciphertext, another key and other shapes", async () => {
    const cipher = await loadHandleCipher(memoryStore(), "/state");
    const sealed = await cipher.seal(handle);
    const parts = sealed.split(".");
    const flipped = Buffer.from(parts[3]!, "base64url");
    flipped[0]! ^= 1;
    await expect(cipher.open([parts[0], "", parts[2], flipped.toString("base64url"), parts[4]].join("."))).rejects.toThrow();
    const other = await loadHandleCipher(memoryStore(), "/state");
    await expect(other.open(sealed)).rejects.toThrow();
    const header = Buffer.from(JSON.stringify({ alg: "dir", enc: "A128GCM" })).toString("base64url");
    await expect(cipher.open([header, ...parts.slice(1)].join("."))).rejects.toThrow("not a sealed handle");
    await expect(cipher.open(sealed.replace(/^[^.]+\.\./, `${parts[0]}.x.`))).rejects.toThrow("not a sealed handle");
    await expect(cipher.open("a.b")).rejects.toThrow("not a sealed handle");
  });
});
