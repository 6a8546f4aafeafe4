/**
 * The rule for `github.inject`: the installation token goes in place of its placeholder on the
 * API host (`token`/`Bearer`, or Basic as some tools send it), and on the web host only as git's
 * Basic credential on smart-HTTP (and LFS) paths of the task's repositories, so a push to a
 * repository outside the policy is refused here even before GitHub sees it.
 */
import { githubInjectHosts } from "../policy/injected-hosts.js";
import { REPOSITORY_NAME } from "../policy/github-names.js";
import { tokenFingerprint } from "../util/fingerprint.js";
import { normaliseHost } from "./egress-allow.js";
import type { InterceptedRequest } from "./inject-types.js";
import type { InjectionRule, RuleOutcome } from "./injection-rule.js";
import { percentDecoded } from "./request-tripwire.js";
import type { Substituted } from "./substitute.js";
import { substituteBasic, substituteHeader } from "./substitute.js";

export interface GithubRuleDeps {
  apiUrl: string;
  /** The installation's owner; undefined (a policy with installation_id) accepts any owner: the token is the limit then. */
  owner: () => string | undefined;
  /** The session's repositories; undefined: every repository of the owner. */
  repositories: () => readonly string[] | undefined;
  placeholder: string;
  real: () => string;
  /** The task, for the refusal's advice. */
  task: string;
}

/** `/OWNER/REPO(.git)/info/refs`, `/git-upload-pack`, `/git-receive-pack`, `/info/lfs/…`. */
const SMART_HTTP = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(?:info\/refs|git-upload-pack|git-receive-pack|info\/lfs(?:\/[^?]*)?)$/;
/** The user name GitHub documents for installation tokens over git; git's own (from the credential helper) is replaced. */
const GIT_USER = "x-access-token";

function tokenHeader(value: string, placeholder: string, real: string, basicUser?: string): Substituted {
  const scheme = /^\s*(token|bearer)\s+(\S+)\s*$/i.exec(value);
  if (scheme) return scheme[2] === placeholder ? { kind: "replaced", value: `${scheme[1]} ${real}` } : value.includes(placeholder) ? { kind: "malformed" } : { kind: "absent" };
  return substituteBasic(value, placeholder, real, basicUser);
}

export function githubInjectRule(deps: GithubRuleDeps): InjectionRule {
  const { api, web, apiPath } = githubInjectHosts(deps.apiUrl);
  const on = (at: { host: string; port: number }, host: string, port: number) => at.host === normaliseHost(host) && at.port === port;
  const refuse = (message: string): RuleOutcome => ({ ok: false, status: 403, message });

  /** null: the repository is the task's; else why not. */
  function repositoryRefusal(owner: string, repo: string): string | null {
    const shown = REPOSITORY_NAME.test(owner) && REPOSITORY_NAME.test(repo) ? `${owner}/${repo}` : "that repository";
    const advice = `(github.owner and github.repositories in ${deps.task}.yaml)`;
    if (owner === "." || owner === ".." || repo === "." || repo === "..") return `${shown} is not a repository path`;
    const expected = deps.owner();
    if (expected !== undefined && owner.toLowerCase() !== expected.toLowerCase()) return `${shown} is not a repository of ${expected}, the owner task ${deps.task} may use ${advice}`;
    const allowed = deps.repositories();
    if (allowed !== undefined && !allowed.some((name) => name.toLowerCase() === repo.toLowerCase())) return `${shown} is not one of the repositories task ${deps.task} may use ${advice}`;
    return null;
  }

  return {
    name: "github",
    matches: (host, port) => on(api, host, port) || on(web, host, port),
    places: { credential: "github", headers: ["authorization"], query: [] },
    apply(request: InterceptedRequest) {
      const path = request.path.split("?")[0] ?? "";
      const git = on(web, request.host, request.port) ? SMART_HTTP.exec(path) : null;
      const swap = (real: string) => substituteHeader(request.headers, "authorization", (value) => tokenHeader(value, deps.placeholder, real, git ? GIT_USER : undefined));
      // Where the placeholder is decides what happens; the real value is read only once it is needed.
      const found = swap("").result;
      if (found === "absent") return { ok: true, request, substituted: false };
      if (found === "malformed") return refuse("GitHub token not sent: its placeholder must be the whole credential of Authorization: token, Bearer or Basic");
      const onApi = on(api, request.host, request.port) && (apiPath === "" || path === apiPath || path.startsWith(`${apiPath}/`));
      if (git) {
        const refusal = repositoryRefusal(percentDecoded(git[1]!), percentDecoded(git[2]!));
        if (refusal) return refuse(`GitHub token not sent: ${refusal}`);
      } else if (!onApi) {
        return refuse(`GitHub token not sent: on ${web.host} it goes only with git over HTTPS (info/refs, git-upload-pack, git-receive-pack, info/lfs) for task ${deps.task}'s repositories`);
      }
      const real = deps.real();
      return { ok: true, request: { ...request, headers: swap(real).headers }, substituted: true, fingerprint: tokenFingerprint(real) };
    },
  };
}
