/**
 * A session's injection, composed: for each intercepted request, the tripwire over its head,
 * its body wrapped in the body tripwire, then every rule for its host in turn. The tripwire runs
 * on every intercepted host, ruled or not, and on real values as well as placeholders.
 */
import { pipeline } from "node:stream";
import type { LeakChoice, Policy } from "../policy/types.js";
import { bodyTripwire } from "./body-tripwire.js";
import { genericInjectRule } from "./generic-inject-handler.js";
import { githubInjectRule } from "./github-inject-handler.js";
import type { Injection, InterceptedRequest, InterceptHandler, InterceptOutcome } from "./inject-types.js";
import type { InjectionRule } from "./injection-rule.js";
import { needlesOf } from "./needles.js";
import type { PlaceholderEntry, RealValues } from "./placeholder-registry.js";
import { placeholderEntries } from "./placeholder-registry.js";
import type { PlaceholderValues } from "./placeholders.js";
import { scanHead } from "./request-tripwire.js";

const WHERE_TEXT = { host: "a request to a host it is not for", path: "the path", query: "the query", header: "a header", body: "the body" } as const;

/** The box's message for a leak: which credential and where, never what. */
export function leakMessage(credential: string, where: keyof typeof WHERE_TEXT, real: boolean): string {
  const what = real ? `the real ${credential} credential` : `the ${credential} placeholder`;
  return `refused: ${what} was found in ${WHERE_TEXT[where]}; the broker puts credentials only where the policy's injection rule says`;
}

export function injectionHandler(rules: readonly InjectionRule[], placeholders: readonly PlaceholderEntry[]): InterceptHandler {
  return async (request): Promise<InterceptOutcome> => {
    let reals: string[];
    try {
      reals = placeholders.map((entry) => entry.real());
    } catch {
      return { ok: false, status: 502, message: "refused: the session's credentials are not available (it may be ending)" };
    }
    const needles = needlesOf(placeholders, reals);
    const matching = rules.filter((rule) => rule.matches(request.host, request.port));
    const leak = scanHead(request, needles, matching.map((rule) => rule.places));
    if (leak) {
      return { ok: false, status: 403, message: leakMessage(leak.credential, leak.where, leak.real), leak: { credential: leak.credential, where: leak.where } };
    }
    const body = pipeline(request.body, bodyTripwire(needles), () => {});
    let current: InterceptedRequest = { ...request, body };
    const applied: string[] = [];
    let fingerprint: string | undefined;
    for (const rule of matching) {
      const outcome = await rule.apply(current);
      if (!outcome.ok) {
        body.destroy();
        return outcome;
      }
      current = outcome.request;
      if (outcome.substituted) {
        applied.push(rule.name);
        fingerprint ??= outcome.fingerprint;
      }
    }
    return {
      ok: true,
      method: current.method,
      path: current.path,
      headers: current.headers,
      body: current.body,
      rule: applied.length > 0 ? applied.join(",") : null,
      ...(fingerprint !== undefined ? { fingerprint } : {}),
    };
  };
}

/** What a session's injection needs of its plan (a SessionPlan or Policy fits). */
export type InjectionPlan = Pick<Policy, "task" | "github" | "env"> & { aws?: Policy["aws"] };

export interface SessionInjectionDeps {
  plan: InjectionPlan;
  placeholders: PlaceholderValues;
  reals: RealValues;
  /** GitHub: the installation's owner and the session's repositories (narrowed), when known. */
  github?: { owner: () => string | undefined; repositories: () => readonly string[] | undefined };
  /** Rules built elsewhere (the AWS re-signer), composed with these. */
  extraRules?: readonly InjectionRule[];
  onLeak: Injection["onLeak"];
}

/** The rules a plan's `inject` keys ask for (GitHub and env; AWS comes in as an extra rule). */
export function rulesFor(deps: Omit<SessionInjectionDeps, "onLeak">): InjectionRule[] {
  const { plan, placeholders, reals } = deps;
  const rules: InjectionRule[] = [];
  if (plan.github?.inject && placeholders.github !== undefined && reals.github) {
    const github = deps.github ?? { owner: () => plan.github?.owner, repositories: () => plan.github?.repositories };
    rules.push(githubInjectRule({ apiUrl: plan.github.apiUrl, task: plan.task, placeholder: placeholders.github, real: reals.github, ...github }));
  }
  for (const [name, entry] of Object.entries(plan.env)) {
    const placeholder = placeholders.env[name];
    const real = reals.env?.[name];
    if (entry.inject && placeholder !== undefined && real) rules.push(genericInjectRule({ name, inject: entry.inject, placeholder, real }));
  }
  return [...rules, ...(deps.extraRules ?? [])];
}

/** A session's Injection: terminate TLS for the rules' hosts, decide each request, report leaks. */
export function sessionInjection(deps: SessionInjectionDeps): Injection {
  const rules = rulesFor(deps);
  return {
    intercepts: (host, port) => rules.some((rule) => rule.matches(host, port)),
    handle: injectionHandler(rules, placeholderEntries(deps.placeholders, deps.reals)),
    onLeak: deps.onLeak,
  };
}

/** `on_leak` as the session acts on it. */
export function leakChoice(policy: { onLeak?: LeakChoice }): LeakChoice {
  return policy.onLeak ?? "end";
}
