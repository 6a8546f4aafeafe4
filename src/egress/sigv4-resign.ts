/**
 * Signs a verified request again with the session's real STS credentials (@smithy/signature-v4,
 * the AWS SDK's own signer): same method, path, query, body and signed headers, real access key,
 * real session token, the broker's clock. Header-signed requests get a new Authorization;
 * presigned ones a new query that keeps the expiry instant the box chose.
 */
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { PRESIGN_PARAMS, headerValue, type ClientSignature, type QueryPair } from "./sigv4-parse.js";
import { signsRawPath, uriEncode } from "./sigv4-verify.js";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

/** node:crypto behind the interface @smithy/signature-v4 expects (HMAC when given a key). */
export class NodeSha256 {
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = this.fresh();
  }
  private fresh() {
    if (this.secret === undefined) return createHash("sha256");
    const key = typeof this.secret === "string" ? this.secret : Buffer.from(this.secret as Uint8Array);
    return createHmac("sha256", key);
  }
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

/**
 * Headers a proxy hop may drop or rewrite (hop-by-hop, and Expect, which proxies answer themselves):
 * never signed again, so the proxy's own handling of them cannot break the signature.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "expect",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);
/** Headers the signer writes itself. */
const GENERATED = new Set(["authorization", "x-amz-date", "x-amz-security-token"]);
const SHA256_HEADER = "x-amz-content-sha256";

export interface ResignInput {
  method: string;
  host: string;
  /** Path without query, as sent. */
  path: string;
  pairs: QueryPair[];
  headers: Record<string, string | string[]>;
  client: ClientSignature;
  /** The payload hash the client signed (the x-amz-content-sha256 value, or the body's sha256). */
  payloadHash: string;
  real: AwsCredentials;
  now: Date;
}

export interface Resigned {
  /** Path and query to send. */
  path: string;
  headers: Record<string, string | string[]>;
  /** The new seed signature and its date and scope (an aws-chunked body's chunks chain from it). */
  signature: string;
  amzDate: string;
}

function signer(input: ResignInput): SignatureV4 {
  return new SignatureV4({
    credentials: input.real,
    region: input.client.scope.region,
    service: input.client.scope.service,
    sha256: NodeSha256,
    uriEscapePath: !signsRawPath(input.client.scope.service),
    applyChecksum: false,
  });
}

/** The headers to sign: the client's signed ones (less hop-by-hop and generated), plus the payload hash. */
function toSign(input: ResignInput) {
  const headers: Record<string, string> = {};
  const signable = new Set<string>();
  for (const name of input.client.signedHeaders) {
    if (HOP_BY_HOP.has(name) || GENERATED.has(name)) continue;
    const value = headerValue(input.headers, name);
    if (value === undefined) continue;
    headers[name] = value;
    signable.add(name);
  }
  // The signer reads the payload hash from this header; when the client did not sign one, it is
  // marked unsignable so it is neither signed nor sent.
  headers[SHA256_HEADER] = input.payloadHash;
  const unsignable = signable.has(SHA256_HEADER) ? new Set<string>() : new Set([SHA256_HEADER]);
  return { headers, signable, unsignable };
}

function queryRecord(pairs: QueryPair[]): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const { name, value } of pairs) {
    const previous = query[name];
    query[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return query;
}

function splitAuthorization(authorization: string): string {
  return /Signature=([0-9a-f]{64})/.exec(authorization)?.[1] ?? "";
}

/** Re-signs a header-signed request: a new Authorization, X-Amz-Date and X-Amz-Security-Token. */
export async function resignHeaders(input: ResignInput): Promise<Resigned> {
  const { headers, signable, unsignable } = toSign(input);
  const signed = await signer(input).sign(
    { method: input.method, protocol: "https:", hostname: input.host, path: input.path, query: queryRecord(input.pairs), headers },
    { signingDate: input.now, signableHeaders: signable, unsignableHeaders: unsignable },
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(input.headers)) if (!GENERATED.has(name)) out[name] = value;
  const authorization = String(signed.headers.authorization);
  const amzDate = String(signed.headers["x-amz-date"]);
  out.authorization = authorization;
  out["x-amz-date"] = amzDate;
  out["x-amz-security-token"] = input.real.sessionToken;
  const target = input.pairs.length === 0 ? input.path : `${input.path}?${input.pairs.map((p) => p.raw).join("&")}`;
  return { path: target, headers: out, signature: splitAuthorization(authorization), amzDate };
}

/** Re-signs a presigned URL: the box's other parameters kept as sent, the signature ones replaced. */
export async function resignPresigned(input: ResignInput & { expiresAt: number }): Promise<Resigned> {
  const { headers, signable, unsignable } = toSign(input);
  unsignable.add(SHA256_HEADER);
  signable.delete(SHA256_HEADER);
  const kept = input.pairs.filter((pair) => !PRESIGN_PARAMS.has(pair.name));
  const expiresIn = Math.max(1, Math.floor((input.expiresAt - input.now.getTime()) / 1000));
  const presigned = await signer(input).presign(
    { method: input.method, protocol: "https:", hostname: input.host, path: input.path, query: queryRecord(kept), headers },
    {
      signingDate: input.now,
      expiresIn,
      signableHeaders: signable,
      unsignableHeaders: unsignable,
      // Keep every header where the box put it: hoisting one into the query would change the request.
      unhoistableHeaders: new Set([...Object.keys(headers)]),
    },
  );
  const query = presigned.query ?? {};
  const added = [...PRESIGN_PARAMS]
    .filter((name) => query[name] !== undefined)
    .map((name) => `${uriEncode(name)}=${uriEncode(String(query[name]))}`);
  const path = `${input.path}?${[...kept.map((pair) => pair.raw), ...added].join("&")}`;
  const amzDate = String(query["X-Amz-Date"]);
  return { path, headers: { ...input.headers }, signature: String(query["X-Amz-Signature"]), amzDate };
}
