/** Picks the secret store named by Places (`--store` / BROKER_STORE) and opens it. */
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Places } from "../cli/places.js";
import { BrokerError } from "../errors.js";
import type { SecretStore } from "./secret-store.js";

export async function openStore(places: Places, env: NodeJS.ProcessEnv): Promise<SecretStore> {
  if (places.store === "file") {
    const passphrase = await readPassphrase(places.passphraseFile, env);
    const { fileStore, FILE_STORE_NAME } = await import("./file-store.js");
    return fileStore({ path: join(places.stateDir, FILE_STORE_NAME), passphrase });
  }
  const { keytarStore } = await import("./keytar-store.js");
  return keytarStore();
}

const PASSPHRASE_FIX =
  "set BROKER_STORE_PASSPHRASE, or pass --passphrase-file F (a file of yours, mode 0600, passphrase on its first line)";

/** `--passphrase-file` (its first line) wins over BROKER_STORE_PASSPHRASE, as flags win over env. */
export async function readPassphrase(passphraseFile: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (passphraseFile !== undefined) {
    let text: string;
    try {
      text = await readPrivateFile(passphraseFile);
    } catch (error) {
      if (error instanceof BrokerError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      throw new BrokerError("ERR_STORE_PASSPHRASE_MISSING", `the passphrase file ${passphraseFile} could not be read (${code})`, {
        fix: PASSPHRASE_FIX,
      });
    }
    const firstLine = (text.split("\n")[0] ?? "").replace(/\r$/, "");
    if (firstLine === "") {
      throw new BrokerError("ERR_STORE_PASSPHRASE_MISSING", `the first line of the passphrase file ${passphraseFile} is empty`, {
        fix: PASSPHRASE_FIX,
      });
    }
    return firstLine;
  }
  const fromEnv = env.BROKER_STORE_PASSPHRASE;
  if (fromEnv) return fromEnv;
  throw new BrokerError("ERR_STORE_PASSPHRASE_MISSING", "the file store needs a passphrase and none was given", { fix: PASSPHRASE_FIX });
}

/** The passphrase file, read only if it is this user's and no one else may read or change it (checked on the open file). */
async function readPrivateFile(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    const info = await handle.stat();
    const uid = process.getuid?.();
    const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
    if (uid !== undefined && info.uid !== uid) {
      throw new BrokerError("ERR_PASSPHRASE_FILE_UNSAFE", `the passphrase file ${path} belongs to uid ${info.uid}, not to you (uid ${uid})`, {
        fix: `make it yours and private: chown ${uid} ${path} && chmod 600 ${path}`,
      });
    }
    if (uid !== undefined && (info.mode & 0o077) !== 0) {
      throw new BrokerError("ERR_PASSPHRASE_FILE_UNSAFE", `the passphrase file ${path} has mode ${mode}: others may read or change it`, {
        fix: `chmod 600 ${path}`,
      });
    }
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}
