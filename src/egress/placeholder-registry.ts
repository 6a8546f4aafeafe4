/**
 * A session's placeholders paired with where their real values come from. `real()` is called on
 * every request, so a refreshed GitHub token or STS key is used as soon as the session has it.
 */
import type { AwsPlaceholders, PlaceholderValues } from "./placeholders.js";

export interface PlaceholderEntry {
  /** "github", "aws" or "env:NAME": the credential, as audit lines and leak reports name it. */
  credential: string;
  /** The placeholder the box holds. */
  value: string;
  /** The real value now (may change between requests). */
  real(): string;
}

/** Where a session's real values are read from, per credential. */
export interface RealValues {
  github?: () => string;
  aws?: () => AwsPlaceholders;
  env?: Record<string, () => string>;
}

/** Every placeholder of a session, each with its real value's getter; a placeholder without one is a mistake, not an injection. */
export function placeholderEntries(placeholders: PlaceholderValues, reals: RealValues): PlaceholderEntry[] {
  const entries: PlaceholderEntry[] = [];
  const missing = (credential: string): never => {
    throw new Error(`no real value for the ${credential} placeholder`);
  };
  if (placeholders.github !== undefined) {
    const real = reals.github ?? missing("github");
    entries.push({ credential: "github", value: placeholders.github, real });
  }
  if (placeholders.aws) {
    const real = reals.aws ?? missing("aws");
    for (const part of ["accessKeyId", "secretAccessKey", "sessionToken"] as const) {
      entries.push({ credential: "aws", value: placeholders.aws[part], real: () => real()[part] });
    }
  }
  for (const [name, value] of Object.entries(placeholders.env)) {
    const real = reals.env?.[name] ?? missing(`env:${name}`);
    entries.push({ credential: `env:${name}`, value, real });
  }
  return entries;
}
