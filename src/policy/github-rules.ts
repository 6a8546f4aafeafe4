/** The `github:` section: which App installation, which repositories, which permissions. */
import { isScalar } from "yaml";
import { boolean, upstreamUrl, integer, listOf, secretName, text } from "./field-checks.js";
import { levelsFor, PERMISSION_NAMES, permissionProblem } from "./github-permissions.js";
import { GITHUB_LOGIN, MAX_TOKEN_REPOSITORIES, repositoryNameProblem } from "./github-names.js";
import type { GithubPolicy, PermissionLevel } from "./types.js";
import type { At, Check, Rules, Walk } from "./yaml-reader.js";
import { asMap, closest, deref, mapEntries, readFields, report } from "./yaml-reader.js";

export const DEFAULT_GITHUB_API_URL = "https://api.github.com";
export { GITHUB_LOGIN, MAX_TOKEN_REPOSITORIES, REPOSITORY_NAME, repositoryNameProblem } from "./github-names.js";

export const repositoryName: Check<string> = text({
  max: 100,
  shape: "a repository name",
  explain: repositoryNameProblem,
});

/** `permissions: { contents: read, … }`: known names only, each at a level GitHub allows for it. */
export const permissionsMap: Check<Record<string, PermissionLevel>> = (walk, node, at) => {
  const map = asMap(walk, node, at);
  if (!map) return undefined;
  if (map.items.length === 0) {
    report(walk, at, "must grant at least one permission, e.g. { contents: read }");
    return undefined;
  }
  const result: Record<string, PermissionLevel> = {};
  let ok = true;
  for (const entry of mapEntries(walk, map, at)) {
    const level = deref(walk, entry.value, entry.at);
    const raw = isScalar(level) ? level.value : undefined;
    const problem = permissionProblem(entry.key, raw);
    if (problem) {
      const near = levelsFor(entry.key) ? undefined : closest(entry.key, PERMISSION_NAMES);
      report(walk, entry.at, near ? `${problem}; did you mean ${near}?` : problem);
      ok = false;
    } else {
      result[entry.key] = raw as PermissionLevel;
    }
  }
  return ok && Object.keys(result).length === map.items.length ? result : undefined;
};

export const GITHUB_RULES = {
  app: { required: true, check: secretName },
  api_url: { check: upstreamUrl },
  owner: { check: text({ pattern: GITHUB_LOGIN, shape: "a GitHub user or organization login (letters, digits, '-'; up to 39)" }) },
  installation_id: { check: integer(1, Number.MAX_SAFE_INTEGER) },
  repositories: {
    check: listOf(repositoryName, { min: 1, max: MAX_TOKEN_REPOSITORIES, identity: (name) => name.toLowerCase() }),
  },
  permissions: { required: true, check: permissionsMap },
  inject: { check: boolean },
} satisfies Rules;

export function readGithub(walk: Walk, node: unknown, at: At): GithubPolicy | undefined {
  const read = readFields(walk, node, at, GITHUB_RULES);
  if (!read) return undefined;
  const { values, at: where } = read;
  if (where.owner && where.installation_id) {
    report(walk, where.installation_id, "give either owner or installation_id, not both");
  } else if (!where.owner && !where.installation_id) {
    report(walk, { field: `${at.field}.owner`, line: at.line }, "is required (or installation_id): which installation to use");
  }
  if (values.app === undefined || values.permissions === undefined) return undefined;
  return {
    app: values.app,
    apiUrl: values.api_url ?? DEFAULT_GITHUB_API_URL,
    ...(values.owner !== undefined ? { owner: values.owner } : {}),
    ...(values.installation_id !== undefined ? { installationId: values.installation_id } : {}),
    ...(values.repositories !== undefined ? { repositories: values.repositories } : {}),
    permissions: values.permissions,
    ...(values.inject === true ? { inject: true } : {}),
  };
}
