/** Secrets a policy names that the store does not hold: a warning for `broker policy check`, not an error (secrets may come later). */
import type { SecretEntry } from "../store/secret-store.js";
import type { Policy } from "./types.js";

export interface MissingSecret {
  file: string;
  field: string;
  secret: string;
  type: SecretEntry["type"];
}

function named(policy: Policy): Array<Omit<MissingSecret, "file">> {
  const refs: Array<Omit<MissingSecret, "file">> = [];
  if (policy.aws) refs.push({ field: "aws.source", secret: policy.aws.source, type: "aws" });
  if (policy.github) refs.push({ field: "github.app", secret: policy.github.app, type: "github-app" });
  for (const [name, entry] of Object.entries(policy.env)) refs.push({ field: `env.${name}`, secret: entry.secret, type: "generic" });
  return refs;
}

export function missingSecrets(policies: Map<string, Policy>, stored: SecretEntry[]): MissingSecret[] {
  const held = new Set(stored.map((entry) => entry.name));
  const missing: MissingSecret[] = [];
  for (const policy of policies.values()) {
    for (const ref of named(policy)) if (!held.has(ref.secret)) missing.push({ file: policy.file, ...ref });
  }
  return missing;
}

export function formatMissingSecret(m: MissingSecret): string {
  return `${m.file}: ${m.field}: warning: secret "${m.secret}" is not in the store (add it: broker secret set ${m.secret} --type ${m.type})`;
}
