/**
 * The AWS injection rule: a request from the box, signed with its placeholder STS credentials, is
 * checked (its access key, token, clock and signature, and the tripwire for placeholders out of
 * place), then signed again with the session's real credentials. Anything not verifiably the
 * box's own SigV4 request is refused; nothing placeholder-bearing is sent on unsigned.
 */
import { Readable } from "node:stream";
import type { InterceptHandler, InterceptOutcome, InterceptedRequest } from "./inject-types.js";
import { bodyNeedles, placeholderOutOfPlace, textMatcher, type LeakPlace } from "./aws-placeholder-scan.js";
import { bodyGuard, guarded, needleScanner, readBounded } from "./aws-body-guard.js";
import { resignChunks } from "./aws-chunked-resign.js";
import { headerValue, parseAmzDate, parseQuery, readClientSignature, splitTarget, type ClientSignature } from "./sigv4-parse.js";
import { EMPTY_SHA256, sameSecret, sha256Hex, signatureValid, type SignedRequestView } from "./sigv4-verify.js";
import { resignHeaders, resignPresigned, type AwsCredentials } from "./sigv4-resign.js";

export interface AwsInjectDeps {
  /** What the box holds. */
  placeholder: AwsCredentials;
  /** The session's current STS credentials (read per request: a refresh replaces them). */
  real(): AwsCredentials;
  /** The most body held to hash a request that declares no x-amz-content-sha256 (default 8 MiB). */
  maxBufferBytes?: number;
  now?: () => Date;
}

const CREDENTIAL = "aws";
/** AWS refuses a request whose X-Amz-Date is further than this from its clock. */
const MAX_SKEW_MS = 15 * 60_000;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
const PASS_THROUGH_PAYLOADS = new Set(["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"]);
const SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

const refuse = (status: number, message: string): InterceptOutcome => ({ ok: false, status, message: `broker: ${message}\n` });
const leak = (where: LeakPlace | "body"): InterceptOutcome => ({
  ok: false,
  status: 403,
  message: `broker: refused: the session's AWS placeholder credentials appeared in the request ${where}\n`,
  leak: { credential: CREDENTIAL, where },
});

/** The credential checks AWS itself makes, against the placeholder: key, token, scope date, clock. */
function credentialProblem(sig: ClientSignature, placeholder: AwsCredentials, now: number): InterceptOutcome | null {
  if (!sameSecret(sig.accessKeyId, placeholder.accessKeyId)) {
    return refuse(403, "the request is not signed with the session's credentials (access key id)");
  }
  if (sig.sessionToken === undefined || !sameSecret(sig.sessionToken, placeholder.sessionToken)) {
    return refuse(403, "the request does not carry the session's security token");
  }
  const signedAt = parseAmzDate(sig.amzDate);
  if (Number.isNaN(signedAt) || sig.amzDate.slice(0, 8) !== sig.scope.date) {
    return refuse(403, "the request's X-Amz-Date is malformed or does not match its credential scope");
  }
  if (signedAt - now > MAX_SKEW_MS) return refuse(403, "the request is signed more than 15 minutes in the future (check the clock)");
  if (sig.kind === "header" && now - signedAt > MAX_SKEW_MS) {
    return refuse(403, "the request was signed more than 15 minutes ago (check the clock)");
  }
  if (sig.kind === "query" && now > signedAt + sig.expiresSeconds! * 1000) return refuse(403, "the presigned URL has expired");
  return null;
}

const badSignature = () => refuse(403, "the request's signature does not verify against the session's credentials");

const SIGV4A =
  "SigV4A (AWS4-ECDSA-P256-SHA256, multi-Region access points) is not supported through the broker; use a Regional endpoint (SigV4)";
const SIGV2 =
  "AWS Signature Version 2 is not supported through the broker; sign with SigV4 (e.g. boto3 Config(signature_version=\"s3v4\"))";
const SIGNED_CHUNKS_TRAILER =
  "signed aws-chunked uploads with trailers are not supported through the broker; " +
  "let the SDK send UNSIGNED-PAYLOAD (e.g. payload_signing_enabled = false, or request_checksum_calculation = when_required)";

function current(deps: AwsInjectDeps): AwsCredentials | null {
  try {
    const real = deps.real();
    return real.accessKeyId && real.secretAccessKey && real.sessionToken ? real : null;
  } catch {
    return null;
  }
}

