/**
 * Which host:port a session's egress proxy may connect to, from the policy's `egress:` list or,
 * without one, from the hosts the task's own credentials are for. `exact` says a rule names the
 * host itself: only then may the proxy connect to a loopback or private address it resolves to,
 * so a wildcard can never be stretched to reach the operator's own network.
 */
import { canonicalIPv6 } from "../policy/egress-rules.js";
import type { EgressRule } from "../policy/types.js";

export interface EgressDecision {
  allowed: boolean;
  exact: boolean;
}

/** What the decider needs of a session plan. */
export interface EgressPlan {
  egress?: EgressRule[];
  github?: { apiUrl: string };
  aws?: { endpoint?: string; region: string };
  /** The hosts of the policy's injection rules: reachable whether or not `egress:` lists them. */
  injected?: EgressRule[];
}

interface Allowance {
  rule: EgressRule;
  exact: boolean;
}

/** Ports a rule without one allows: HTTPS, and HTTP for redirects and plain mirrors. */
const WEB_PORTS: readonly number[] = [443, 80];

const named = (host: string, exact: boolean, port?: number): Allowance => ({
  rule: { kind: "host", host, ...(port !== undefined ? { port } : {}) },
  exact,
});
const under = (suffix: string): Allowance => ({ rule: { kind: "suffix", suffix }, exact: false });

/** Lowercase, no trailing dot, IPv6 unbracketed and in its compressed form (as egress-rules.ts keeps them). */
export function normaliseHost(host: string): string {
  const name = host.toLowerCase().replace(/\.$/, "").replace(/^\[(.*)\]$/, "$1");
  if (!name.includes(":")) return name;
  try {
    return canonicalIPv6(name);
  } catch {
    return name;
  }
}

/** The host a credential URL names, on its port (explicit, else the scheme's). */
function urlHost(url: string): { host: string; port: number; explicitPort: boolean } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === "http:" ? 80 : 443;
  return { host: normaliseHost(parsed.hostname), port, explicitPort: parsed.port !== "" };
}

/**
 * The policy's own api_url and endpoint: the broker's credentials are for them, so they are
 * always reachable, and exactly (a stand-in at http://127.0.0.2:PORT works).
 */
function credentialEndpoints(plan: EgressPlan): Allowance[] {
  const urls = [plan.github?.apiUrl, plan.aws?.endpoint].filter((url): url is string => url !== undefined);
  return urls.map(urlHost).flatMap((at) => (at ? [named(at.host, true, at.port)] : []));
}

/** Where git and gh go besides the API: the web host, and for github.com its content hosts. */
function githubWebHosts(apiUrl: string): Allowance[] {
  const api = urlHost(apiUrl);
  if (!api) return [];
  if (api.host === "api.github.com") {
    return [named("github.com", false), under(".github.com"), under(".githubusercontent.com"), named("codeload.github.com", false)];
  }
  // GHE.com (`api.acme.ghe.com`) serves the web one label up; GHES (`https://HOST/api/v3`) on
  // HOST itself: on 443 and 80, or only on an explicit port (which credentialEndpoints covers).
  if (api.host.startsWith("api.")) return [named(api.host.slice(4), false)];
  return api.explicitPort ? [] : [named(api.host, true)];
}

function awsHosts(region: string): Allowance[] {
  // China regions live under their own domain (sts.cn-north-1.amazonaws.com.cn).
  return region.startsWith("cn-") ? [under(".amazonaws.com"), under(".amazonaws.com.cn")] : [under(".amazonaws.com")];
}

function allowances(plan: EgressPlan): Allowance[] {
  const listed =
    plan.egress !== undefined
      ? plan.egress.map((rule) => ({ rule, exact: rule.kind === "host" }))
      : [...(plan.github ? githubWebHosts(plan.github.apiUrl) : []), ...(plan.aws ? awsHosts(plan.aws.region) : [])];
  const injected = (plan.injected ?? []).map((rule) => ({ rule, exact: rule.kind === "host" }));
  return [...listed, ...credentialEndpoints(plan), ...injected];
}

function portAllowed(rule: { port?: number }, port: number): boolean {
  return rule.port === undefined ? WEB_PORTS.includes(port) : rule.port === port;
}

export function egressDecider(plan: EgressPlan): (host: string, port: number) => EgressDecision {
  const byHost = new Map<string, Array<{ port?: number; exact: boolean }>>();
  const suffixes: Array<{ suffix: string; port?: number }> = [];
  let any = false;
  for (const allowance of allowances(plan)) {
    const { rule } = allowance;
    if (rule.kind === "any") any = true;
    else if (rule.kind === "suffix") suffixes.push(rule);
    else byHost.set(rule.host, [...(byHost.get(rule.host) ?? []), { ...(rule.port !== undefined ? { port: rule.port } : {}), exact: allowance.exact }]);
  }
  return (host, port) => {
    const name = normaliseHost(host);
    let allowed = any;
    let exact = false;
    for (const rule of byHost.get(name) ?? []) {
      if (!portAllowed(rule, port)) continue;
      allowed = true;
      exact ||= rule.exact;
    }
    // `.example.com` never matches `example.com` itself: subdomains only.
    allowed ||= suffixes.some((rule) => name.endsWith(rule.suffix) && name.length > rule.suffix.length && portAllowed(rule, port));
    return { allowed, exact };
  };
}

/** The line a refusal suggests: `add "evil.example" to egress: in report.yaml`. */
export function egressHint(task: string, host: string, port: number): string {
  const name = normaliseHost(host);
  const entry = WEB_PORTS.includes(port) ? name : name.includes(":") ? `[${name}]:${port}` : `${name}:${port}`;
  return `add "${entry}" to egress: in ${task}.yaml`;
}
