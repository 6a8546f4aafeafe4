/**
 * One reading of a SigV4 request as the box sent it (the Authorization header or the presigned
 * query, the query as decoded pairs, X-Amz-Date), shared by the verifier and the re-signer so both
 * work from the same interpretation of the same bytes.
 */

export const HMAC_ALGORITHM = "AWS4-HMAC-SHA256";
export const ECDSA_ALGORITHM = "AWS4-ECDSA-P256-SHA256";
/** The presigned query parameters that carry the signature itself (dropped and replaced on re-signing). */
export const PRESIGN_PARAMS = new Set([
  "X-Amz-Algorithm",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-SignedHeaders",
  "X-Amz-Signature",
  "X-Amz-Security-Token",
]);

export interface SigV4Scope {
  /** yyyymmdd */
  date: string;
  region: string;
  service: string;
}

/** One query parameter: the raw text as sent (kept for forwarding) and its decoded name and value. */
export interface QueryPair {
  raw: string;
  name: string;
  value: string;
}

export interface ClientSignature {
  kind: "header" | "query";
  accessKeyId: string;
  scope: SigV4Scope;
  signedHeaders: string[];
  signature: string;
  /** `20240101T000000Z`, from the x-amz-date header or the X-Amz-Date parameter. */
  amzDate: string;
  /** The session token the request carries (header or X-Amz-Security-Token), if any. */
  sessionToken: string | undefined;
  /** Presigned only: X-Amz-Expires in seconds. */
  expiresSeconds?: number;
}

export type ReadSignature =
  | ClientSignature
  | { kind: "none" }
  | { kind: "sigv4a" }
  | { kind: "sigv2" }
  | { kind: "malformed"; message: string };

/** `/a/b?x=1` → path `/a/b`, raw query `x=1`. */
export function splitTarget(target: string): { path: string; rawQuery: string } {
  const at = target.indexOf("?");
  return at < 0 ? { path: target, rawQuery: "" } : { path: target.slice(0, at), rawQuery: target.slice(at + 1) };
}

/** The query as decoded pairs; null when a percent escape is malformed (AWS refuses those too). */
export function parseQuery(rawQuery: string): QueryPair[] | null {
  const pairs: QueryPair[] = [];
  for (const raw of rawQuery.split("&")) {
    if (raw === "") continue;
    const eq = raw.indexOf("=");
    try {
      const name = decodeURIComponent(eq < 0 ? raw : raw.slice(0, eq));
      const value = decodeURIComponent(eq < 0 ? "" : raw.slice(eq + 1));
      pairs.push({ raw, name, value });
    } catch {
      return null;
    }
  }
  return pairs;
}

/** A header's value as SigV4 reads it: repeated headers joined with `,`. `host` falls back to h2's `:authority`. */
export function headerValue(headers: Record<string, string | string[]>, name: string): string | undefined {
  const value = headers[name] ?? (name === "host" ? headers[":authority"] : undefined);
  return Array.isArray(value) ? value.join(",") : value;
}

/** `20240101T000000Z` → epoch ms; NaN when malformed. */
export function parseAmzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/** `AKID/yyyymmdd/region/service/aws4_request` → its parts; null when malformed. */
function parseCredential(value: string): { accessKeyId: string; scope: SigV4Scope } | null {
  const parts = value.split("/");
  if (parts.length !== 5 || parts[4] !== "aws4_request" || !/^\d{8}$/.test(parts[1]!)) return null;
  const [accessKeyId, date, region, service] = parts as [string, string, string, string];
  if (!accessKeyId || !region || !service) return null;
  return { accessKeyId, scope: { date, region, service } };
}