export function awsInjectHandler(deps: AwsInjectDeps): InterceptHandler {
  const maxBuffer = deps.maxBufferBytes ?? 8 * 1024 * 1024;
  const clock = deps.now ?? (() => new Date());
  const matches = textMatcher(deps.placeholder);
  const needles = bodyNeedles(deps.placeholder);
  const scanOnly = (body: Readable) => guarded(body, bodyGuard({ needles, credential: CREDENTIAL }));

  return async (request: InterceptedRequest): Promise<InterceptOutcome> => {
    const { path, rawQuery } = splitTarget(request.path);
    const pairs = parseQuery(rawQuery);
    if (!pairs) return refuse(400, "the request's query has a malformed percent escape");
    const sig = readClientSignature(request.headers, pairs);
    if (sig.kind === "sigv2") return refuse(400, SIGV2);
    const where = placeholderOutOfPlace(deps.placeholder, matches, { host: request.host, path, pairs, headers: request.headers });
    if (where) return leak(where);
    if (sig.kind === "sigv4a") return refuse(400, SIGV4A);
    if (sig.kind === "malformed") return refuse(400, sig.message);
    if (sig.kind === "none") {
      // Unsigned (anonymous S3 reads of public buckets): AWS decides; it must carry no placeholder.
      if (headerValue(request.headers, "x-amz-security-token") === deps.placeholder.sessionToken) return leak("header");
      const { method, headers } = request;
      return { ok: true, method, path: request.path, headers, body: scanOnly(request.body), rule: null };
    }
    const now = clock();
    const problem = credentialProblem(sig, deps.placeholder, now.getTime());
    if (problem) return problem;
    const view: SignedRequestView = { method: request.method, path, pairs, headers: request.headers };

    // What the box signed as its payload, and what its body becomes upstream.
    let payloadHash: string;
    let body: (seed: { signature: string; amzDate: string; real: AwsCredentials }) => Readable;
    const declared = sig.kind === "header" ? headerValue(request.headers, "x-amz-content-sha256")?.trim() : undefined;
    if (sig.kind === "query") {
      // Presigned URLs sign no payload: S3's presigners say UNSIGNED-PAYLOAD, others hash an empty body.
      payloadHash = signatureValid(view, sig, "UNSIGNED-PAYLOAD", deps.placeholder.secretAccessKey) ? "UNSIGNED-PAYLOAD" : EMPTY_SHA256;
      body = () => scanOnly(request.body);
    } else if (declared === undefined) {
      let whole: Buffer | "too-large";
      try {
        whole = await readBounded(request.body, maxBuffer);
      } catch {
        return refuse(400, "the request body could not be read");
      }
      if (whole === "too-large") {
        return refuse(413, `the request body is over ${maxBuffer} bytes and declares no x-amz-content-sha256 to sign it by`);
      }
      if (needleScanner(needles)(whole)) return leak("body");
      payloadHash = sha256Hex(whole);
      const bytes = whole;
      body = () => Readable.from([bytes]);
    } else if (HEX_SHA256.test(declared)) {
      payloadHash = declared;
      body = () => guarded(request.body, bodyGuard({ needles, credential: CREDENTIAL, expectSha256: declared }));
    } else if (PASS_THROUGH_PAYLOADS.has(declared)) {
      payloadHash = declared;
      body = () => scanOnly(request.body);
    } else if (declared === SIGNED_CHUNKS) {
      payloadHash = declared;
      body = (seed) =>
        guarded(
          request.body,
          resignChunks({
            client: { secretAccessKey: deps.placeholder.secretAccessKey, scope: sig.scope, amzDate: sig.amzDate, seed: sig.signature },
            real: {
              secretAccessKey: seed.real.secretAccessKey,
              scope: { ...sig.scope, date: seed.amzDate.slice(0, 8) },
              amzDate: seed.amzDate,
              seed: seed.signature,
            },
            maxChunkBytes: maxBuffer,
            needles,
            credential: CREDENTIAL,
          }),
        );
    } else if (declared.startsWith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")) {
      return refuse(400, SIGNED_CHUNKS_TRAILER);
    } else if (declared.startsWith("STREAMING-AWS4-ECDSA")) {
      return refuse(400, SIGV4A);
    } else {
      return refuse(400, "the request's x-amz-content-sha256 is not one the broker can re-sign");
    }
    if (!signatureValid(view, sig, payloadHash, deps.placeholder.secretAccessKey)) return badSignature();

    const real = current(deps);
    if (!real) return refuse(503, "the session has no current AWS credentials");
    const input = { method: request.method, host: request.host, path, pairs, headers: request.headers, client: sig, payloadHash, real, now };
    try {
      const resigned =
        sig.kind === "query"
          ? await resignPresigned({ ...input, expiresAt: parseAmzDate(sig.amzDate) + sig.expiresSeconds! * 1000 })
          : await resignHeaders(input);
      return {
        ok: true,
        method: request.method,
        path: resigned.path,
        headers: resigned.headers,
        body: body({ signature: resigned.signature, amzDate: resigned.amzDate, real }),
        rule: CREDENTIAL,
        fingerprint: real.accessKeyId,
      };
    } catch {
      return refuse(502, "the request could not be re-signed with the session's credentials");
    }
  };
}
