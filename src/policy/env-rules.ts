/** The `env:` section: environment variables filled from generic secrets. */
import { fields, mapOf, secretName } from "./field-checks.js";
import type { EnvEntry } from "./types.js";
import type { Check, Rules } from "./yaml-reader.js";

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Variables the broker sets itself (docs/interface.md "Environment" and the sandbox `env` file). */
const RESERVED_ENV: readonly RegExp[] = [
  /^AWS_/,
  /^BROKER_/,
  /^GH_TOKEN$/,
  /^GITHUB_TOKEN$/,
  /^GH_CONFIG_DIR$/,
  /^GIT_CONFIG_(?:COUNT|KEY_\d+|VALUE_\d+)$/,
];

export function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name) || name.length > 256) {
    return "must be an environment variable name: a letter or _, then letters, digits or _";
  }
  if (RESERVED_ENV.some((pattern) => pattern.test(name))) {
    return "is set by the broker itself (AWS_*, GH_TOKEN, GITHUB_TOKEN, BROKER_*, GH_CONFIG_DIR, GIT_CONFIG_*); choose another name";
  }
  return undefined;
}

export const ENV_ENTRY_RULES = {
  secret: { required: true, check: secretName },
} satisfies Rules;

const envEntry: Check<EnvEntry> = (walk, node, at) => {
  const entry = fields(ENV_ENTRY_RULES)(walk, node, at);
  return entry?.secret === undefined ? undefined : { secret: entry.secret };
};

export const readEnv: Check<Record<string, EnvEntry>> = mapOf(envEntry, {
  min: 1,
  max: 1000,
  key: envNameProblem,
  identity: (name) => name,
});
