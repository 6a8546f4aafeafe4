/** The GitHub provider against the wire-level GitHub stand-in: lookups, narrowing, failures, revocation. */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors.js";
import type { GithubPolicy, SessionPlan } from "../../src/policy/types.js";
import {
  createGithubProvider,
  createGithubRevoker,
  githubWebOrigin,
  revokeGithubToken,
  type GithubProviderOptions,
} from "../../src/providers/github-app.js";
import type { StoredSecret } from "../../src/store/secret-store.js";
import { tokenFingerprint } from "../../src/util/fingerprint.js";
import { memoryStore } from "../helpers/memory-store.js";
import { createBareRepo, ROUTES, runGit, startGithubStub, type GithubStub, type GithubStubOptions } from "../stubs/github-stub.js";

const APP_ID = 4242;
const appKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privateKey = appKeys.privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const strangerKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();

const INSTALLATIONS: GithubStubOptions["installations"] = [
  {
    id: 42,
    account: { login: "acme", type: "Organization" },
    repositories: ["reports", "website", "infra"],
    permissions: { contents: "write", metadata: "read", pull_requests: "write", issues: "read" },
  },
  { id: 77, account: { login: "alice", type: "User" }, repositories: ["dotfiles"], permissions: { contents: "read", metadata: "read" } },
];

let root: string;
let stub: GithubStub;
const extraStubs: GithubStub[] = [];
/** Every error a test provoked, checked at the end for leaked secrets. */
const seenErrors: unknown[] = [];

const appSecret = (key = privateKey): StoredSecret => ({ type: "github-app", value: JSON.stringify({ appId: String(APP_ID), privateKey: key }) });

function provider(options: Partial<GithubProviderOptions> = {}) {
  return createGithubProvider({ store: memoryStore({ "gh-app": appSecret() }), now: Date.now, backoffMs: 20, ...options });
}

function request(github: Partial<GithubPolicy>, apiUrl = stub.url) {
  const plan: SessionPlan = {
    task: "report",
    ttlSeconds: 900,
    env: {},
    github: { app: "gh-app", apiUrl, owner: "acme", repositories: ["reports"], permissions: { contents: "read" }, ...github },
  };
  return { sessionId: "s-1", plan, sessionExpiresAt: Date.now() + 900_000 };
}

async function failure(promise: Promise<unknown>): Promise<BrokerError> {
  const error = await promise.then(
    () => expect.fail("expected a BrokerError"),
    (e: unknown) => e,
  );
  seenErrors.push(error);
  expect(error).toBeInstanceOf(BrokerError);
  return error as BrokerError;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "github-provider-"));
  createBareRepo(join(root, "git"), "acme", "reports");
  stub = await startGithubStub({ appId: APP_ID, publicKey: appKeys.publicKey, installations: INSTALLATIONS, gitRoot: join(root, "git") });
});

afterEach(() => {
  stub.clockSkewSeconds = 0;
});

afterAll(async () => {
  // No error message, fix or detail may carry a token or the app key.
  const secrets = [...stub.tokens, ...extraStubs.flatMap((s) => s.tokens)].map((t) => t.token);
  const keyLines = [privateKey, strangerKey].flatMap((k) => k.split("\n").filter((l) => l.length > 40));
  expect(seenErrors.length).toBeGreaterThan(8);
  for (const error of seenErrors) {
    const text = JSON.stringify([(error as Error).message, (error as BrokerError).toJSON()]);
    for (const secret of [...secrets, ...keyLines]) expect(text).not.toContain(secret);
  }
  await Promise.all([stub?.close(), ...extraStubs.map((s) => s.close())]);
  rmSync(root, { recursive: true, force: true });
});

