/** The `env:` section: environment variables filled from generic secrets. */
import { envNameProblem } from "./env-deny-list.js";
import { fields, mapOf, secretName } from "./field-checks.js";
import type { EnvEntry } from "./types.js";
import type { Check, Rules } from "./yaml-reader.js";

// The names a policy may use are those a client accepts from a daemon: one list, in env-deny-list.ts.
export { ENV_NAME, envNameProblem } from "./env-deny-list.js";

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
