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
  /** `max_duration`: the most DurationSeconds one STS call asks for (absent: 1h, IAM's default role maximum); longer sessions refresh. */
  maxDurationSeconds?: number;
  /** `inject: true`: the box gets placeholder keys; the egress proxy re-signs its requests with the real ones. */
  inject?: boolean;
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
  /** `inject: true`: the box gets a placeholder token; the egress proxy puts the real one in its requests. */
  inject?: boolean;
}

/** `env.NAME.inject`: where the egress proxy puts the real value in place of the box's placeholder. */
export interface EnvInjection {
  /** The hosts the real value may go to (`host` in the file: one entry or a list). */
  hosts: Array<Extract<EgressRule, { kind: "host" | "suffix" }>>;
  /** A request header, lower case (exactly one of header and query). */
  header?: string;
  /** A query parameter name. */
  query?: string;
  /** The header or parameter value with `{value}` where the secret goes; default "{value}". */
  format: string;
  /** `placeholder: shaped`: the placeholder has the real value's length and character classes (default: `broker-ph-…`). */
  placeholder?: "shaped";
}

export interface EnvEntry {
  /** Name of a stored secret of type `generic`. */
  secret: string;
  /** Absent: the value itself is put in the environment. */
  inject?: EnvInjection;
}

/** The `sandbox:` section: holes the operator opens in `broker run`'s box on purpose. */
export interface SandboxPolicy {
  /** Paths (absolute or `~/…`, unexpanded: the client expands them against its HOME) writable inside the box besides the cwd. */
  write: string[];
  /** Paths hidden besides the built-in list. */
  hide: string[];
  /** Environment names (with `*` globs) the command inherits besides the built-in allowlist. */
  passEnv: string[];
}

/** One `egress:` entry: a host the boxed command may reach through the egress proxy. */
export type EgressRule =
  | { kind: "any" }
  /** A host name (lowercase, no trailing dot) or an IP literal (IPv6 without brackets); no port means 443 and 80. */
  | { kind: "host"; host: string; port?: number }
  /** `*.example.com`: subdomains only; `suffix` is `.example.com`. */
  | { kind: "suffix"; suffix: string; port?: number };

export type EnvExpiryChoice = "warn" | "refuse";

/** `on_leak`: a placeholder seen where it does not belong ends the session (end), or only refuses that request (deny). */
export type LeakChoice = "end" | "deny";

/** The `budget:` section: how much a task may do per sliding hour, against a runaway agent. */
export interface BudgetPolicy {
  /** Sessions opened per hour (mint, run, credential-process alike). */
  sessionsPerHour?: number;
  /** Credentials minted per hour: one per provider at open, and one per refresh. */
  mintsPerHour?: number;
}

/** `over_budget`: refuse (deny), or ask the operator (approve; refused until approvals exist). */
export type OverBudgetChoice = "deny" | "approve";

/** The `approval:` section: when a person must approve a session before anything is minted. */
export interface ApprovalPolicy {
  /** `required: true`: every request waits for approval. */
  required: boolean;
  /** Any condition that holds requires approval (absent: none). */
  when?: {
    /** Any GitHub permission of the narrowed plan at write or admin. */
    githubWrite?: boolean;
    /** The session's TTL is longer than this. */
    ttlOverSeconds?: number;
    /** The narrowed plan's token reaches one of these repositories (a plan without a repository list reaches all). */
    repositories?: string[];
  };
  /** How long a request waits before it is refused (ERR_APPROVAL_TIMEOUT); default 5m. */
  timeoutSeconds: number;
  /** An approved identical request (same plan digest) within this window is not asked again; 0: off. */
  reuseSeconds: number;
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
  /** Empty lists when the key is absent. */
  sandbox: SandboxPolicy;
  /** Undefined when the key is absent: the task's own credential hosts; an empty list allows nothing. */
  egress?: EgressRule[];
  /** `on_env_expiry`: a session that outlives the credentials put in a process's environment is opened with a warning (absent: `warn`), or refused. */
  onEnvExpiry?: EnvExpiryChoice;
  /** Undefined when the key is absent: no budget, nothing counted. */
  budget?: BudgetPolicy;
  /** `over_budget` (absent: deny). */
  overBudget?: OverBudgetChoice;
  /** Absent: no request needs approval. */
  approval?: ApprovalPolicy;
  /** `on_leak` as written (absent: end). */
  onLeak?: LeakChoice;
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
  /** The policy's; optional so plans built by hand (provider tests) need not spell it out. */
  sandbox?: SandboxPolicy;
  egress?: EgressRule[];
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

/** `aws.max_duration` when absent: a role's MaxSessionDuration unless raised in IAM. */
export const DEFAULT_AWS_MAX_DURATION_SECONDS = 3600;

export const TASK_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
