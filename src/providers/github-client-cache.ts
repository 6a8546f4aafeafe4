/**
 * The GitHub App clients of one provider, built once per (API URL, app id, private key) and kept,
 * so that a mint does not rebuild auth-app and sign a new app JWT each time.
 *
 * Keyed by the key's SHA-256 digest, never the key: a rotated key gets a new client, and no key
 * material is a map key. Bounded: past MAX_CLIENTS, the least recently used client is dropped
 * (with the private key it holds).
 */
import { createHash } from "node:crypto";
import { createGithubAppClient, type GithubAppClient } from "./github-client.js";
import type { RetryOptions } from "./github-retry.js";
import { createPromiseCache } from "../util/promise-cache.js";

export const MAX_CLIENTS = 64;

export interface AppIdentity {
  apiUrl: string;
  appId: string;
  privateKey: string;
}

export interface GithubClientCache {
  /** The client for this app and key; concurrent callers for a new one share its building. */
  get(app: AppIdentity): Promise<GithubAppClient>;
}

export function createGithubClientCache(retry: RetryOptions, maxClients = MAX_CLIENTS): GithubClientCache {
  const clients = createPromiseCache<GithubAppClient>(maxClients);
  return {
    get({ apiUrl, appId, privateKey }) {
      const digest = createHash("sha256").update(privateKey).digest("base64");
      return clients.get(JSON.stringify([apiUrl, appId, digest]), () => createGithubAppClient({ apiUrl, appId, privateKey, retry }));
    },
  };
}
