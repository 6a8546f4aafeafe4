/** The GitHub provider reuses its app client and app JWT across mints, as the wire-level stand-in sees it. */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors.js";
import type { GithubPolicy, SessionPlan } from "../../src/policy/types.js";
import { createGithubProvider, type GithubProviderOptions } from "../../src/providers/github-app.js";
import { JWT_REUSE_MS } from "../../src/providers/github-app-jwt.js";
import type { StoredSecret } from "../../src/store/secret-store.js";
import { memoryStore } from "../helpers/memory-store.js";
import { checkAppJwt } from "../stubs/github-stub-jwt.js";
import { ROUTES, startGithubStub, type GithubStub } from "../stubs/github-stub.js";

const APP_ID = 4242;
const appKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pem = (key: typeof appKeys.privateKey) => key.export({ type: "pkcs8", format: "pem" }).toString();
const privateKey = pem(appKeys.privateKey);
const strangerKey = pem(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
const appSecret = (key = privateKey): StoredSecret => ({ type: "github-app", value: JSON.stringify({ appId: String(APP_ID), privateKey: key }) });

let stub: GithubStub;
const seenErrors: unknown[] = [];

beforeAll(async () => {
  stub = await startGithubStub({
    appId: APP_ID,
    publicKey: appKeys.publicKey,
    installations: [{ id: 42, account: { login: "acme", type: "Organization" }, repositories: ["reports"], permissions: { contents: "read", metadata: "read" } }],
  });
});

afterEach(() => {
  stub.clockSkewSeconds = 0;
});

afterAll(async () => {
  // No error may carry an app JWT or a line of a key.
  const jwts = stub.requests.flatMap((r) => (r.jwt ? [r.jwt] : []));
  const keyLines = [privateKey, strangerKey].flatMap((k) => k.split("\n").filter((l) => l.length > 40));
  expect(seenErrors.length).toBeGreaterThan(0);
  for (const error of seenErrors) {
    const text = JSON.stringify([(error as Error).message, (error as BrokerError).toJSON()]);
    for (const secret of [...jwts, ...keyLines]) expect(text).not.toContain(secret);
  }
  await stub?.close();
});

function provider(options: Partial<GithubProviderOptions> = {}) {
  return createGithubProvider({ store: memoryStore({ "gh-app": appSecret() }), now: Date.now, backoffMs: 20, ...options });
}

function request(github: Partial<GithubPolicy> = {}) {
  const plan: SessionPlan = {
    task: "report",
    ttlSeconds: 900,
    env: {},
    github: { app: "gh-app", apiUrl: stub.url, installationId: 42, repositories: ["reports"], permissions: { contents: "read" }, ...github },
  };
  return { sessionId: "s-1", plan, sessionExpiresAt: Date.now() + 900_000 };
}

/** The app JWTs and statuses of the token requests since `before` (an index into stub.requests). */
const tokenRequestsSince = (before: number) =>
  stub.requests.slice(before).filter((r) => r.route === ROUTES.accessTokens).map((r) => ({ jwt: r.jwt!, status: r.status }));
const iatOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as { iat: number }).iat;

/** RS256 signing is deterministic: JWTs signed within one second are equal. Waiting for the next one tells reuse from re-signing. */
const nextWallSecond = () => new Promise((resolve) => setTimeout(resolve, 1_005 - (Date.now() % 1_000)));

