/**
 * Checks the box's own SigV4 signature against the placeholder secret, over exactly what it signed
 * (its signed headers, its X-Amz-Date, scope, path and query), so the proxy re-signs only requests
 * the box really made with the credentials it was given, unchanged since it signed them.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { HMAC_ALGORITHM, headerValue, type ClientSignature, type QueryPair, type SigV4Scope } from "./sigv4-parse.js";

/** RFC 3986 encoding as SigV4 wants it: all but unreserved characters, `%XX` upper case. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** S3 signs the path as sent; every other service normalises it and encodes it once more. */
export function signsRawPath(service: string): boolean {
  return service === "s3" || service === "s3-object-lambda" || service === "s3-outposts";
}

/** The canonical URI, as @smithy/signature-v4 and botocore compute it. */
export function canonicalPath(path: string, service: string): string {
  if (signsRawPath(service)) return path === "" ? "/" : path;
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith("/") ? "/" : "";
  return uriEncode(`/${segments.join("/")}${trailing}`).replace(/%2F/g, "/");
}

/** Pairs encoded, sorted by name then value, joined with `&`; `omit` drops the presigned X-Amz-Signature. */
export function canonicalQuery(pairs: QueryPair[], omit?: string): string {
  return pairs
    .filter((pair) => pair.name !== omit)
    .map((pair) => [uriEncode(pair.name), uriEncode(pair.value)] as const)
    .sort(([an, av], [bn, bv]) => (an === bn ? (av < bv ? -1 : av > bv ? 1 : 0) : an < bn ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export const EMPTY_SHA256 = sha256Hex("");

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** Derived keys are cached per secret and scope: deriving one is four HMACs, and a session reuses few. */
const derived = new Map<string, Buffer>();

export function signingKey(secretAccessKey: string, scope: SigV4Scope): Buffer {
  // The cache key holds a digest of the secret, never the secret itself.
  const id = `${sha256Hex(secretAccessKey)}/${scope.date}/${scope.region}/${scope.service}`;
  let key = derived.get(id);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, scope.date), scope.region), scope.service), "aws4_request");
    if (derived.size >= 64) derived.delete(derived.keys().next().value!);
    derived.set(id, key);
  }
  return key;
}

export function scopeString(scope: SigV4Scope): string {
  return `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
}

/** HMAC-SHA256 of a string to sign, hex. */
export function signString(key: Buffer, stringToSign: string): string {
  return createHmac("sha256", key).update(stringToSign).digest("hex");
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface SignedRequestView {
  method: string;
  /** The path without its query, as sent. */
  path: string;
  pairs: QueryPair[];
  headers: Record<string, string | string[]>;
}

/** The canonical request the client signed, given the payload hash it signed. */
export function clientCanonicalRequest(view: SignedRequestView, sig: ClientSignature, payloadHash: string): string {
  const names = [...sig.signedHeaders].sort();
  const lines = names.map((name) => `${name}:${(headerValue(view.headers, name) ?? "").trim().replace(/\s+/g, " ")}\n`);
  return [
    view.method.toUpperCase(),
    canonicalPath(view.path, sig.scope.service),
    canonicalQuery(view.pairs, sig.kind === "query" ? "X-Amz-Signature" : undefined),
    lines.join(""),
    names.join(";"),
    payloadHash,
  ].join("\n");
}

/** Whether `sig` is the signature of this request under `secretAccessKey` with `payloadHash`. */
export function signatureValid(
  view: SignedRequestView,
  sig: ClientSignature,
  payloadHash: string,
  secretAccessKey: string,
): boolean {
  const canonical = clientCanonicalRequest(view, sig, payloadHash);
  const stringToSign = [HMAC_ALGORITHM, sig.amzDate, scopeString(sig.scope), sha256Hex(canonical)].join("\n");
  return sameSecret(signString(signingKey(secretAccessKey, sig.scope), stringToSign), sig.signature);
}
