/**
 * A wire-level stand-in for the GitHub API (and git smart HTTP), listening on 127.0.0.1 on a random
 * port. Its API base URL is `url` (`http://127.0.0.1:PORT`), so the broker derives the git host
 * `127.0.0.1:PORT` with scheme http. It checks app JWTs like GitHub, issues and revokes
 * installation tokens, records every token and request, and can fail the next N calls of a route.
 *
 *   const stub = await startGithubStub({ appId, publicKey, installations, gitRoot });
 *   stub.fail(ROUTES.accessTokens, { status: 500 }, 2);
 *   stub.requestsTo(ROUTES.orgInstallation).length; stub.tokens[0].revokedAt; await stub.close();
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { GIT_PATH, gitRouteName, serveGit } from "./github-git-backend.js";
import { githubError, REST_ROUTES, type RestAnswer } from "./github-stub-routes.js";
import {
  StubState,
  type AuthKind,
  type Fault,
  type IssuedToken,
  type RecordedRequest,
  type StubInstallation,
  type TokenFormat,
} from "./github-stub-state.js";

export type { Fault, IssuedToken, RecordedRequest, StubInstallation, TokenFormat } from "./github-stub-state.js";
export { createBareRepo, isolatedGitEnv, runGit } from "./github-git-backend.js";

export interface GithubStubOptions {
  /** Loopback address to listen on (default 127.0.0.1; 127.0.0.2 for clients in a box, via its proxy). */
  listenHost?: string;
  /** Serve HTTPS with this key and certificate (a test CA's: see test/helpers/test-ca.ts) instead of HTTP. */
  tls?: { key: string; cert: string };
  /** The host name its URLs give (default the listen address): a name the daemon resolves to it, as for GHES. */
  publicHost?: string;
  /** Where the REST API sits (GHES: `/api/v3`); git stays at the root. Default: the root (api.github.com). */
  apiPrefix?: string;
  appId: number;
  /** The app's RSA public key (PEM or KeyObject); JWTs must be signed by its private half. */
  publicKey: string | KeyObject;
  installations: StubInstallation[];
  /** Root of bare repositories `<gitRoot>/<owner>/<repo>.git`; without it git routes answer 404. */
  gitRoot?: string;
  /** Shifts the stub's clock (positive: GitHub is ahead of this machine); changeable later. Default 0. */
  clockSkewSeconds?: number;
  /** Lifetime of issued tokens (GitHub: 3600); changeable later. */
  tokenLifetimeSeconds?: number;
  /** Default `classic` (`ghs_` + 36). `stateless`: ~520 characters with dots. */
  tokenFormat?: TokenFormat;
  /** false: no `Date` header, like a proxy that drops it (auth-app then cannot correct a skewed clock). */
  sendDate?: boolean;
}

export interface GithubStub {
  /** API base URL, `http://127.0.0.1:PORT` (then the publicHost and apiPrefix given). */
  readonly url: string;
  /** Git web host, `127.0.0.1:PORT`. */
  readonly host: string;
  readonly tokens: IssuedToken[];
  readonly requests: RecordedRequest[];
  clockSkewSeconds: number;
  tokenLifetimeSeconds: number;
  /** Requests whose route template is `route` (see ROUTES). */
  requestsTo(route: string): RecordedRequest[];
  /** The record of an issued token. */
  token(value: string): IssuedToken | undefined;
  /** The next `times` calls of `route` answer with this fault instead. */
  fail(route: string, fault: Fault, times?: number): void;
  /** The stub's clock, epoch ms. */
  now(): number;
  close(): Promise<void>;
}

export const ROUTES = {
  app: "GET /app",
  installations: "GET /app/installations",
  installation: "GET /app/installations/{installation_id}",
  orgInstallation: "GET /orgs/{org}/installation",
  userInstallation: "GET /users/{username}/installation",
  repoInstallation: "GET /repos/{owner}/{repo}/installation",
  accessTokens: "POST /app/installations/{installation_id}/access_tokens",
  revokeToken: "DELETE /installation/token",
  installationRepositories: "GET /installation/repositories",
  gitInfoRefs: gitRouteName("GET", "info/refs"),
  gitUploadPack: gitRouteName("POST", "git-upload-pack"),
  gitReceivePack: gitRouteName("POST", "git-receive-pack"),
} as const;