describe("the app JWT across mints", () => {
  it("sends GitHub one app JWT for the lookup and both token requests of two mints", async () => {
    const github = provider();
    const before = stub.requests.length;
    await github.mint(request({ installationId: undefined, owner: "acme" }));
    await nextWallSecond();
    await github.mint(request({ installationId: undefined, owner: "acme" }));
    const sent = stub.requests.slice(before).filter((r) => r.auth === "jwt");
    expect(sent.map((r) => [r.route, r.status])).toEqual([
      [ROUTES.orgInstallation, 200],
      [ROUTES.accessTokens, 201],
      [ROUTES.accessTokens, 201],
    ]);
    expect(new Set(sent.map((r) => r.jwt)).size).toBe(1);
    expect(checkAppJwt(sent[0]!.jwt!, APP_ID, appKeys.publicKey, Math.floor(stub.now() / 1000))).toBeNull();
  });

  it("signs a new JWT once the old one is past its reuse window on the provider's clock", async () => {
    let offsetMs = 0;
    const github = provider({ now: () => Date.now() + offsetMs });
    // Time passes for the broker and GitHub alike.
    const advance = (ms: number) => {
      offsetMs = ms;
      stub.clockSkewSeconds = ms / 1000;
    };
    const before = stub.requests.length;
    await github.mint(request());
    advance(JWT_REUSE_MS - 5_000);
    await github.mint(request());
    advance(JWT_REUSE_MS + 5_000);
    await github.mint(request());
    const [first, reused, renewed] = tokenRequestsSince(before);
    expect([first, reused, renewed].map((r) => r?.status)).toEqual([201, 201, 201]);
    expect(reused!.jwt).toBe(first!.jwt);
    expect(renewed!.jwt).not.toBe(first!.jwt);
    const gap = iatOf(renewed!.jwt) - iatOf(first!.jwt);
    expect(gap).toBeGreaterThanOrEqual((JWT_REUSE_MS + 5_000) / 1000);
    expect(gap).toBeLessThan((JWT_REUSE_MS + 5_000) / 1000 + 5);
  });

  it("uses a rotated key at once, with its own client and JWT", async () => {
    const store = memoryStore({ "gh-app": appSecret() });
    const github = provider({ store });
    const before = stub.requests.length;
    await github.mint(request());
    // Rotated to a key GitHub does not know: the old client and its good JWT must not be used.
    await store.set("gh-app", appSecret(strangerKey));
    const refused = await github.mint(request()).then(
      () => expect.fail("expected a BrokerError"),
      (e: unknown) => e as BrokerError,
    );
    seenErrors.push(refused);
    expect(refused).toBeInstanceOf(BrokerError);
    expect(refused.message).toMatch(/private key does not belong/);
    // And back: the first key's client (and its still-young JWT) serves again.
    await store.set("gh-app", appSecret());
    await github.mint(request());
    const [good, stranger, again] = tokenRequestsSince(before);
    expect([good, stranger, again].map((r) => r?.status)).toEqual([201, 401, 201]);
    expect(stranger!.jwt).not.toBe(good!.jwt);
    expect(checkAppJwt(stranger!.jwt, APP_ID, appKeys.publicKey, Math.floor(stub.now() / 1000))).not.toBeNull();
    expect(again!.jwt).toBe(good!.jwt);
  });

  it("pays a clock-skew retry once, not on every mint, and follows the clock when it is corrected", async () => {
    stub.clockSkewSeconds = -3600;
    const github = provider();
    let before = stub.requests.length;
    await github.mint(request());
    await github.mint(request());
    await nextWallSecond();
    await github.mint(request());
    const skewed = tokenRequestsSince(before);
    expect(skewed.map((r) => r.status)).toEqual([401, 201, 201, 201]);
    // The retry's JWT, dated by GitHub's clock, is the one reused.
    expect(new Set(skewed.slice(1).map((r) => r.jwt)).size).toBe(1);
    expect(Math.abs(iatOf(skewed[1]!.jwt) - (Math.floor(stub.now() / 1000) - 30))).toBeLessThan(5);

    // GitHub's clock and ours agree again: the remembered difference is refused once, then dropped.
    stub.clockSkewSeconds = 0;
    before = stub.requests.length;
    await github.mint(request());
    await github.mint(request());
    expect(tokenRequestsSince(before).map((r) => r.status)).toEqual([401, 201, 201]);
  });

  it("keeps the JWT out of a failure it caused", async () => {
    // GitHub refuses the JWT (not for its times, so no retry): the error describes the refusal, never the JWT.
    stub.fail(ROUTES.accessTokens, { status: 401, message: "A JSON web token could not be decoded" });
    const error = await provider().mint(request()).then(
      () => expect.fail("expected a BrokerError"),
      (e: unknown) => e as BrokerError,
    );
    seenErrors.push(error);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.details?.upstreamStatus).toBe(401);
  });
});
