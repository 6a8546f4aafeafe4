/**
 * One injection rule as the handler composes them: which hosts it is for, which places of a
 * request its credential's placeholder belongs in there, and how it swaps in the real value.
 * GitHub and env rules are built here; the AWS re-signer plugs in through the same shape.
 */
import { normaliseHost } from "./egress-allow.js";
import type { InterceptedRequest } from "./inject-types.js";
import type { OwnedPlaces } from "./request-tripwire.js";
import type { EgressRule } from "../policy/types.js";

export type RuleOutcome =
  | {
      ok: true;
      request: InterceptedRequest;
      /** Whether the rule put a real value in (only then is it named in the audit line). */
      substituted: boolean;
      fingerprint?: string;
    }
  | { ok: false; status: number; message: string };

export interface InjectionRule {
  /** For the audit line: "github", "aws", "env:OPENAI_API_KEY". */
  name: string;
  matches(host: string, port: number): boolean;
  /** On a matching host: where its placeholder may be (the tripwire looks everywhere else). */
  places: OwnedPlaces;
  /** Called for a matching host's request after the tripwire found nothing; `request.body` is already scanned. */
  apply(request: InterceptedRequest): Promise<RuleOutcome> | RuleOutcome;
}

/** A policy host entry matched against a CONNECT target: no port in the rule means 443 (TLS is only terminated there). */
export function hostMatcher(hosts: ReadonlyArray<Extract<EgressRule, { kind: "host" | "suffix" }>>): (host: string, port: number) => boolean {
  return (host, port) => {
    const name = normaliseHost(host);
    return hosts.some((rule) => {
      if ((rule.port ?? 443) !== port) return false;
      return rule.kind === "host" ? rule.host === name : name.endsWith(rule.suffix) && name.length > rule.suffix.length;
    });
  };
}
