/**
 * Which hosts a policy's injection rules are for (`github.inject`, `aws.inject`,
 * `env.NAME.inject.host`), so the daemon can let a boxed command reach them without the operator
 * listing them again under `egress:`, and terminate TLS for exactly those.
 */
import { githubWebOrigin } from "../providers/github-host.js";
import { normaliseHost } from "../egress/egress-allow.js";
import type { EgressRule, Policy } from "./types.js";

/** A host and the port a URL names (explicit, else its scheme's). */
export interface HostPort {
  host: string;
  port: number;
}

function hostPortOf(url: URL): HostPort {
  return { host: normaliseHost(url.hostname), port: url.port ? Number(url.port) : url.protocol === "http:" ? 80 : 443 };
}

/**
 * GitHub's API host, where a token goes as `token`/`Bearer`, and its web host, where git sends it
 * as Basic auth: api.github.com and github.com; for any other api_url (GHES `https://HOST/api/v3`,
 * a stand-in at `https://127.0.0.2:PORT`) the one host of the URL, as github-host.ts has git use it.
 * `apiPath` is the API's path prefix on its host ("" for api.github.com).
 */
export function githubInjectHosts(apiUrl: string): { api: HostPort; web: HostPort; apiPath: string } {
  const url = new URL(apiUrl);
  const web = new URL(`${githubWebOrigin(apiUrl).scheme}://${githubWebOrigin(apiUrl).host}`);
  return { api: hostPortOf(url), web: hostPortOf(web), apiPath: url.pathname.replace(/\/+$/, "") };
}

const exactly = ({ host, port }: HostPort): EgressRule => ({ kind: "host", host, port });

/** The hosts injection rules put real credentials in requests to; each one the proxy must terminate TLS for. */
export function injectedHosts(policy: Pick<Policy, "github" | "aws" | "env">): EgressRule[] {
  const hosts: EgressRule[] = [];
  if (policy.github?.inject) {
    const { api, web } = githubInjectHosts(policy.github.apiUrl);
    hosts.push(exactly(api));
    if (web.host !== api.host || web.port !== api.port) hosts.push(exactly(web));
  }
  if (policy.aws?.inject) {
    hosts.push({ kind: "suffix", suffix: ".amazonaws.com", port: 443 });
    // China regions live under their own domain, as egress-allow.ts allows them.
    if (policy.aws.region.startsWith("cn-")) hosts.push({ kind: "suffix", suffix: ".amazonaws.com.cn", port: 443 });
    if (policy.aws.endpoint) hosts.push(exactly(hostPortOf(new URL(policy.aws.endpoint))));
  }
  for (const entry of Object.values(policy.env)) hosts.push(...(entry.inject?.hosts ?? []));
  return hosts;
}
