/** The `env:` section: environment variables filled from generic secrets. */
import { envNameProblem } from "./env-deny-list.js";
import { fields, mapOf, secretName } from "./field-checks.js";
import { readEnvInject } from "./inject-rules.js";
import type { EnvEntry } from "./types.js";
import type { Check, Rules } from "./yaml-reader.js";

// The names a policy may use are those a client accepts from a daemon: one list, in env-deny-list.ts.
export { ENV_NAME, envNameProblem } from "./env-deny-list.js";

export const ENV_ENTRY_RULES = {
  secret: { required: true, check: secretName },
  inject: { check: readEnvInject },
} satisfies Rules;

const envEntry: Check<EnvEntry> = (walk, node, at) => {
  const entry = fields(ENV_ENTRY_RULES)(walk, node, at);
  if (entry?.secret === undefined) return undefined;
  return { secret: entry.secret, ...(entry.inject ? { inject: entry.inject } : {}) };
};

export const readEnv: Check<Record<string, EnvEntry>> = mapOf(envEntry, {
  min: 1,
  max: 1000,
  key: envNameProblem,
  identity: (name) => name,
});
