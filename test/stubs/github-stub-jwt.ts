/**
 * Checks a GitHub App JWT the way api.github.com does, answering with GitHub's own 401 messages:
 * RS256 signed by the app's key, `iss` = the app id (number or numeric string), `iat` not in the
 * future, `exp` in the future and at most 10 minutes after `iat`.
 */
import { verify, type KeyObject } from "node:crypto";

export const JWT_MESSAGES = {
  undecodable: "A JSON web token could not be decoded",
  missingIssuer: "Missing 'issuer' claim ('iss') in assertion",
  issuerNotInteger: "'Issuer' claim ('iss') must be an Integer",
  iat: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
  expired: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
  tooFar: "'Expiration time' claim ('exp') is too far in the future",
} as const;

/** GitHub tolerates very little skew; clients set `iat` 30-60 s in the past to stay clear of it. */
export const IAT_ALLOWANCE_SECONDS = 5;
const MAX_LIFETIME_SECONDS = 600;

/** null when the JWT is good; otherwise the message GitHub answers with its 401. */
export function checkAppJwt(jwt: string, appId: number, publicKey: KeyObject, nowSeconds: number): string | null {
  const parts = jwt.split(".");
  if (parts.length !== 3) return JWT_MESSAGES.undecodable;
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  const payload = decodeJson(payloadPart);
  if (!header || !payload || header.alg !== "RS256") return JWT_MESSAGES.undecodable;

  if (payload.iss === undefined) return JWT_MESSAGES.missingIssuer;
  const iss = typeof payload.iss === "string" && /^\d+$/.test(payload.iss) ? Number(payload.iss) : payload.iss;
  if (typeof iss !== "number" || !Number.isInteger(iss)) return JWT_MESSAGES.issuerNotInteger;
  // Another app's id: GitHub looks up that app's key, which cannot verify this signature.
  if (iss !== appId) return JWT_MESSAGES.undecodable;
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  if (!verify("sha256", signed, publicKey, Buffer.from(signaturePart, "base64url"))) return JWT_MESSAGES.undecodable;

  const { iat, exp } = payload;
  if (typeof iat !== "number" || !Number.isInteger(iat) || iat > nowSeconds + IAT_ALLOWANCE_SECONDS) return JWT_MESSAGES.iat;
  if (typeof exp !== "number" || exp <= nowSeconds) return JWT_MESSAGES.expired;
  if (exp - iat > MAX_LIFETIME_SECONDS || exp > nowSeconds + MAX_LIFETIME_SECONDS + IAT_ALLOWANCE_SECONDS) return JWT_MESSAGES.tooFar;
  return null;
}

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
