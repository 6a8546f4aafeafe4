/** Reads and checks the stored `github-app` secret a task's policy names. */
import { createHash, createPrivateKey } from "node:crypto";
import { BrokerError } from "../errors.js";
import type { GithubAppSecretValue, SecretStore } from "../store/secret-store.js";

/**
 * SHA-256 of the keys already found to be PEM RSA: parsing one costs about a millisecond, on every
 * mint otherwise. Digests, not keys, so a rotated key does not linger here.
 */
const checkedKeys = new Set<string>();

const SET_FIX = (name: string) =>
  `store it: broker secret set ${name} --type github-app --app-id ID --private-key-file KEY.pem`;

export async function readGithubAppSecret(store: SecretStore, name: string, task: string): Promise<GithubAppSecretValue> {
  const stored = await store.get(name);
  if (!stored) {
    throw new BrokerError("ERR_SECRET_NOT_FOUND", `secret "${name}" (github.app of task ${task}) is not in the store`, {
      fix: SET_FIX(name),
    });
  }
  if (stored.type !== "github-app") {
    throw new BrokerError("ERR_SECRET_TYPE", `secret "${name}" is of type ${stored.type}; github.app needs a github-app secret`, {
      fix: `point github.app at a github-app secret, or ${SET_FIX(name)}`,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored.value);
  } catch {
    parsed = null;
  }
  const value = parsed as Partial<Record<keyof GithubAppSecretValue, unknown>> | null;
  const appId = typeof value?.appId === "number" ? String(value.appId) : value?.appId;
  if (typeof appId !== "string" || !/^(?:\d{1,20}|Iv[A-Za-z0-9.]{1,40})$/.test(appId) || typeof value?.privateKey !== "string") {
    throw invalid(name, "is not JSON {appId, privateKey}");
  }
  // Keys pasted through an env file often carry literal "\n"; the JWT library undoes that too.
  const privateKey = value.privateKey.replace(/\\n/g, "\n");
  const digest = createHash("sha256").update(privateKey).digest("base64");
  if (!checkedKeys.has(digest)) {
    try {
      if (createPrivateKey(privateKey).asymmetricKeyType !== "rsa") throw new Error("not RSA");
    } catch {
      // The crypto error may quote the input, so it is not passed on.
      throw invalid(name, "holds a private key that is not a PEM RSA key");
    }
    if (checkedKeys.size >= 64) checkedKeys.clear();
    checkedKeys.add(digest);
  }
  return { appId, privateKey };
}

function invalid(name: string, problem: string): BrokerError {
  return new BrokerError("ERR_INVALID_SECRET", `github-app secret "${name}" ${problem}`, {
    fix: `store it again from the app's .pem file: broker secret set ${name} --type github-app --app-id ID --private-key-file KEY.pem`,
  });
}
