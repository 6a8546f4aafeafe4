/**
 * The `file` store, for machines without a reachable keychain (headless SSH, containers, CI):
 * one JWE file `<stateDir>/secrets.jwe`, PBES2-HS512+A256KW / A256GCM, whose plaintext is
 * `{version:1, secrets:{name:{type,value}}}`. Written atomically under a lock file; on any
 * error the existing file is left exactly as it was.
 */
import { createDecipheriv, pbkdf2, randomBytes } from "node:crypto";
import { constants, lstatSync, type Stats } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { BrokerError, isBrokerError } from "../errors.js";
import { checkPrivateFile, NOFOLLOW } from "../util/private-dir.js";
import { withFileLock } from "./file-lock.js";
import { INTERNAL_PREFIX, SECRET_TYPES, type SecretEntry, type SecretStore, type StoredSecret } from "./secret-store.js";

export const FILE_STORE_NAME = "secrets.jwe";
const ALG = "PBES2-HS512+A256KW";
const ENC = "A256GCM";
/** PBKDF2-HMAC-SHA512 rounds: OWASP's 2023 figure, ~0.1 s here; a `secret set` pays it twice. */
export const PBES2_COUNT = 210_000;
/** Files written with a higher count (a later tuning) still open; a tampered header cannot make us spin. */
const MAX_PBES2_COUNT = 2_000_000;

export interface FileStoreOptions {
  /** The JWE file, normally `<stateDir>/secrets.jwe`. */
  path: string;
  passphrase: string;
}

type Secrets = Map<string, StoredSecret>;

export function fileStore(options: FileStoreOptions): SecretStore {
  const { path } = options;
  const passphrase = new TextEncoder().encode(options.passphrase);
  // Decrypting costs a PBKDF2 run; a daemon reading the same file again reuses the result.
  let cache: { key: string; secrets: Secrets } | undefined;
  // Requests that arrive together after the file changed share one decryption: a PBKDF2 run
  // each would pile up (1,000 concurrent session opens took over a minute).
  let decrypting: { key: string; secrets: Promise<Secrets> } | undefined;

  async function load(): Promise<Secrets> {
    const file = await readIfExists(path, cache?.key);
    if (file === null) return new Map();
    if (cache?.key === file.key) return cache.secrets;
    if (decrypting?.key !== file.key) {
      const key = file.key;
      const secrets = decryptSecrets(path, file.jwe, passphrase).then((s) => {
        cache = { key, secrets: s };
        return s;
      });
      decrypting = { key, secrets };
      void secrets.catch(() => undefined).finally(() => {
        if (decrypting?.secrets === secrets) decrypting = undefined;
      });
    }
    return decrypting.secrets;
  }

  // Reads asked for in the same turn of the event loop (a session's env entries; under load, every
  // session opened in that turn) share one look at the file, mostly a stat, made at the turn's end.
  // Each look starts after every read it serves was asked for, so a read still sees any write that
  // finished before it. (update() looks afresh, under the lock.)
  let batch: Promise<Secrets> | undefined;
  function read(): Promise<Secrets> {
    batch ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      batch = undefined;
      return load();
    });
    return batch;
  }

  async function update(change: (secrets: Secrets) => boolean): Promise<boolean> {
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      return await withFileLock(`${path}.lock`, async () => {
        const secrets = new Map(await load());
        if (!change(secrets)) return false;
        await writeAtomically(path, await encryptSecrets(secrets, passphrase));
        cache = undefined;
        return true;
      });
    } catch (error) {
      if (isBrokerError(error)) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw new BrokerError("ERR_STORE_UNAVAILABLE", `the secret file ${path} could not be written (${code}); it was left as it was`, {
        fix: `check that ${dirname(path)} belongs to you and is writable, and that the disk is not full`,
        cause: error,
      });
    }
  }

  return {
    kind: "file",
    async get(name) {
      return (await read()).get(name) ?? null;
    },
    async set(name, secret) {
      await update((secrets) => {
        secrets.set(name, { type: secret.type, value: secret.value });
        return true;
      });
    },
    async delete(name) {
      return update((secrets) => secrets.delete(name));
    },
    async list() {
      const entries: SecretEntry[] = [];
      for (const [name, { type }] of await read()) if (!name.startsWith(INTERNAL_PREFIX)) entries.push({ name, type });
      return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
  };
}

/** The file and a key that changes whenever it does; its content is not read again while the key is `known`. */
async function readIfExists(path: string, known?: string): Promise<{ jwe: string; key: string } | null> {
  try {
    // A daemon's every get lands here: one stat instead of open, fstat, read and close; made at
    // once (microseconds, from the inode cache) rather than through a thread-pool trip.
    // lstat: a symlink put in its place has another key, so it is opened (and refused) below.
    const info = lstatSync(path);
    const keyOf = (st: Stats) => `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}`;
    if (keyOf(info) === known) return { jwe: "", key: known };
    // Never through a symlink, and only a lone file of ours (a hard link's ctime changes the key).
    const handle = await open(path, constants.O_RDONLY | NOFOLLOW);
    try {
      const st = await handle.stat();
      checkPrivateFile(st, path, "the secret file");
      return { jwe: (await handle.readFile("utf8")).trim(), key: keyOf(st) };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isBrokerError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") {
      throw new BrokerError("ERR_UNSAFE_PATH", `the secret file ${path} is a symlink; it was not opened`, { fix: `remove the link (rm ${path}) and restore the real file`, cause: error });
    }
    if (code === "ENOENT") return null;
    throw new BrokerError("ERR_STORE_UNAVAILABLE", `the secret file ${path} could not be read (${code ?? "error"})`, {
      fix: `check that ${path} and its directory belong to you and are readable`,
      cause: error,
    });
  }
}

