/**
 * A session whose credentials the egress proxy injects: the box, and every answer the daemon
 * gives about the session, hold placeholders shaped like the real values; the real ones stay in
 * the daemon, for the proxy to put on the requests its rules allow. A placeholder never changes
 * while the session lives, so a refresh of the real credential is invisible inside.
 */
import { BrokerError } from "../errors.js";
import { makePlaceholders, type PlaceholderValues } from "../egress/placeholders.js";
import type { SessionPlan } from "../policy/types.js";
import type { SessionCredentials } from "./types.js";

export interface InjectedParts {
  github: boolean;
  aws: boolean;
  /** Names of the env entries with an `inject:` rule. */
  env: string[];
}

export type { PlaceholderValues } from "../egress/placeholders.js";

export interface SessionInjection {
  parts: InjectedParts;
  placeholders: PlaceholderValues;
  /** Placeholders the proxy caught where they do not belong, as `credential in where to host` (no values). */
  leaks: string[];
  /** Why a `placeholder: shaped` entry got the default form (names only). */
  fallbacks: string[];
}

/** Which of a plan's credentials are injected; null when none is. */
export function injectedParts(plan: SessionPlan): InjectedParts | null {
  const env = Object.entries(plan.env)
    .filter(([, entry]) => entry.inject !== undefined)
    .map(([name]) => name);
  const parts = { github: plan.github?.inject === true, aws: plan.aws?.inject === true, env };
  return parts.github || parts.aws || env.length > 0 ? parts : null;
}

/** Whether a provider's credential is injected (the environment then holds a placeholder that lives as long as the session). */
export function isInjected(parts: InjectedParts | null, provider: string): boolean {
  return parts !== null && ((provider === "aws" && parts.aws) || (provider === "github" && parts.github));
}

/** Injection needs the box: without it the command would hold placeholders that reach nothing, or worse, be given the real value. */
export function unboxedInjectionError(task: string): BrokerError {
  return new BrokerError("ERR_INJECT_UNBOXED", `task "${task}" has credentials the egress proxy injects, which needs broker run's sandbox`, {
    fix: "drop --no-sandbox (or, from your own sandbox, route the command through the session's egress proxy: see confinement.proxy)",
  });
}

/**
 * The session's credentials as the box sees them: each injected one replaced by its placeholder,
 * valid (as far as the box can tell) for the whole session.
 */
export function boxCredentials(real: SessionCredentials, injection: SessionInjection, sessionExpiresAt: string): SessionCredentials {
  const { parts, placeholders } = injection;
  const env = { ...real.env };
  for (const name of parts.env) if (placeholders.env[name] !== undefined && name in env) env[name] = placeholders.env[name];
  const aws = real.aws && parts.aws && placeholders.aws ? { ...real.aws, ...placeholders.aws, expiration: sessionExpiresAt } : real.aws;
  const github = real.github && parts.github && placeholders.github ? { ...real.github, token: placeholders.github, expiresAt: sessionExpiresAt } : real.github;
  return { ...(aws ? { aws } : {}), ...(github ? { github } : {}), env };
}

/**
 * A session's placeholders, made once at open from the plan and the real values just minted
 * (none may overlap a real value). Null when nothing in the plan is injected.
 */
export function prepareInjection(plan: SessionPlan, real: SessionCredentials): SessionInjection | null {
  const parts = injectedParts(plan);
  if (!parts) return null;
  const env: Record<string, { shapeOf?: string }> = {};
  for (const name of parts.env) {
    const value = real.env[name];
    env[name] = plan.env[name]?.inject?.placeholder === "shaped" && value !== undefined ? { shapeOf: value } : {};
  }
  const reals = [...Object.values(real.env), real.github?.token, real.aws?.accessKeyId, real.aws?.secretAccessKey, real.aws?.sessionToken].filter((v): v is string => typeof v === "string");
  const { fallbacks, ...placeholders } = makePlaceholders({ github: parts.github && real.github !== undefined, aws: parts.aws && real.aws !== undefined, env, reals });
  return { parts, placeholders, leaks: [], fallbacks };
}
