/** Picks the secret store named by Places (`--store` / BROKER_STORE) and opens it. */
import { readFile } from "node:fs/promises";
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
      text = await readFile(passphraseFile, "utf8");
    } catch (error) {
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