describe("finding the installation", () => {
  it("finds an organisation's installation by owner and looks it up once for two mints", async () => {
    const github = provider();
    const before = stub.requestsTo(ROUTES.orgInstallation).length;
    const first = await github.mint(request({}));
    const second = await github.mint(request({}));
    expect(stub.requestsTo(ROUTES.orgInstallation).length - before).toBe(1);
    expect(first.credentials.token).not.toBe(second.credentials.token);
    expect(stub.token(first.credentials.token)?.installationId).toBe(42);
  });

  it("finds a user's installation by owner", async () => {
    const lease = await provider().mint(request({ owner: "alice", repositories: ["dotfiles"] }));
    expect(stub.token(lease.credentials.token)).toMatchObject({ installationId: 77, owner: "alice" });
    expect(stub.requestsTo(ROUTES.userInstallation).at(-1)?.status).toBe(200);
  });

  it("uses installation_id as given, without a lookup", async () => {
    const lookups = stub.requests.filter((r) => r.route.endsWith("/installation")).length;
    const lease = await provider().mint(request({ owner: undefined, installationId: 42 }));
    expect(stub.token(lease.credentials.token)?.installationId).toBe(42);
    expect(stub.requests.filter((r) => r.route.endsWith("/installation")).length).toBe(lookups);
  });

  it("says the app is not installed for an unknown owner or installation (404)", async () => {
    const byOwner = await failure(provider().mint(request({ owner: "nobody" })));
    expect(byOwner.code).toBe("ERR_UPSTREAM_GITHUB");
    expect(byOwner.message).toMatch(/not installed.*"nobody"/);
    expect(byOwner.details).toMatchObject({ upstreamStatus: 404, owner: "nobody" });
    const byId = await failure(provider().mint(request({ owner: undefined, installationId: 999 })));
    expect(byId.message).toMatch(/not installed as installation 999/);
    expect(byId.details?.upstreamStatus).toBe(404);
  });
});

describe("the token", () => {
  it("is restricted to the requested repositories and permissions and described as GitHub answered", async () => {
    const lease = await provider().mint(request({ repositories: ["reports", "website"], permissions: { contents: "read", pull_requests: "write" } }));
    const record = stub.token(lease.credentials.token)!;
    expect(record.requestedRepositories).toEqual(["reports", "website"]);
    expect(record.permissions).toEqual({ contents: "read", pull_requests: "write" });
    expect(lease.credentials).toMatchObject({
      host: stub.host,
      scheme: "http",
      repositories: ["reports", "website"],
      permissions: { contents: "read", pull_requests: "write" },
    });
    expect(lease.expiresAt).toBe(Date.parse(lease.credentials.expiresAt));
    expect(lease.expiresAt).toBe(record.expiresAt);
    expect(lease.fingerprint).toBe(tokenFingerprint(lease.credentials.token));
    expect(lease.secrets).toEqual([lease.credentials.token]);
    expect(lease.revoke).toEqual({ provider: "github", apiUrl: stub.url, token: lease.credentials.token, expiresAt: lease.expiresAt });
  });

  it("names the repositories and permissions the installation lacks (422)", async () => {
    const permissions = { contents: "read", issues: "write", administration: "write" } as const;
    const error = await failure(provider().mint(request({ repositories: ["reports", "secret-plans"], permissions })));
    expect(error.code).toBe("ERR_UPSTREAM_GITHUB");
    expect(error.message).toContain("secret-plans");
    expect(error.message).toContain("issues=write (granted: read)");
    expect(error.message).toContain("administration=write (not granted)");
    expect(error.message).not.toMatch(/repositories[^;]*reports/);
    expect(error.details).toMatchObject({ upstreamStatus: 422, missingRepositories: "secret-plans" });
  });

  it("passes long dotted tokens through untouched", async () => {
    const dotted = await startGithubStub({ appId: APP_ID, publicKey: appKeys.publicKey, installations: INSTALLATIONS, tokenFormat: "stateless" });
    extraStubs.push(dotted);
    const lease = await provider().mint(request({}, dotted.url));
    expect(lease.credentials.token.length).toBeGreaterThan(500);
    expect(lease.credentials.token).toContain(".");
    expect(dotted.token(lease.credentials.token)).toBeDefined();
    expect(lease.fingerprint).toBe(tokenFingerprint(lease.credentials.token));
  });

  it("never asks GitHub for an empty repository list, which GitHub reads as all", async () => {
    const before = stub.requests.length;
    const error = await failure(provider().mint(request({ repositories: [] })));
    expect(error.code).toBe("ERR_POLICY_DENIED");
    expect(stub.requests.length).toBe(before);
  });

  it("refuses a missing or mistyped app secret with the fix", async () => {
    const missing = await failure(provider({ store: memoryStore() }).mint(request({})));
    expect(missing.code).toBe("ERR_SECRET_NOT_FOUND");
    expect(missing.fix).toContain("broker secret set gh-app --type github-app");
    const generic = await failure(provider({ store: memoryStore({ "gh-app": { type: "generic", value: "x" } }) }).mint(request({})));
    expect(generic.code).toBe("ERR_SECRET_TYPE");
  });
});

