/**
 * One way of putting a real credential on a request the proxy intercepted: the GitHub API's
 * Authorization header, git's Basic auth on the web host, a generic secret's header or query,
 * AWS SigV4 re-signing. A session's injector (injector.ts) is its rules in order: the first whose
 * host matches rewrites the request; a request no rule matches goes out as it came, after the
 * tripwire has looked for placeholders in it.
 */
import type { OutboundHead, Verdict } from "./injector.js";

export interface InjectionRule {
  /** Named in audit lines and refusals: `github-api`, `github-git`, `aws`, `env:OPENAI_API_KEY`. */
  name: string;
  /** The placeholders this rule replaces: the tripwire refuses them anywhere else. */
  placeholders: string[];
  matches(host: string, port: number): boolean;
  apply(head: OutboundHead): Promise<Verdict>;
}

/** An AWS credential as SigV4 uses it (a placeholder set has the same shape). */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}
