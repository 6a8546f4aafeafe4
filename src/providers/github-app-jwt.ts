/**
 * The GitHub App's JWT for @octokit/auth-app's `createJwt` option, signed once and reused.
 *
 * Signing (PEM import + RS256) costs more than the rest of a mint; auth-app on its own signs for
 * every app-authenticated call. Here one JWT serves every call for JWT_REUSE_MS: the library dates
 * `iat` 30 s back and `exp` 10 min after that, so a reused JWT still has 4.5 min to live.
 * Concurrent callers share one signing.
 *
 * Clock skew: after GitHub refuses a JWT for its times, auth-app calls us again with the difference
 * it read from GitHub's `Date` header. That difference is kept and applied to later JWTs too, so a
 * skewed machine pays the refused request once, not on every mint.
 *
 * The JWT is a credential: it is returned to auth-app and nowhere else (no logs, no errors).
 */

/** auth-app's `createJwt` option. */
export type CreateAppJwt = (appId: string | number, timeDifference?: number) => Promise<AppJwt>;

export interface AppJwt {
  jwt: string;
  /** ISO 8601, on GitHub's clock. */
  expiresAt: string;
}

export interface AppJwtOptions {
  appId: string;
  privateKey: string;
  /** Epoch ms. */
  now: () => number;
}

/** How long a signed JWT is reused, measured on our clock from when it was signed. */
export const JWT_REUSE_MS = 5 * 60_000;

export function createAppJwtSource(options: AppJwtOptions): CreateAppJwt {
  /** Seconds to add to our clock to get GitHub's, as auth-app last measured it. */
  let timeDifference = 0;
  let current: { timeDifference: number; signedAt: number; jwt: Promise<AppJwt> } | undefined;

  return (_appId, given) => {
    // auth-app computes it from a Date header; a garbled header gives NaN, which corrects nothing.
    if (given !== undefined && Number.isFinite(given)) timeDifference = Math.trunc(given);
    const at = options.now();
    if (current && current.timeDifference === timeDifference) {
      const age = at - current.signedAt;
      // A negative age: our clock went back since; the JWT's times may be off, so sign anew.
      if (age >= 0 && age < JWT_REUSE_MS) return current.jwt;
    }
    const entry = { timeDifference, signedAt: at, jwt: sign(options, Math.floor(at / 1000) + timeDifference) };
    current = entry;
    // A failed signing is not kept: the next call tries again (each caller still gets its rejection).
    entry.jwt.catch(() => {
      if (current === entry) current = undefined;
    });
    return entry.jwt;
  };
}

async function sign(options: AppJwtOptions, nowSeconds: number): Promise<AppJwt> {
  // Lazy, like Octokit: loading the daemon does not load the JWT library.
  const { default: githubAppJwt } = await import("universal-github-app-jwt");
  const signed = await githubAppJwt({ id: options.appId, privateKey: options.privateKey, now: nowSeconds });
  return { jwt: signed.token, expiresAt: new Date(signed.expiration * 1000).toISOString() };
}
