/** The static provider: a policy's `env` entries, each from a stored `generic` secret. */
import { BrokerError } from "../errors.js";
import type { SessionPlan } from "../policy/types.js";
import type { EnvCredentials, Lease, Provider, ProviderDeps } from "./provider.js";

type EnvPlan = SessionPlan["env"];

type EnvShape = { entries: [string, EnvPlan[string]][]; fingerprint: string };

/** A plan's env entries and the fingerprint they give, worked out once per policy (plans share its frozen parts). */
const shapes = new WeakMap<EnvPlan, EnvShape>();
function shapeOf(env: EnvPlan): EnvShape {
  let shape = shapes.get(env);
  if (!shape) {
    const entries = Object.entries(env);
    shape = { entries, fingerprint: `env:${entries.map(([variable]) => variable).join(",")}` };
    shapes.set(env, shape);
  }
  return shape;
}

export function createStaticProvider(deps: Pick<ProviderDeps, "store">): Provider<"env"> {
  return {
    name: "env",
    applies: (plan: SessionPlan) => shapeOf(plan.env).entries.length > 0,
    async mint({ plan }): Promise<Lease<EnvCredentials>> {
      const credentials: EnvCredentials = {};
      const { entries, fingerprint } = shapeOf(plan.env);
      // Every read at once (a task may name dozens; a store shares a decryption between reads),
      // then checked in order, so the first bad entry is still the one reported.
      const reads = await Promise.allSettled(entries.map(([, { secret }]) => deps.store.get(secret)));
      for (const [i, [variable, { secret }]] of entries.entries()) {
        const read = reads[i]!;
        if (read.status === "rejected") throw read.reason;
        const stored = read.value;
        if (!stored) {
          throw new BrokerError("ERR_SECRET_NOT_FOUND", `secret "${secret}" (for ${variable} of task ${plan.task}) is not in the store`, {
            fix: `store it: broker secret set ${secret} --type generic`,
          });
        }
        if (stored.type !== "generic") {
          throw new BrokerError("ERR_SECRET_TYPE", `secret "${secret}" is of type ${stored.type}; env entries need a generic secret`, {
            fix: `store the value as a generic secret under another name and point env.${variable}.secret at it`,
          });
        }
        credentials[variable] = stored.value;
      }
      return {
        credentials,
        expiresAt: null,
        fingerprint,
        secrets: Object.values(credentials),
        revoke: null,
      };
    },
  };
}
