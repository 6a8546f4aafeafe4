/**
 * The `os` store: the platform keychain through keytar (macOS Keychain, Windows Credential
 * Manager, Secret Service on Linux). Service `broker`, account = secret name, password = a small
 * JSON envelope `{type, value}` so `list` can show types without a second lookup.
 */
import type * as KeytarModule from "keytar";
import { BrokerError } from "../errors.js";
import { INTERNAL_PREFIX, SECRET_TYPES, type SecretEntry, type SecretStore, type StoredSecret } from "./secret-store.js";

export const KEYTAR_SERVICE = "broker";

type Keytar = typeof KeytarModule;

const FIX =
  "unlock or start the keychain (on Linux: a Secret Service such as gnome-keyring in a D-Bus session), " +
  "or use the encrypted file store instead: --store file (or BROKER_STORE=file) with BROKER_STORE_PASSPHRASE or --passphrase-file F";

/** keytar's errors come from the platform (libsecret, Security.framework); `value` is scrubbed anyway. */
export function storeUnavailable(error: unknown, value?: string): BrokerError {
  let reason = error instanceof Error ? error.message : String(error);
  if (value) reason = reason.split(value).join("<redacted>");
  return new BrokerError("ERR_STORE_UNAVAILABLE", `the OS keychain (Secret Service / Keychain) could not be reached: ${reason}`, {
    fix: FIX,
  });
}

async function loadKeytar(): Promise<Keytar> {
  try {
    const mod = (await import("keytar")) as Keytar & { default?: Keytar };
    // keytar is CommonJS: under ESM its functions sit on `default`.
    return mod.default ?? mod;
  } catch (error) {
    throw storeUnavailable(new Error(`keytar could not be loaded (${(error as Error).message})`));
  }
}

function parseEnvelope(name: string, password: string): StoredSecret {
  let parsed: unknown;
  try {
    parsed = JSON.parse(password);
  } catch {
    parsed = null;
  }
  const { type, value } = (parsed ?? {}) as { type?: unknown; value?: unknown };
  if (typeof type !== "string" || !(SECRET_TYPES as readonly string[]).includes(type) || typeof value !== "string") {
    throw new BrokerError("ERR_STORE_CORRUPT", `the keychain entry for "${name}" (service "${KEYTAR_SERVICE}") is not one broker wrote`, {
      fix: `remove it with \`broker secret rm ${name}\` and set it again`,
    });
  }
  return { type: type as StoredSecret["type"], value };
}

/** Runs one keytar call, turning every platform failure into ERR_STORE_UNAVAILABLE. */
async function call<T>(op: () => Promise<T>, value?: string): Promise<T> {
  try {
    return await op();
  } catch (error) {
    throw storeUnavailable(error, value);
  }
}

/** Opens the keychain store; keytar loads here, the keychain is first contacted on use. */
export async function keytarStore(): Promise<SecretStore> {
  const keytar = await loadKeytar();
  return {
    kind: "os",
    async get(name) {
      const password = await call(() => keytar.getPassword(KEYTAR_SERVICE, name));
      return password === null ? null : parseEnvelope(name, password);
    },
    async set(name, secret) {
      const envelope = JSON.stringify({ type: secret.type, value: secret.value });
      await call(() => keytar.setPassword(KEYTAR_SERVICE, name, envelope), secret.value);
    },
    async delete(name) {
      return call(() => keytar.deletePassword(KEYTAR_SERVICE, name));
    },
    async list() {
      const credentials = await call(() => keytar.findCredentials(KEYTAR_SERVICE));
      const entries: SecretEntry[] = [];
      for (const { account, password } of credentials) {
        if (account.startsWith(INTERNAL_PREFIX)) continue;
        try {
          entries.push({ name: account, type: parseEnvelope(account, password).type });
        } catch {
          // An entry someone else put under our service name: not ours to list or interpret.
        }
      }
      return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}
