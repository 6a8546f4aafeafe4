/**
 * What `broker run` and `broker mint` tell the daemon about credentials they put in an
 * environment (where no refresh reaches them), and how they pass on the daemon's warnings.
 */
import type { SessionView } from "../client/broker-client.js";
import type { DotenvEntry } from "../sinks/env-file.js";

export type EnvDelivered = "aws" | "github";

/** `broker run`: GH_TOKEN and the static AWS keys unless --no-env (or --aws-endpoint for AWS), and what --env-file references. */
export function runEnvDelivery(options: { noEnv: boolean; awsEndpoint: boolean; envFile?: DotenvEntry[] }): EnvDelivered[] {
  const referenced = (provider: EnvDelivered) => options.envFile?.some((e) => e.value.startsWith(`broker://${provider}/`)) === true;
  const out: EnvDelivered[] = [];
  if (!options.noEnv || referenced("github")) out.push("github");
  if ((!options.noEnv && !options.awsEndpoint) || referenced("aws")) out.push("aws");
  return out;
}

/** `broker mint`: the env and dotenv formats are meant for an environment; json and credential-process carry their expiry to a client that asks again. */
export function mintEnvDelivery(format: string): EnvDelivered[] {
  return format === "env" || format === "dotenv" ? ["github", "aws"] : [];
}

export function printWarnings(stderr: NodeJS.WritableStream, session: SessionView): void {
  for (const warning of session.warnings ?? []) stderr.write(`broker: warning: ${warning}\n`);
}
