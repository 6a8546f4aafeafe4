/**
 * Finds which installation of the app serves an owner. Installation ids rarely change (only on
 * uninstall and reinstall), so a lookup is cached per (apiUrl, appId, owner) for the provider's
 * life and forgotten when GitHub says the id is gone; concurrent lookups share one request.
 */
import { BrokerError } from "../errors.js";
import type { GithubAppClient } from "./github-client.js";
import { toBrokerError, UpstreamFailure } from "./github-errors.js";

export interface InstallationCache {
  /** The installation id for `owner`, from the cache or from GitHub. */
  resolve(client: GithubAppClient, owner: string, now: () => number): Promise<number>;
  forget(client: GithubAppClient, owner: string): void;
}

export function createInstallationCache(): InstallationCache {
  const entries = new Map<string, Promise<number>>();
  const keyOf = (client: GithubAppClient, owner: string) => JSON.stringify([client.apiUrl, client.appId, owner.toLowerCase()]);
  return {
    resolve(client, owner, now) {
      const key = keyOf(client, owner);
      let pending = entries.get(key);
      if (!pending) {
        pending = lookupInstallation(client, owner, now);
        entries.set(key, pending);
        // A failed lookup is not remembered: the app may be installed a minute later.
        pending.catch(() => entries.delete(key));
      }
      return pending;
    },
    forget(client, owner) {
      entries.delete(keyOf(client, owner));
    },
  };
}

/** An owner is an organisation or a user; GitHub has one lookup route for each. */
async function lookupInstallation(client: GithubAppClient, owner: string, now: () => number): Promise<number> {
  const routes: Array<[string, Record<string, string>]> = [
    ["GET /orgs/{org}/installation", { org: owner }],
    ["GET /users/{username}/installation", { username: owner }],
  ];
  for (const [route, params] of routes) {
    try {
      return installationIdOf(await client.call(route, params), owner);
    } catch (error) {
      if (error instanceof UpstreamFailure && error.status === 404) continue;
      if (error instanceof UpstreamFailure) {
        throw toBrokerError(error, {
          action: `looking up the installation for "${owner}"`,
          appId: client.appId,
          apiUrl: client.apiUrl,
          now: now(),
        });
      }
      throw error;
    }
  }
  throw notInstalled(client, `on "${owner}" (GitHub has no organisation or user installation of it there)`, {
    owner,
  });
}

export function notInstalled(client: GithubAppClient, where: string, details: Record<string, string | number>): BrokerError {
  return new BrokerError("ERR_UPSTREAM_GITHUB", `GitHub App ${client.appId} is not installed ${where}`, {
    fix:
      "install the app on that account (the app's settings: Install App), " +
      "or correct github.owner / github.installation_id in the task's policy",
    details: { upstreamStatus: 404, ...details },
  });
}

function installationIdOf(data: unknown, owner: string): number {
  const id = (data as { id?: unknown } | null)?.id;
  if (typeof id === "number" && Number.isSafeInteger(id) && id > 0) return id;
  throw new BrokerError("ERR_UPSTREAM_GITHUB", `GitHub's answer for the installation of "${owner}" has no installation id`);
}
