/** The app JWT source (signed once, reused, skew remembered) and the per-provider client cache, with real signing. */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAppJwtSource, JWT_REUSE_MS } from "../../src/providers/github-app-jwt.js";
import { createGithubClientCache } from "../../src/providers/github-client-cache.js";
import { DEFAULT_RETRY } from "../../src/providers/github-retry.js";
import { checkAppJwt } from "../stubs/github-stub-jwt.js";

const APP_ID = "4242";
const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
/** A whole second, so JWT times are exact. */
const T = 1_700_000_000_000;

function claims(jwt: string): { iat: number; exp: number; iss: unknown } {
  return JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8")) as { iat: number; exp: number; iss: unknown };
}

function source() {
  const clock = { ms: T };
  return { clock, createJwt: createAppJwtSource({ appId: APP_ID, privateKey, now: () => clock.ms }) };
}

describe("the app JWT", () => {
  it("is a valid RS256 app JWT, reused until JWT_REUSE_MS after signing and then signed anew", async () => {
    const { clock, createJwt } = source();
    const first = await createJwt(APP_ID);
    expect(checkAppJwt(first.jwt, 4242, keys.publicKey, T / 1000)).toBeNull();
    expect(claims(first.jwt)).toMatchObject({ iss: APP_ID, iat: T / 1000 - 30, exp: T / 1000 - 30 + 600 });
    expect(first.expiresAt).toBe(new Date((T / 1000 - 30 + 600) * 1000).toISOString());

    clock.ms = T + JWT_REUSE_MS - 1;
    expect((await createJwt(APP_ID)).jwt).toBe(first.jwt);
    clock.ms = T + JWT_REUSE_MS;
    const second = await createJwt(APP_ID);
    expect(claims(second.jwt).iat).toBe(T / 1000 + JWT_REUSE_MS / 1000 - 30);
    // The first, at the end of its reuse, still had minutes to live: time for a mint's retries.
    expect(checkAppJwt(first.jwt, 4242, keys.publicKey, T / 1000 + JWT_REUSE_MS / 1000 + 240)).toBeNull();
  });

  it("shares one signing between concurrent callers", async () => {
    const { clock, createJwt } = source();
    const a = createJwt(APP_ID);
    clock.ms += 7_000; // a second signing would date its JWT 7 s later
    const b = createJwt(APP_ID);
    const c = createJwt(APP_ID);
    const jwts = (await Promise.all([a, b, c])).map((r) => r.jwt);
    expect(new Set(jwts).size).toBe(1);
    expect(claims(jwts[0]!).iat).toBe(T / 1000 - 30);
  });

  it("signs anew for a new clock difference and keeps using it", async () => {
    const { clock, createJwt } = source();
    const plain = await createJwt(APP_ID);
    const skewed = await createJwt(APP_ID, -3600);
    expect(claims(skewed.jwt).iat).toBe(T / 1000 - 3600 - 30);
    expect(checkAppJwt(skewed.jwt, 4242, keys.publicKey, T / 1000 - 3600)).toBeNull();
    // Later calls without a difference (auth-app's first try) use the remembered one.
    clock.ms += 60_000;
    expect((await createJwt(APP_ID)).jwt).toBe(skewed.jwt);
    // The same difference again reuses; a corrected one signs anew and is remembered in turn.
    expect((await createJwt(APP_ID, -3600)).jwt).toBe(skewed.jwt);
    const corrected = await createJwt(APP_ID, 0);
    expect(claims(corrected.jwt).iat).toBe(T / 1000 + 60 - 30);
    expect(corrected.jwt).not.toBe(plain.jwt);
    expect((await createJwt(APP_ID)).jwt).toBe(corrected.jwt);
    // A garbled Date header (NaN) changes nothing.
    expect((await createJwt(APP_ID, Number.NaN)).jwt).toBe(corrected.jwt);
  });

  it("signs anew when our clock went back", async () => {
    const { clock, createJwt } = source();
    const first = await createJwt(APP_ID);
    clock.ms -= 10_000;
    const after = await createJwt(APP_ID);
    expect(claims(after.jwt).iat).toBe(claims(first.jwt).iat - 10);
  });

  it("rejects, each time, a key it cannot sign with", async () => {
    const clock = { ms: T };
    const createJwt = createAppJwtSource({ appId: APP_ID, privateKey: "not a key", now: () => clock.ms });
    await expect(createJwt(APP_ID)).rejects.toThrow();
    await expect(createJwt(APP_ID)).rejects.toThrow();
  });
});

describe("the client cache", () => {
  const retry = { ...DEFAULT_RETRY, now: Date.now };
  const app = (privateKey: string, apiUrl = "http://127.0.0.1:9") => ({ apiUrl, appId: APP_ID, privateKey });

  it("builds one client per API URL, app id and key", async () => {
    const cache = createGithubClientCache(retry);
    const [a, b] = await Promise.all([cache.get(app("key-1")), cache.get(app("key-1"))]);
    expect(a).toBe(b);
    expect(await cache.get(app("key-1"))).toBe(a);
    expect(await cache.get(app("key-2"))).not.toBe(a);
    expect(await cache.get(app("key-1", "http://127.0.0.1:10"))).not.toBe(a);
    expect(await cache.get({ ...app("key-1"), appId: "4243" })).not.toBe(a);
  });

  it("keeps at most maxClients, dropping the least recently used", async () => {
    const cache = createGithubClientCache(retry, 3);
    const a = await cache.get(app("a"));
    const b = await cache.get(app("b"));
    await cache.get(app("c"));
    expect(await cache.get(app("a"))).toBe(a); // a is now the most recent
    await cache.get(app("d")); // drops b
    expect(await cache.get(app("a"))).toBe(a);
    expect(await cache.get(app("b"))).not.toBe(b);
  });
});
