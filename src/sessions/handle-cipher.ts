/**
 * Encrypts what the journal must keep to revoke a lease later (a GitHub token, say), with a key
 * held in the secret store, so no revocable credential is ever in clear on disk.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import type { RevokeHandle } from "../providers/provider.js";
import { INTERNAL_PREFIX, type SecretStore } from "../store/secret-store.js";

export interface HandleCipher {
  seal(handle: RevokeHandle): Promise<string>;
  open(sealed: string): Promise<RevokeHandle>;
}

const PROTECTED_HEADER = Buffer.from(JSON.stringify({ alg: "dir", enc: "A256GCM" })).toString("base64url");

/** One key per state dir, so two daemons (or test runs) never share or race on one key. */
export function journalKeyName(stateDir: string): string {
  return `${INTERNAL_PREFIX}journal-key-${createHash("sha256").update(stateDir).digest("hex").slice(0, 12)}`;
}

/** A 32-byte key kept in the secret store under `name`, made on first use. */
export async function loadStoredKey(store: SecretStore, name: string): Promise<Buffer> {
  let stored = await store.get(name);
  if (!stored) {
    await store.set(name, { type: "generic", value: randomBytes(32).toString("base64url") });
    stored = await store.get(name);
  }
  const key = Buffer.from(stored?.value ?? "", "base64url");
  if (key.length !== 32) throw new Error("the journal key in the secret store is damaged");
  return key;
}

export async function loadHandleCipher(store: SecretStore, stateDir: string): Promise<HandleCipher> {
  const key = await loadStoredKey(store, journalKeyName(stateDir));
  return {
    // The compact JWE jose's CompactEncrypt makes ({"alg":"dir","enc":"A256GCM"}), made here in
    // one synchronous step: WebCrypto's two async jobs cost every GitHub mint two thread-pool trips.
    async seal(handle) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from(PROTECTED_HEADER));
      const ciphertext = Buffer.concat([cipher.update(JSON.stringify(handle), "utf8"), cipher.final()]);
      return [PROTECTED_HEADER, "", iv.toString("base64url"), ciphertext.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
    },
    async open(sealed) {
      return openSealed(sealed, key);
    },
  };
}

/**
 * Opens a compact JWE of the one shape seal makes (alg "dir", enc "A256GCM", no encrypted key),
 * with node:crypto, so recovery need not load jose first. Anything else is refused, not guessed at.
 */
function openSealed(sealed: string, key: Buffer): RevokeHandle {
  const parts = sealed.split(".");
  if (parts.length !== 5 || parts[1] !== "") throw new Error("not a sealed handle");
  const [header, , iv, ciphertext, tag] = parts as [string, string, string, string, string];
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
  } catch {
    throw new Error("not a sealed handle");
  }
  const { alg, enc, ...rest } = (parsed ?? {}) as Record<string, unknown>;
  if (alg !== "dir" || enc !== "A256GCM" || Object.keys(rest).length > 0) throw new Error("not a sealed handle");
  const ivBytes = Buffer.from(iv, "base64url");
  const tagBytes = Buffer.from(tag, "base64url");
  if (ivBytes.length !== 12 || tagBytes.length !== 16) throw new Error("not a sealed handle");
  const decipher = createDecipheriv("aes-256-gcm", key, ivBytes, { authTagLength: 16 }).setAAD(Buffer.from(header, "ascii"));
  decipher.setAuthTag(tagBytes);
  const plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]);
  return JSON.parse(plaintext.toString("utf8")) as RevokeHandle;
}
