/**
 * Test helpers for the AWS injection tests: the signers the box would use (@smithy/signature-v4,
 * botocore) and an AWS-like server-side check for what the handler sends upstream. The check is
 * built on the STS stand-in's verifier (test/stubs/sts-sigv4.ts) and extends it to what S3 does
 * differently (the signed x-amz-content-sha256, the path signed as sent, presigned URLs, signed
 * aws-chunked bodies); it shares no code with src/egress, so a bug there cannot hide here.
 */
import { spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Readable } from "node:stream";
import { SignatureV4 } from "@smithy/signature-v4";
import type { InterceptOutcome, InterceptedRequest } from "../../src/egress/inject-types.js";
import {
  expectedSignature,
  headerMap,
  parseAuthorization,
  sha256Hex,
  signingKey,
  uriEncode,
  type WireRequest,
} from "../stubs/sts-sigv4.js";

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

export class TestSha256 {
  private h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(private readonly key?: string | ArrayBuffer | ArrayBufferView) {
    this.h = this.make();
  }
  private make() {
    return this.key === undefined ? createHash("sha256") : createHmac("sha256", typeof this.key === "string" ? this.key : Buffer.from(this.key as Uint8Array));
  }
  update(data: Uint8Array) {
    this.h.update(data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
  reset() {
    this.h = this.make();
  }
}

export function smithySigner(creds: Creds, service: string, uriEscapePath = service !== "s3") {
  return new SignatureV4({ credentials: creds, region: "us-east-1", service, sha256: TestSha256, uriEscapePath, applyChecksum: false });
}

/** A signed request as botocore makes it (header names lower-cased, Host added as urllib3 would). */
export function botocoreSign(spec: Record<string, unknown>): { method: string; url: URL; headers: Record<string, string> } {
  const script = fileURLToPath(new URL("./botocore-sign.py", import.meta.url));
  const run = spawnSync("python3", [script, JSON.stringify(spec)], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`botocore failed: ${run.stderr}`);
  const out = JSON.parse(run.stdout) as { method: string; url: string; headers: Record<string, string> };
  const url = new URL(out.url);
  const headers: Record<string, string> = { host: url.host };
  for (const [name, value] of Object.entries(out.headers)) headers[name.toLowerCase()] = value;
  return { method: out.method, url, headers };
}

export function intercepted(method: string, url: URL | string, headers: Record<string, string | string[]>, body: Readable | Buffer | string = ""): InterceptedRequest {
  const u = typeof url === "string" ? new URL(url) : url;
  const stream = body instanceof Readable ? body : Readable.from([Buffer.from(body)]);
  return { method, host: u.hostname, port: 443, path: `${u.pathname}${u.search}`, headers, body: stream, protocol: "http/1.1" };
}

export async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The outcome as the stand-in's verifier reads a request: raw headers and the body. */
export function wire(outcome: Extract<InterceptOutcome, { ok: true }>, body: Buffer): WireRequest {
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(outcome.headers)) for (const v of [value].flat()) rawHeaders.push(name, v);
  return { method: outcome.method, url: outcome.path, rawHeaders, body };
}

/** The STS stand-in's own check (non-S3, body hashed as received). */
export function stsAccepts(request: WireRequest, secret: string): boolean {
  const headers = headerMap(request.rawHeaders);
  const auth = parseAuthorization(headers.get("authorization") ?? "");
  if (!auth) return false;
  return expectedSignature(request, auth, headers.get("x-amz-date") ?? "", secret) === auth.signature;
}

function canonicalQuery(rawQuery: string, omitSignature: boolean): string {
  return rawQuery
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return [decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq)), decodeURIComponent(eq < 0 ? "" : pair.slice(eq + 1))] as const;
    })
    .filter(([name]) => !(omitSignature && name === "X-Amz-Signature"))
    .map(([n, v]) => [uriEncode(n), uriEncode(v)] as const)
    .sort(([an, av], [bn, bv]) => (an === bn ? (av < bv ? -1 : av > bv ? 1 : 0) : an < bn ? -1 : 1))
    .map(([n, v]) => `${n}=${v}`)
    .join("&");
}