async function encryptSecrets(secrets: Secrets, passphrase: Uint8Array): Promise<string> {
  const { CompactEncrypt } = await import("jose");
  const sorted = [...secrets].sort(([a], [b]) => (a < b ? -1 : 1));
  const plaintext = new TextEncoder().encode(JSON.stringify({ version: 1, secrets: Object.fromEntries(sorted) }));
  return new CompactEncrypt(plaintext)
    .setProtectedHeader({ alg: ALG, enc: ENC })
    .setKeyManagementParameters({ p2c: PBES2_COUNT })
    .encrypt(passphrase);
}

function corrupt(path: string, what: string): BrokerError {
  return new BrokerError("ERR_STORE_CORRUPT", `the secret file ${path} ${what}; it was left untouched`, {
    fix: `restore ${path} from a backup, or move it aside and set the secrets again`,
  });
}

async function decryptSecrets(path: string, jwe: string, passphrase: Uint8Array): Promise<Secrets> {
  const { compactDecrypt, errors } = await import("jose");
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(jwe, passphrase, {
      keyManagementAlgorithms: [ALG],
      contentEncryptionAlgorithms: [ENC],
      maxPBES2Count: MAX_PBES2_COUNT,
    }));
  } catch (error) {
    if (error instanceof errors.JWEDecryptionFailed && (await unwrapsKey(jwe, passphrase)) === false) {
      throw new BrokerError("ERR_STORE_PASSPHRASE", `the passphrase does not open the secret file ${path}; it was left untouched`, {
        fix: "give the passphrase the file was written with, in BROKER_STORE_PASSPHRASE or the first line of --passphrase-file F",
      });
    }
    throw corrupt(path, "could not be decrypted: it is damaged (truncated or modified)");
  }
  return parseSecrets(path, plaintext);
}

/**
 * jose answers a wrong passphrase and a damaged ciphertext alike (on purpose: no oracle). To tell
 * the user which one it is, redo the key unwrap (RFC 7518 §4.8) only on this failure path:
 * false = the passphrase does not unwrap the key; undefined = the header itself is unusable.
 */
async function unwrapsKey(jwe: string, passphrase: Uint8Array): Promise<boolean | undefined> {
  const [headerPart = "", encryptedKeyPart = ""] = jwe.split(".");
  let header: { alg?: unknown; p2c?: unknown; p2s?: unknown };
  try {
    header = JSON.parse(Buffer.from(headerPart, "base64url").toString("utf8")) as typeof header;
  } catch {
    return undefined;
  }
  const { alg, p2c, p2s } = header;
  if (alg !== ALG || typeof p2c !== "number" || !Number.isSafeInteger(p2c) || p2c < 1 || p2c > MAX_PBES2_COUNT) return undefined;
  if (typeof p2s !== "string" || Buffer.from(p2s, "base64url").length < 8) return undefined;
  const salt = Buffer.concat([Buffer.from(ALG), Buffer.of(0), Buffer.from(p2s, "base64url")]);
  const kek = await promisify(pbkdf2)(passphrase, salt, p2c, 32, "sha512");
  try {
    const unwrap = createDecipheriv("id-aes256-wrap", kek, Buffer.from("A6A6A6A6A6A6A6A6", "hex"));
    Buffer.concat([unwrap.update(Buffer.from(encryptedKeyPart, "base64url")), unwrap.final()]);
    return true;
  } catch {
    return false;
  }
}

function parseSecrets(path: string, plaintext: Uint8Array): Secrets {
  let doc: { version?: unknown; secrets?: unknown };
  try {
    doc = JSON.parse(new TextDecoder().decode(plaintext)) as typeof doc;
  } catch {
    throw corrupt(path, "decrypts to something that is not JSON");
  }
  if (typeof doc.version === "number" && doc.version > 1) throw corrupt(path, `was written by a newer broker (version ${doc.version})`);
  if (doc.version !== 1 || typeof doc.secrets !== "object" || doc.secrets === null) throw corrupt(path, "does not hold broker secrets");
  const secrets: Secrets = new Map();
  for (const [name, entry] of Object.entries(doc.secrets)) {
    const { type, value } = (entry ?? {}) as { type?: unknown; value?: unknown };
    if (!(SECRET_TYPES as readonly unknown[]).includes(type) || typeof value !== "string") {
      throw corrupt(path, `holds an entry "${name}" broker cannot read`);
    }
    secrets.set(name, { type: type as StoredSecret["type"], value });
  }
  return secrets;
}

/** tmp file (O_EXCL, 0600) + fsync + rename + fsync(dir): readers see the old file or the new one, never half. */
async function writeAtomically(path: string, content: string): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(tmp, "wx", 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
