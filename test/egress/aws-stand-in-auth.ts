/**
 * What the AWS stand-in's services share: the error AWS answers with, and the SigV4 checks of
 * the credential (the REAL access key and session token only) before the signature itself, in
 * the Authorization header or in a presigned URL's query.
 */
import { parseAmzDate, parseAuthorization, type WireRequest } from "../stubs/sts-sigv4.js";
import { presignAccepts, type Creds } from "./aws-sigv4-check.js";
import type { StandInRequest } from "./aws-tls-stand-in.js";

export class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The SigV4 checks both services make: the real key and token, and the signature (by `verify`). */
export function authenticate(headers: Map<string, string>, real: Creds, record: StandInRequest, verify: (auth: NonNullable<ReturnType<typeof parseAuthorization>>) => string) {
  const auth = parseAuthorization(headers.get("authorization") ?? "");
  if (!auth) throw new AwsError(403, "AccessDenied", "Missing or malformed Authorization");
  record.credential = auth.accessKeyId === real.accessKeyId && headers.get("x-amz-security-token") === real.sessionToken ? "real" : "other";
  if (auth.accessKeyId !== real.accessKeyId) throw new AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
  if (headers.get("x-amz-security-token") !== real.sessionToken || !auth.signedHeaders.includes("x-amz-security-token")) {
    throw new AwsError(403, "InvalidToken", "The provided token is malformed or otherwise invalid.");
  }
  const valid = verify(auth) === auth.signature;
  record.signature = valid ? "valid" : "invalid";
  if (!valid) throw new AwsError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
  return auth;
}


/** A presigned URL's checks: the real key and token in its query, not expired, and its signature. */
export function authenticatePresigned(wire: WireRequest, query: URLSearchParams, real: Creds, record: StandInRequest): void {
  record.presigned = true;
  const accessKeyId = (query.get("X-Amz-Credential") ?? "").split("/")[0];
  record.credential = accessKeyId === real.accessKeyId && query.get("X-Amz-Security-Token") === real.sessionToken ? "real" : "other";
  if (accessKeyId !== real.accessKeyId) throw new AwsError(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  if (query.get("X-Amz-Security-Token") !== real.sessionToken) throw new AwsError(400, "InvalidToken", "The provided token is malformed or otherwise invalid.");
  const expiresAt = parseAmzDate(query.get("X-Amz-Date") ?? "") + Number(query.get("X-Amz-Expires")) * 1000;
  if (!(Date.now() <= expiresAt)) throw new AwsError(403, "AccessDenied", "Request has expired");
  const valid = presignAccepts(wire, real.secretAccessKey);
  record.signature = valid ? "valid" : "invalid";
  if (!valid) throw new AwsError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.");
}
