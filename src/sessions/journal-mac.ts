/**
 * Journal lines are authenticated: HMAC-SHA256 of each line's JSON, with a key held in the secret
 * store beside the handle key (one per state dir). Whoever can write the journal but not read the
 * store cannot make recovery act on a line: a line that fails is audited and skipped.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { INTERNAL_PREFIX, type SecretStore } from "../store/secret-store.js";
import { loadStoredKey } from "./handle-cipher.js";

export interface JournalMac {
  /** 64 hex characters. */
  sign(json: string): string;
  verify(json: string, mac: string): boolean;
}

/** Apart from the handle key: one key, one use. */
export function journalMacKeyName(stateDir: string): string {
  return `${INTERNAL_PREFIX}journal-mac-${createHash("sha256").update(stateDir).digest("hex").slice(0, 12)}`;
}

export function journalMac(key: Buffer): JournalMac {
  const sign = (json: string) => createHmac("sha256", key).update(json).digest("hex");
  return {
    sign,
    verify(json, mac) {
      if (!/^[0-9a-f]{64}$/.test(mac)) return false;
      return timingSafeEqual(Buffer.from(sign(json), "hex"), Buffer.from(mac, "hex"));
    },
  };
}

export async function loadJournalMac(store: SecretStore, stateDir: string): Promise<JournalMac> {
  return journalMac(await loadStoredKey(store, journalMacKeyName(stateDir)));
}

/** The marker in a sandbox's session.json: made with the journal key, so nobody else can make one. */
export function sandboxMarker(mac: JournalMac): { mark(session: string): string; isMark(session: string, marker: string): boolean } {
  return { mark: (session) => mac.sign(`sandbox ${session}`), isMark: (session, marker) => mac.verify(`sandbox ${session}`, marker) };
}