const SIGNATURE_HEX = /^[0-9a-f]{64}$/;
const HEADER_LIST = /^[a-z0-9!#$%&'*+.^_`|~-]+(;[a-z0-9!#$%&'*+.^_`|~-]+)*$/;

function fromHeader(authorization: string, headers: Record<string, string | string[]>): ReadSignature {
  const trimmed = authorization.trim();
  if (trimmed.startsWith(`${ECDSA_ALGORITHM} `)) return { kind: "sigv4a" };
  if (!trimmed.startsWith(`${HMAC_ALGORITHM} `)) {
    return { kind: "malformed", message: "the Authorization header is not AWS Signature Version 4" };
  }
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(HMAC_ALGORITHM.length + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = parseCredential(fields.get("Credential") ?? "");
  const signedHeaders = fields.get("SignedHeaders") ?? "";
  const signature = fields.get("Signature") ?? "";
  const amzDate = headerValue(headers, "x-amz-date");
  if (!credential || !HEADER_LIST.test(signedHeaders) || !SIGNATURE_HEX.test(signature)) {
    return { kind: "malformed", message: "the Authorization header is malformed" };
  }
  if (amzDate === undefined) return { kind: "malformed", message: "a signed request without X-Amz-Date" };
  return {
    kind: "header",
    ...credential,
    signedHeaders: signedHeaders.split(";"),
    signature,
    amzDate: amzDate.trim(),
    sessionToken: headerValue(headers, "x-amz-security-token"),
  };
}

function fromQuery(pairs: QueryPair[]): ReadSignature {
  const params = new Map<string, string>();
  for (const pair of pairs) {
    if (!PRESIGN_PARAMS.has(pair.name)) continue;
    if (params.has(pair.name)) return { kind: "malformed", message: "a presigned parameter is repeated" };
    params.set(pair.name, pair.value);
  }
  const algorithm = params.get("X-Amz-Algorithm");
  if (algorithm === ECDSA_ALGORITHM) return { kind: "sigv4a" };
  if (algorithm !== HMAC_ALGORITHM) {
    return { kind: "malformed", message: "the presigned URL's X-Amz-Algorithm is not AWS Signature Version 4" };
  }
  const credential = parseCredential(params.get("X-Amz-Credential") ?? "");
  const signedHeaders = params.get("X-Amz-SignedHeaders") ?? "";
  const signature = params.get("X-Amz-Signature") ?? "";
  const expires = params.get("X-Amz-Expires") ?? "";
  const amzDate = params.get("X-Amz-Date");
  if (!credential || !HEADER_LIST.test(signedHeaders) || !SIGNATURE_HEX.test(signature) || amzDate === undefined) {
    return { kind: "malformed", message: "the presigned URL is malformed" };
  }
  if (!/^\d{1,6}$/.test(expires) || Number(expires) < 1 || Number(expires) > 604_800) {
    return { kind: "malformed", message: "the presigned URL's X-Amz-Expires is not between 1 and 604800" };
  }
  return {
    kind: "query",
    ...credential,
    signedHeaders: signedHeaders.split(";"),
    signature,
    amzDate,
    sessionToken: params.get("X-Amz-Security-Token"),
    expiresSeconds: Number(expires),
  };
}

/** How the request is signed: by header, by presigned query, SigV4A, not at all, or malformed. */
export function readClientSignature(headers: Record<string, string | string[]>, pairs: QueryPair[]): ReadSignature {
  const authorization = headerValue(headers, "authorization");
  // Signature Version 2 (`AWS AKID:sig`, or AWSAccessKeyId=…&Signature=… in the query): refused by
  // name before the tripwire, which would otherwise read its access key as a leak.
  if (authorization?.trim().startsWith("AWS ") || pairs.some((pair) => pair.name === "AWSAccessKeyId")) return { kind: "sigv2" };
  const presigned = pairs.some((pair) => pair.name === "X-Amz-Algorithm" || pair.name === "X-Amz-Signature");
  if (authorization !== undefined && presigned) {
    return { kind: "malformed", message: "a request signed both by header and by query" };
  }
  if (authorization !== undefined) return fromHeader(authorization, headers);
  if (presigned) return fromQuery(pairs);
  return { kind: "none" };
}
