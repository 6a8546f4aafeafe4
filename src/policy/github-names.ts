/** Names GitHub accepts in a token request; yaml-free, so the CLI can check its flags without loading the YAML parser. */

/** GitHub lists at most 500 repositories in one installation token request. */
export const MAX_TOKEN_REPOSITORIES = 500;

/** GitHub user/organization logins: letters, digits and hyphens, up to 39. */
export const GITHUB_LOGIN = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;
/** Repository names: letters, digits, `.`, `_`, `-`, up to 100 (but not `.` or `..`). */
export const REPOSITORY_NAME = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$/;

/** Why `name` is not a repository name the token request accepts, or undefined. */
export function repositoryNameProblem(name: string): string | undefined {
  if (name.includes("/")) {
    return `must be a repository name without its owner: write "${name.slice(name.lastIndexOf("/") + 1)}", not "${name}"`;
  }
  if (REPOSITORY_NAME.test(name)) return undefined;
  return "must be a repository name: 1 to 100 letters, digits, '.', '_' or '-' (not '.' or '..')";
}