describe("upstream failures", () => {
  it("corrects a skewed clock from GitHub's Date header, with one extra request", async () => {
    stub.clockSkewSeconds = -3600;
    const before = stub.requestsTo(ROUTES.accessTokens).length;
    await provider().mint(request({ owner: undefined, installationId: 42 }));
    expect(stub.requestsTo(ROUTES.accessTokens).slice(before).map((r) => r.status)).toEqual([401, 201]);
  });

  it("blames the clock (or the key) when GitHub refuses the JWT (401)", async () => {
    // GitHub an hour ahead, and no Date header for auth-app to correct by (as behind a proxy that drops it).
    const noDate = await startGithubStub({
      appId: APP_ID,
      publicKey: appKeys.publicKey,
      installations: INSTALLATIONS,
      sendDate: false,
      clockSkewSeconds: 3600,
    });
    extraStubs.push(noDate);
    const skewed = await failure(provider().mint(request({}, noDate.url)));
    expect(skewed.code).toBe("ERR_UPSTREAM_GITHUB");
    expect(skewed.message).toMatch(/clock/);
    expect(skewed.fix).toMatch(/clock/);
    expect(skewed.details?.upstreamStatus).toBe(401);

    const withStrangerKey = provider({ store: memoryStore({ "gh-app": appSecret(strangerKey) }) });
    const wrongKey = await failure(withStrangerKey.mint(request({ owner: undefined, installationId: 42 })));
    expect(wrongKey.message).toMatch(/private key does not belong/);
    expect(wrongKey.details?.upstreamStatus).toBe(401);
  });

  it("retries 500s with backoff and succeeds", async () => {
    stub.fail(ROUTES.accessTokens, { status: 500 }, 2);
    const before = stub.requestsTo(ROUTES.accessTokens).length;
    await provider().mint(request({}));
    expect(stub.requestsTo(ROUTES.accessTokens).slice(before).map((r) => r.status)).toEqual([500, 500, 201]);
  });

  it("gives up on 5xx after maxAttempts", async () => {
    stub.fail(ROUTES.accessTokens, { status: 502 }, 3);
    const before = stub.requestsTo(ROUTES.accessTokens).length;
    const error = await failure(provider({ maxAttempts: 3 }).mint(request({})));
    expect(error.details).toMatchObject({ upstreamStatus: 502, attempts: 3 });
    expect(stub.requestsTo(ROUTES.accessTokens).length - before).toBe(3);
  });

  it("waits out a 429's retry-after, and gives up at once on a long rate limit", async () => {
    stub.fail(ROUTES.accessTokens, { status: 429, headers: { "retry-after": "1" } });
    const started = Date.now();
    await provider().mint(request({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);

    stub.fail(ROUTES.accessTokens, { status: 403, headers: { "x-ratelimit-remaining": "0", "retry-after": "60" } });
    const before = stub.requestsTo(ROUTES.accessTokens).length;
    const limited = await failure(provider().mint(request({})));
    expect(limited.message).toMatch(/rate-limited.*60 s/);
    expect(limited.details).toMatchObject({ upstreamStatus: 403, retryAfterSeconds: 60 });
    expect(stub.requestsTo(ROUTES.accessTokens).length - before).toBe(1);
  });

  it("times out a hung API", async () => {
    stub.fail(ROUTES.accessTokens, { status: 0, hang: true });
    const started = Date.now();
    const error = await failure(provider({ timeoutMs: 300 }).mint(request({})));
    expect(error.code).toBe("ERR_UPSTREAM_TIMEOUT");
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe("revocation", () => {
  it("revokes a token so that it can no longer clone", async () => {
    const home = join(root, "home");
    const work = mkdtempSync(join(root, "work-"));
    const lease = await provider().mint(request({}));
    const token = lease.credentials.token;
    const url = `${lease.credentials.scheme}://${lease.credentials.host}/acme/reports.git`;
    expect((await runGit(["clone", "--quiet", url, "before"], { cwd: work, home, token })).status).toBe(0);

    await revokeGithubToken(lease.revoke!);
    expect(stub.token(token)?.revokedAt).not.toBeNull();
    const after = await runGit(["clone", "--quiet", url, "after"], { cwd: work, home, token });
    expect(after.status).not.toBe(0);
    expect(readdirSync(work)).toEqual(["before"]);
    // Revoking again meets a 401, which means "already dead": success.
    await revokeGithubToken(lease.revoke!);
  });

  it("retries a 500 twice, then revokes", async () => {
    const lease = await provider().mint(request({}));
    stub.fail(ROUTES.revokeToken, { status: 500 }, 2);
    await revokeGithubToken(lease.revoke!);
    expect(stub.requestsTo(ROUTES.revokeToken).slice(-3).map((r) => r.status)).toEqual([500, 500, 204]);
    expect(stub.token(lease.credentials.token)?.revokedAt).not.toBeNull();
  });

  it("counts an expired token as revoked without asking GitHub", async () => {
    const before = stub.requestsTo(ROUTES.revokeToken).length;
    await revokeGithubToken({ provider: "github", apiUrl: stub.url, token: "ghs_long_gone", expiresAt: Date.now() - 1_000 });
    expect(stub.requestsTo(ROUTES.revokeToken).length).toBe(before);
  });

  it("throws a coded error when GitHub keeps failing", async () => {
    const lease = await provider().mint(request({}));
    stub.fail(ROUTES.revokeToken, { status: 503 }, 2);
    const error = await failure(createGithubRevoker({ maxAttempts: 2, backoffMs: 10 })(lease.revoke!));
    expect(error.code).toBe("ERR_UPSTREAM_GITHUB");
    expect(error.details?.upstreamStatus).toBe(503);
    expect(stub.token(lease.credentials.token)?.revokedAt).toBeNull();
  });
});

describe("module boundaries", () => {
  it("derives the git web origin from the API URL", () => {
    expect(githubWebOrigin("https://api.github.com")).toEqual({ scheme: "https", host: "github.com" });
    expect(githubWebOrigin("https://ghe.example.com/api/v3")).toEqual({ scheme: "https", host: "ghe.example.com" });
    expect(githubWebOrigin("https://ghe.example.com:8443/api/v3/")).toEqual({ scheme: "https", host: "ghe.example.com:8443" });
    expect(githubWebOrigin("http://127.0.0.1:9000")).toEqual({ scheme: "http", host: "127.0.0.1:9000" });
  });

  it("imports Octokit only lazily, so loading the daemon does not load it", () => {
    const dir = fileURLToPath(new URL("../../src/providers", import.meta.url));
    for (const file of readdirSync(dir).filter((f) => f.startsWith("github"))) {
      expect(readFileSync(join(dir, file), "utf8"), file).not.toMatch(/^import\s[^;]*["']@octokit\//m);
    }
  });
});
