/**
 * Who signed a request, decided as STS decides it, with its error codes and wording: a missing
 * or malformed signature, a scope or clock outside what STS accepts, an unknown key or session
 * token, an expired session, or a signature that does not match.
 */
import type { Principal } from "./sts-account.js";
import {
  expectedSignature,
  formatAmzDate,
  parseAmzDate,
  signaturesMatch,
  type SigV4Authorization,
  type WireRequest,
} from "./sts-sigv4.js";
import { sender } from "./sts-wire.js";

const FIFTEEN_MINUTES = 15 * 60 * 1000;

export interface AuthContext {
  keys: ReadonlyMap<string, Principal>;
  now: number;
  /** The only region accepted in the scope, if any. */
  region: string | undefined;
}

const mismatch = (message: string) => sender("SignatureDoesNotMatch", message, 403);

export function authenticate(
  wire: WireRequest,
  headers: Map<string, string>,
  auth: SigV4Authorization | null,
  ctx: AuthContext,
): Principal {
  if (!headers.has("authorization")) {
    throw sender("MissingAuthenticationToken", "Request is missing Authentication Token", 403);
  }
  if (!auth) {
    throw sender("IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.");
  }
  const amzDate = headers.get("x-amz-date");
  const signedAt = amzDate === undefined ? Number.NaN : parseAmzDate(amzDate);
  if (amzDate === undefined || Number.isNaN(signedAt)) {
    throw sender("IncompleteSignature", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  const day = amzDate.slice(0, 8);
  if (auth.date !== day) {
    throw mismatch(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${day}', from '${amzDate}'.`,
    );
  }
  if (auth.service !== "sts") throw mismatch("Credential should be scoped to correct service: 'sts'. ");
  if (ctx.region !== undefined && auth.region !== ctx.region) {
    throw mismatch(`Credential should be scoped to a valid region, not '${auth.region}'. `);
  }
  if (!auth.signedHeaders.includes("host")) {
    throw mismatch("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const now = ctx.now;
  if (signedAt < now - FIFTEEN_MINUTES) {
    const limit = formatAmzDate(now - FIFTEEN_MINUTES);
    throw mismatch(`Signature expired: ${amzDate} is now earlier than ${limit} (${formatAmzDate(now)} - 15 min.)`);
  }
  if (signedAt > now + FIFTEEN_MINUTES) {
    const limit = formatAmzDate(now + FIFTEEN_MINUTES);
    throw mismatch(`Signature not yet current: ${amzDate} is still later than ${limit} (${formatAmzDate(now)} + 15 min.)`);
  }
  const principal = ctx.keys.get(auth.accessKeyId);
  // A temporary key needs its own session token; a long-term key must come without one.
  if (!principal || headers.get("x-amz-security-token") !== principal.sessionToken) {
    throw sender("InvalidClientTokenId", "The security token included in the request is invalid.", 403);
  }
  if (principal.expiresAt !== undefined && now >= principal.expiresAt) {
    throw sender("ExpiredToken", "The security token included in the request is expired");
  }
  if (!signaturesMatch(expectedSignature(wire, auth, amzDate, principal.secretAccessKey), auth.signature)) {
    throw mismatch(
      "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
    );
  }
  return principal;
}
