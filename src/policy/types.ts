/** A task's policy, as loaded and validated from `<policies>/<task>.yaml` (camelCase inside). */

export type PermissionLevel = "read" | "write" | "admin";

export interface AwsPolicy {
  /** Name of a stored secret of type `aws`. */
  source: string;
  roleArn?: string;
  region: string;
  endpoint?: string;
  externalId?: string;
  /** Inline session policy, kept as parsed; serialised with JSON.stringify when sent. */
  sessionPolicy?: Record<string, unknown>;
  policyArns?: string[];
  tags?: Record<string, string>;
}

export interface GithubPolicy {
  /** Name of a stored secret of type `github-app`. */
  app: string;
  /** Defaults to https://api.github.com. */
  apiUrl: string;
  owner?: string;
  installationId?: number;
  /** Names within the owner; absent means every repository the installation can see. */
  repositories?: string[];
  permissions: Record<string, PermissionLevel>;
}

export interface EnvEntry {
  /** Name of a stored secret of type `generic`. */
  secret: string;
}

export interface Policy {
  task: string;
  description?: string;
  ttlSeconds: number;
  maxTtlSeconds: number;
  maxSessions: number;
  aws?: AwsPolicy;
  github?: GithubPolicy;
  env: Record<string, EnvEntry>;
  /** Absolute path of the YAML file it came from. */
  file: string;
}

/** A request narrowed against a policy: exactly what one session gets. */
export interface SessionPlan {
  task: string;
  ttlSeconds: number;
  aws?: AwsPolicy;
  github?: GithubPolicy;
  env: Record<string, EnvEntry>;
}

/** What a request may ask for (the socket API's `scope`). */
export interface RequestScope {
  github?: {
    repositories?: string[];
    permissions?: Record<string, PermissionLevel>;
  };
}

/** One problem found in a policy file, printed as `file:line: field: problem`. */
export interface PolicyProblem {
  file: string;
  line: number;
  field: string;
  problem: string;
}

export const TASK_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
