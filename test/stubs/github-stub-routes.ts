/** The REST routes of the GitHub stand-in, with GitHub's status codes and messages. */
import { checkAppJwt } from "./github-stub-jwt.js";
import { LEVEL_RANK, type PermissionLevel, type StubInstallation, type StubState } from "./github-stub-state.js";

export interface RouteContext {
  state: StubState;
  params: Record<string, string>;
  body: unknown;
  /** The credential of an `Authorization: Bearer X` or `token X` header. */
  credential: string | undefined;
}

export interface RestAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RestRoute {
  method: string;
  template: string;
  handle(ctx: RouteContext): RestAnswer;
}

export const MESSAGES = {
  badCredentials: "Bad credentials",
  notFound: "Not Found",
  repositoriesBeyond: "There is at least one repository that does not exist or is not accessible to the parent installation.",
  permissionsBeyond: "The permissions requested are not granted to this installation.",
  invalid: "Invalid request.",
} as const;

export function githubError(status: number, message: string, headers?: Record<string, string>): RestAnswer {
  return { status, body: { message, documentation_url: "https://docs.github.com/rest", status: String(status) }, ...(headers ? { headers } : {}) };
}

/** Runs `then` only for a valid app JWT, as GitHub does for every /app… route. */
function asApp(then: (ctx: RouteContext) => RestAnswer): (ctx: RouteContext) => RestAnswer {
  return (ctx) => {
    if (!ctx.credential) return githubError(401, "A JSON web token could not be decoded");
    const problem = checkAppJwt(ctx.credential, ctx.state.appId, ctx.state.publicKey, Math.floor(ctx.state.now() / 1000));
    return problem ? githubError(401, problem) : then(ctx);
  };
}

function installationWhere(match: (i: StubInstallation) => boolean): (ctx: RouteContext) => RestAnswer {
  return asApp((ctx) => {
    const found = ctx.state.installations.find(match);
    return found ? { status: 200, body: ctx.state.installationJson(found) } : githubError(404, MESSAGES.notFound);
  });
}

const same = (a: string, b: string | undefined) => a.toLowerCase() === (b ?? "").toLowerCase();

export const REST_ROUTES: RestRoute[] = [
  {
    method: "GET",
    template: "/app",
    handle: asApp((ctx) => ({ status: 200, body: { id: ctx.state.appId, slug: "broker-stub", name: "broker stub app" } })),
  },
  {
    method: "GET",
    template: "/app/installations",
    handle: asApp((ctx) => ({ status: 200, body: ctx.state.installations.map((i) => ctx.state.installationJson(i)) })),
  },
  {
    method: "GET",
    template: "/app/installations/{installation_id}",
    handle: (ctx) => installationWhere((i) => String(i.id) === ctx.params.installation_id)(ctx),
  },
  {
    method: "GET",
    template: "/orgs/{org}/installation",
    handle: (ctx) => installationWhere((i) => i.account.type === "Organization" && same(i.account.login, ctx.params.org))(ctx),
  },
  {
    method: "GET",
    template: "/users/{username}/installation",
    handle: (ctx) => installationWhere((i) => i.account.type === "User" && same(i.account.login, ctx.params.username))(ctx),
  },
  {
    method: "GET",
    template: "/repos/{owner}/{repo}/installation",
    handle: (ctx) =>
      installationWhere((i) => same(i.account.login, ctx.params.owner) && i.repositories.some((r) => same(r, ctx.params.repo)))(ctx),
  },
  {
    method: "POST",
    template: "/app/installations/{installation_id}/access_tokens",
    handle: asApp(createAccessToken),
  },
  {
    method: "DELETE",
    template: "/installation/token",
    handle: (ctx) => {
      const live = ctx.credential ? ctx.state.liveToken(ctx.credential) : undefined;
      if (!live) return githubError(401, MESSAGES.badCredentials);
      live.revokedAt = ctx.state.now();
      return { status: 204 };
    },
  },
  {
    method: "GET",
    template: "/installation/repositories",
    handle: (ctx) => {
      const live = ctx.credential ? ctx.state.liveToken(ctx.credential) : undefined;
      if (!live) return githubError(401, MESSAGES.badCredentials);
      const repositories = live.repositories.map((name) => ctx.state.repositoryJson(live.owner, name));
      const selection = live.requestedRepositories || live.requestedRepositoryIds ? "selected" : "all";
      return { status: 200, body: { total_count: repositories.length, repository_selection: selection, repositories } };
    },
  },
];

function createAccessToken(ctx: RouteContext): RestAnswer {
  const installation = ctx.state.installationById(Number(ctx.params.installation_id));
  if (!installation) return githubError(404, MESSAGES.notFound);
  const body = (ctx.body ?? {}) as { repositories?: unknown; repository_ids?: unknown; permissions?: unknown };
  if (typeof body !== "object" || Array.isArray(body)) return githubError(400, "Problems parsing JSON");

  const names = body.repositories;
  const ids = body.repository_ids;
  const namesOk = names === undefined || (Array.isArray(names) && names.every((n) => typeof n === "string"));
  const idsOk = ids === undefined || (Array.isArray(ids) && ids.every((n) => Number.isInteger(n)));
  if (!namesOk || !idsOk) return githubError(422, MESSAGES.invalid);
  const owner = installation.account.login;
  const byName = new Map(installation.repositories.map((r) => [r.toLowerCase(), r]));
  const byId = new Map(installation.repositories.map((r) => [ctx.state.repositoryId(owner, r), r]));
  const restricted = names !== undefined || ids !== undefined;
  const wanted = [
    ...((names as string[] | undefined) ?? []).map((n) => byName.get(n.toLowerCase())),
    ...((ids as number[] | undefined) ?? []).map((id) => byId.get(id)),
  ];
  if (wanted.some((r) => r === undefined)) return githubError(422, MESSAGES.repositoriesBeyond);
  // Like GitHub, an empty list restricts nothing.
  const repositories = restricted && wanted.length > 0 ? [...new Set(wanted as string[])] : [...installation.repositories];

  const asked = body.permissions;
  const askedOk = asked === undefined || (asked !== null && typeof asked === "object" && !Array.isArray(asked));
  if (!askedOk) return githubError(422, MESSAGES.invalid);
  const permissions: Record<string, PermissionLevel> = {};
  for (const [name, level] of Object.entries((asked as Record<string, unknown> | undefined) ?? {})) {
    const granted = installation.permissions[name];
    if (typeof level !== "string" || !LEVEL_RANK[level] || !granted || LEVEL_RANK[granted]! < LEVEL_RANK[level]!) {
      return githubError(422, MESSAGES.permissionsBeyond);
    }
    permissions[name] = level as PermissionLevel;
  }
  const finalPermissions = Object.keys(permissions).length > 0 ? permissions : { ...installation.permissions };

  const record = ctx.state.issueToken(installation, {
    repositories,
    requestedRepositories: names as string[] | undefined,
    requestedRepositoryIds: ids as number[] | undefined,
    permissions: finalPermissions,
  });
  const selection = restricted && wanted.length > 0 ? "selected" : (installation.repositorySelection ?? "all");
  return {
    status: 201,
    body: {
      token: record.token,
      expires_at: new Date(record.expiresAt).toISOString().replace(".000Z", "Z"),
      permissions: finalPermissions,
      repository_selection: selection,
      ...(selection === "selected" ? { repositories: repositories.map((r) => ctx.state.repositoryJson(owner, r)) } : {}),
    },
  };
}
