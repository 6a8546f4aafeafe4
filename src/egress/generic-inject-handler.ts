/**
 * The rule for `env.NAME.inject`: on the entry's hosts, its header (or query parameter) holding
 * the placeholder in the policy's format gets the real value, read fresh for each request.
 */
import type { EnvInjection } from "../policy/types.js";
import { tokenFingerprint } from "../util/fingerprint.js";
import type { InjectionRule, RuleOutcome } from "./injection-rule.js";
import { hostMatcher } from "./injection-rule.js";
import { substituteHeader, substituteHeaderValue, substituteQuery } from "./substitute.js";

export interface GenericRuleDeps {
  /** The env name (`OPENAI_API_KEY`): the rule is `env:NAME`. */
  name: string;
  inject: EnvInjection;
  placeholder: string;
  real: () => string;
}

export function genericInjectRule(deps: GenericRuleDeps): InjectionRule {
  const { inject, placeholder } = deps;
  const credential = `env:${deps.name}`;
  const place = inject.header !== undefined ? `the ${inject.header} header` : `the ${inject.query} query parameter`;
  const malformed: RuleOutcome = {
    ok: false,
    status: 403,
    message: `${credential}: its placeholder is in ${place} but not as the policy's format ${JSON.stringify(inject.format)}; the real value goes only there`,
  };
  return {
    name: credential,
    matches: hostMatcher(inject.hosts),
    places: { credential, headers: inject.header !== undefined ? [inject.header] : [], query: inject.query !== undefined ? [inject.query] : [] },
    apply(request) {
      const real = deps.real();
      if (inject.header !== undefined) {
        const { headers, result } = substituteHeader(request.headers, inject.header, (value) => substituteHeaderValue(value, inject.format, placeholder, real));
        if (result === "malformed") return malformed;
        return { ok: true, request: { ...request, headers }, substituted: result === "replaced", ...(result === "replaced" ? { fingerprint: tokenFingerprint(real) } : {}) };
      }
      const { path, result } = substituteQuery(request.path, inject.query!, inject.format, placeholder, real);
      if (result === "malformed") return malformed;
      return { ok: true, request: { ...request, path }, substituted: result === "replaced", ...(result === "replaced" ? { fingerprint: tokenFingerprint(real) } : {}) };
    },
  };
}