export function s3Signature(request: WireRequest, p: { signedHeaders: string[]; amzDate: string; scope: string[]; payloadHash: string; omitSignature: boolean }, secret: string): string {
  const [path, rawQuery = ""] = request.url.split("?") as [string, string?];
  const headers = headerMap(request.rawHeaders);
  const names = [...p.signedHeaders].sort();
  const canonical = [request.method, path, canonicalQuery(rawQuery, p.omitSignature), names.map((n) => `${n}:${headers.get(n) ?? ""}\n`).join(""), names.join(";"), p.payloadHash].join("\n");
  const [date, region, service] = p.scope as [string, string, string];
  const toSign = ["AWS4-HMAC-SHA256", p.amzDate, `${date}/${region}/${service}/aws4_request`, sha256Hex(canonical)].join("\n");
  return createHmac("sha256", signingKey(secret, date, region, service)).update(toSign).digest("hex");
}

/** S3's check of a header-signed request: the payload hash is the signed x-amz-content-sha256 value (checked against a hex body). */
export function s3Accepts(request: WireRequest, secret: string): boolean {
  const headers = headerMap(request.rawHeaders);
  const auth = parseAuthorization(headers.get("authorization") ?? "");
  const payloadHash = headers.get("x-amz-content-sha256");
  if (!auth || !payloadHash) return false;
  if (/^[0-9a-f]{64}$/.test(payloadHash) && sha256Hex(request.body) !== payloadHash) return false;
  if (payloadHash === "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" && !chunksVerify(request, auth.signature, secret)) return false;
  const amzDate = headers.get("x-amz-date") ?? "";
  const scope = [auth.date, auth.region, auth.service];
  return s3Signature(request, { signedHeaders: auth.signedHeaders, amzDate, scope, payloadHash, omitSignature: false }, secret) === auth.signature;
}

/** S3's check of a presigned URL. */
export function presignAccepts(request: WireRequest, secret: string): boolean {
  const query = new URL(request.url, "https://x").searchParams;
  const [, date, region, service] = (query.get("X-Amz-Credential") ?? "").split("/");
  const p = { signedHeaders: (query.get("X-Amz-SignedHeaders") ?? "").split(";"), amzDate: query.get("X-Amz-Date") ?? "", scope: [date!, region!, service!], payloadHash: "UNSIGNED-PAYLOAD", omitSignature: true };
  return s3Signature(request, p, secret) === query.get("X-Amz-Signature");
}

/** Signs `data` as aws-chunked chunks of `size` bytes chained from `seed`, as the Java SDK does. */
export function chunkedBody(data: Buffer, size: number, p: { secret: string; amzDate: string; region: string; seed: string }): Buffer {
  const date = p.amzDate.slice(0, 8);
  const key = signingKey(p.secret, date, p.region, "s3");
  let previous = p.seed;
  const out: Buffer[] = [];
  for (let at = 0; ; at += size) {
    const chunk = data.subarray(at, Math.min(at + size, data.length));
    const toSign = ["AWS4-HMAC-SHA256-PAYLOAD", p.amzDate, `${date}/${p.region}/s3/aws4_request`, previous, sha256Hex(""), sha256Hex(chunk)].join("\n");
    previous = createHmac("sha256", key).update(toSign).digest("hex");
    out.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`), chunk, Buffer.from("\r\n"));
    if (chunk.length === 0) return Buffer.concat(out);
  }
}

/** Whether an aws-chunked body's chunk chain verifies from `seed` under `secret`. */
export function chunksVerify(request: WireRequest, seed: string, secret: string): boolean {
  const headers = headerMap(request.rawHeaders);
  const amzDate = headers.get("x-amz-date") ?? "";
  const auth = parseAuthorization(headers.get("authorization") ?? "")!;
  const decoded: Buffer[] = [];
  let at = 0;
  const signatures: string[] = [];
  for (;;) {
    const end = request.body.indexOf("\r\n", at);
    const [sizeHex, sig] = request.body.subarray(at, end).toString().split(";chunk-signature=") as [string, string];
    const size = parseInt(sizeHex, 16);
    decoded.push(request.body.subarray(end + 2, end + 2 + size));
    signatures.push(sig);
    at = end + 2 + size + 2;
    if (size === 0) break;
  }
  const data = Buffer.concat(decoded);
  const sizes = decoded.map((d) => d.length);
  const expected = chunkedBody(data, sizes[0] || 1, { secret, amzDate, region: auth.region, seed });
  return expected.equals(request.body) && signatures.length === sizes.length;
}