const DEFAULT_MESSAGES: Record<number, string> = {
  401: "Bad credentials",
  403: "API rate limit exceeded for installation.",
  404: "Not Found",
  429: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
  500: "Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

const COMPILED = REST_ROUTES.map((route) => ({
  route,
  name: `${route.method} ${route.template}`,
  pattern: new RegExp(`^${route.template.replace(/\{(\w+)\}/g, "(?<$1>[^/]+)")}$`),
}));

export async function startGithubStub(options: GithubStubOptions): Promise<GithubStub> {
  const publicKey = typeof options.publicKey === "string" ? createPublicKey(options.publicKey) : options.publicKey;
  const state = new StubState(options.appId, publicKey, options.installations, options.tokenFormat ?? "classic", {
    clockSkewSeconds: options.clockSkewSeconds ?? 0,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 3600,
  });

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => {
      if (!res.headersSent) reply(res, githubError(500, "Server Error"));
      else res.destroy();
    });
  };
  const server = options.tls ? createHttpsServer(options.tls, listener) : createHttpServer(listener);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://stub.invalid");
    const method = req.method ?? "GET";
    const record: RecordedRequest = { method, path: url.pathname, route: "unmatched", status: 0, auth: authKind(req, state) };
    if (record.auth === "jwt") record.jwt = credentialOf(req);
    state.requests.push(record);
    res.on("finish", () => (record.status = res.statusCode));
    if (options.sendDate === false) res.sendDate = false;
    else res.setHeader("date", new Date(state.now()).toUTCString());

    const git = GIT_PATH.exec(url.pathname);
    const prefix = options.apiPrefix ?? "";
    const apiPath = url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : undefined;
    const rest = git || apiPath === undefined ? undefined : COMPILED.find((c) => c.route.method === method && c.pattern.test(apiPath));
    record.route = git ? gitRouteName(method, git[3]!) : (rest?.name ?? "unmatched");

    const fault = state.takeFault(record.route);
    if (fault?.hang) return; // left open; close() cuts it
    if (fault) return reply(res, githubError(fault.status, fault.message ?? DEFAULT_MESSAGES[fault.status] ?? "Error", fault.headers));

    if (git) {
      if (!options.gitRoot) return reply(res, githubError(404, "Not Found"));
      return serveGit(req, res, state, options.gitRoot, git, url.search.slice(1));
    }
    if (!rest) return reply(res, githubError(404, "Not Found"));
    let body: unknown;
    if (method === "POST" || method === "PATCH" || method === "PUT") {
      const text = await readBody(req);
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        return reply(res, githubError(400, "Problems parsing JSON"));
      }
      record.body = body;
    } else {
      req.resume();
    }
    const params = { ...(rest.pattern.exec(apiPath!)?.groups ?? {}) };
    reply(res, rest.route.handle({ state, params, body, credential: credentialOf(req) }));
  }

  const address = options.listenHost ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls ? "https" : "http"}://${options.publicHost ?? address}:${port}${options.apiPrefix ?? ""}`,
    host: `${options.publicHost ?? address}:${port}`,
    tokens: state.tokens,
    requests: state.requests,
    get clockSkewSeconds() {
      return state.clockSkewSeconds;
    },
    set clockSkewSeconds(value: number) {
      state.clockSkewSeconds = value;
    },
    get tokenLifetimeSeconds() {
      return state.tokenLifetimeSeconds;
    },
    set tokenLifetimeSeconds(value: number) {
      state.tokenLifetimeSeconds = value;
    },
    requestsTo: (route) => state.requests.filter((r) => r.route === route),
    token: (value) => state.tokens.find((t) => t.token === value),
    fail: (route, fault, times = 1) => state.addFault(route, fault, times),
    now: () => state.now(),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function reply(res: ServerResponse, answer: RestAnswer): void {
  const headers: Record<string, string> = { "x-github-request-id": `STUB:${Math.random().toString(16).slice(2, 10)}`, ...answer.headers };
  if (answer.body === undefined) {
    res.writeHead(answer.status, headers).end();
    return;
  }
  res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", ...headers }).end(JSON.stringify(answer.body));
}

/** The credential of `Authorization: Bearer X` or `token X` (GitHub accepts both). */
function credentialOf(req: IncomingMessage): string | undefined {
  return /^(?:bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
}

function authKind(req: IncomingMessage, state: StubState): AuthKind {
  const header = req.headers.authorization ?? "";
  if (/^basic\s/i.test(header)) return "basic";
  const credential = credentialOf(req);
  if (!credential) return "none";
  if (state.tokens.some((t) => t.token === credential) || credential.startsWith("ghs_")) return "token";
  return "jwt";
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1_000_000) throw new Error("body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
