/**
 * The permissions an installation access token accepts (`POST /app/installations/{id}/access_tokens`,
 * body `permissions`), with the levels GitHub allows for each. Taken from the `app-permissions`
 * schema of GitHub's REST OpenAPI description (as shipped in @octokit/openapi-types 29), except
 * `metadata`, which that schema lists as read|write but GitHub only ever grants read-only.
 */
import type { PermissionLevel } from "./types.js";

const RW = ["read", "write"] as const;
const RWA = ["read", "write", "admin"] as const;
const READ_ONLY = ["read"] as const;
const WRITE_ONLY = ["write"] as const;

export const GITHUB_PERMISSIONS: Readonly<Record<string, readonly PermissionLevel[]>> = {
  // Repository permissions.
  actions: RW,
  administration: RW,
  artifact_metadata: RW,
  attestations: RW,
  checks: RW,
  code_quality: RW,
  codespaces: RW,
  contents: RW,
  dependabot_secrets: RW,
  deployments: RW,
  discussions: RW,
  environments: RW,
  issues: RW,
  merge_queues: RW,
  metadata: READ_ONLY,
  packages: RW,
  pages: RW,
  pull_requests: RW,
  repository_custom_properties: RW,
  repository_hooks: RW,
  repository_projects: RWA,
  secret_scanning_alerts: RW,
  secrets: RW,
  security_events: RW,
  single_file: RW,
  statuses: RW,
  vulnerability_alerts: RW,
  workflows: WRITE_ONLY,
  // Organization permissions.
  custom_properties_for_organizations: RW,
  members: RW,
  organization_administration: RW,
  organization_announcement_banners: RW,
  organization_copilot_agent_settings: RW,
  organization_copilot_seat_management: RW,
  organization_custom_org_roles: RW,
  organization_custom_properties: RWA,
  organization_custom_roles: RW,
  organization_events: READ_ONLY,
  organization_hooks: RW,
  organization_packages: RW,
  organization_personal_access_token_requests: RW,
  organization_personal_access_tokens: RW,
  organization_plan: READ_ONLY,
  organization_projects: RWA,
  organization_secrets: RW,
  organization_self_hosted_runners: RW,
  organization_user_blocking: RW,
  // Enterprise permission granted to organization installations.
  enterprise_custom_properties_for_organizations: RWA,
  // Account (user) permissions.
  email_addresses: RW,
  followers: RW,
  git_ssh_keys: RW,
  gpg_keys: RW,
  interaction_limits: RW,
  profile: WRITE_ONLY,
  starring: RW,
};

export const PERMISSION_NAMES: readonly string[] = Object.keys(GITHUB_PERMISSIONS).sort();

export const PERMISSION_LEVELS: readonly PermissionLevel[] = ["read", "write", "admin"];

const RANK: Record<PermissionLevel, number> = { read: 1, write: 2, admin: 3 };

export function isPermissionLevel(value: unknown): value is PermissionLevel {
  return typeof value === "string" && Object.hasOwn(RANK, value);
}

/** Whether `asked` grants no more than `granted` (read < write < admin). */
export function levelWithin(asked: PermissionLevel, granted: PermissionLevel): boolean {
  return RANK[asked] <= RANK[granted];
}

/** The levels GitHub accepts for a permission, or undefined for a name it does not know. */
export function levelsFor(name: string): readonly PermissionLevel[] | undefined {
  return Object.hasOwn(GITHUB_PERMISSIONS, name) ? GITHUB_PERMISSIONS[name] : undefined;
}

/** Why `level` is not valid for permission `name`, or undefined when it is. */
export function permissionProblem(name: string, level: unknown): string | undefined {
  const levels = levelsFor(name);
  if (!levels) return `is not a GitHub App permission an installation token accepts`;
  if (isPermissionLevel(level) && levels.includes(level)) return undefined;
  const allowed = levels.length === 1 ? `can only be ${levels[0]}` : `must be one of ${levels.join(", ")}`;
  return `${allowed}, found ${typeof level === "string" ? level : JSON.stringify(level) ?? String(level)}`;
}
