/**
 * What a session with injected credentials adds to its egress proxy: its own CA (key in memory
 * only), the rules its policy asks for — GitHub and env substitutions, and the AWS re-signer —
 * reading the real values fresh on every request, and the CA bundle its box trusts. Loaded only
 * for such a session: it pulls in the X.509 and SigV4 libraries.
 */
import { awsInjectHandler } from "../egress/aws-inject-handler.js";
import type { Injection } from "../egress/inject-types.js";
import { sessionInjection, type InjectionPlan } from "../egress/injection-handler.js";
import { hostMatcher, type InjectionRule } from "../egress/injection-rule.js";
import type { RealValues } from "../egress/placeholder-registry.js";
import { createSessionCa, type SessionCa } from "../egress/session-ca.js";
import { boxCaBundle } from "../egress/upstream-trust.js";
import { injectedHosts } from "../policy/injected-hosts.js";
import type { EgressRule } from "../policy/types.js";
import type { InjectedParts, PlaceholderValues } from "../sessions/session-injection.js";
import type { SessionCredentials } from "../sessions/types.js";

export interface ExitsInjectionInput {
  id: string;
  plan: InjectionPlan;
  parts: InjectedParts;
  placeholders: PlaceholderValues;
  real(): SessionCredentials;
  onLeak: Injection["onLeak"];
  /** The operator's extra CAs (PEM), trusted by the box besides the session CA and the system roots. */
  extraCas: readonly string[];
}

export interface ExitsInjection {
  injection: Injection;
  ca: SessionCa;
  /** The box's CA bundle (PEM text). */
  caBundle: string;
  /** The hosts the rules are for: the proxy lets the box reach them whether or not `egress:` lists them. */
  hosts: EgressRule[];
}

/** A value the session no longer has (ending, or a provider failed): the request is refused, never sent with the placeholder. */
function required(value: string | undefined, credential: string): string {
  if (value === undefined || value === "") throw new Error(`the session has no ${credential} credential now`);
  return value;
}

/** The session's current STS credentials, each part required. */
function realAws(real: () => SessionCredentials) {
  const aws = real().aws;
  return { accessKeyId: required(aws?.accessKeyId, "aws"), secretAccessKey: required(aws?.secretAccessKey, "aws"), sessionToken: required(aws?.sessionToken, "aws") };
}

/** The AWS re-signer as one rule among the others: on the policy's AWS hosts, its placeholder belongs only in SigV4's own places. */
function awsRule(plan: InjectionPlan & { aws: NonNullable<InjectionPlan["aws"]> }, placeholder: NonNullable<PlaceholderValues["aws"]>, real: () => SessionCredentials): InjectionRule {
  const hosts = injectedHosts({ aws: plan.aws, env: {} }).filter((rule): rule is Extract<EgressRule, { kind: "host" | "suffix" }> => rule.kind === "host" || rule.kind === "suffix");
  const handle = awsInjectHandler({
    placeholder,
    // The session handler's tripwire has scanned the body for every placeholder and real value already.
    bodyScanned: true,
    real: () => realAws(real),
  });
  return {
    name: "aws",
    matches: hostMatcher(hosts),
    places: { credential: "aws", headers: ["authorization", "x-amz-security-token"], query: ["X-Amz-Credential", "X-Amz-Security-Token"] },
    async apply(request) {
      const outcome = await handle(request);
      if (!outcome.ok) return outcome;
      const { method, path, headers, body } = outcome;
      return { ok: true, request: { ...request, method, path, headers, body }, substituted: outcome.rule !== null, ...(outcome.fingerprint !== undefined ? { fingerprint: outcome.fingerprint } : {}) };
    },
  };
}

export async function exitsInjection(input: ExitsInjectionInput): Promise<ExitsInjection> {
  const { plan, parts, placeholders, real } = input;
  const reals: RealValues = {
    ...(placeholders.github !== undefined ? { github: () => required(real().github?.token, "github") } : {}),
    ...(placeholders.aws ? { aws: () => realAws(real) } : {}),
    env: Object.fromEntries(parts.env.map((name) => [name, () => required(real().env[name], `env ${name}`)])),
  };
  const extraRules = parts.aws && placeholders.aws && plan.aws ? [awsRule({ ...plan, aws: plan.aws }, placeholders.aws, real)] : [];
  const injection = sessionInjection({ plan, placeholders, reals, extraRules, onLeak: input.onLeak });
  const ca = await createSessionCa({ label: input.id.slice(0, 8) });
  const hosts = injectedHosts(plan);
  // Issued now, off the box's first connection's path; a suffix rule's hosts are issued on first use.
  for (const rule of hosts) if (rule.kind === "host") void ca.leafFor(rule.host).catch(() => undefined);
  return { injection, ca, caBundle: boxCaBundle(ca.certPem, input.extraCas), hosts };
}
