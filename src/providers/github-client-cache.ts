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
  const clients = new Map<string, Promise<GithubAppClient>>();
  return {
    get({ apiUrl, appId, privateKey }) {
      const digest = createHash("sha256").update(privateKey).digest("base64");
      const key = JSON.stringify([apiUrl, appId, digest]);
      const found = clients.get(key);
      if (found) {
        // Map order is use order: move it to the end.
        clients.delete(key);
        clients.set(key, found);
        return found;
      }
      while (clients.size >= Math.max(1, maxClients)) clients.delete(clients.keys().next().value as string);
      const client = createGithubAppClient({ apiUrl, appId, privateKey, retry });
      clients.set(key, client);
      // Building fails only if Octokit cannot be loaded; do not keep that.
      client.catch(() => {
        if (clients.get(key) === client) clients.delete(key);
      });
      return client;
    },
  };
}
