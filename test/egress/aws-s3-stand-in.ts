/**
 * The S3 half of the AWS TLS stand-in: PutObject and the multipart upload (`aws s3 cp` of a large
 * file: CreateMultipartUpload, UploadPart, CompleteMultipartUpload), GetObject and HeadObject
 * (ranges; header-signed or a presigned URL), path-style. Each request is
 * verified as S3 does (SigV4 with the real credentials, the signed x-amz-content-sha256, chunk
 * signatures, checksums), and the object S3 would store is measured: length and sha256.
 */
import { createHash, randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { sha256Hex, type WireRequest } from "../stubs/sts-sigv4.js";
import { checkChecksums, chunkChainValid, decodeAwsChunked } from "./aws-body-decode.js";
import { s3Signature, type Creds } from "./aws-sigv4-check.js";
import { authenticate, authenticatePresigned, AwsError } from "./aws-stand-in-auth.js";
import type { StandInRequest } from "./aws-tls-stand-in.js";

/** Multipart uploads in progress (upload id → part number → the part's bytes), and stored objects by `bucket/key`. */
export interface S3Store {
  uploads: Map<string, { key: string; parts: Map<number, Buffer> }>;
  objects: Map<string, Buffer>;
}

/** The body as S3 reads it in the request's payload mode; throws the error S3 answers. */
function decodeBody(wire: WireRequest, headers: Map<string, string>, declared: string, chain: { secret: string; region: string; seed: string }, record: StandInRequest): Buffer {
  let data: Buffer;
  let trailers = new Map<string, string>();
  if (record.payload === "hex") {
    record.payloadHashChecked = true;
    if (sha256Hex(wire.body) !== declared) throw new AwsError(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.");
    data = wire.body;
  } else if (declared === "UNSIGNED-PAYLOAD") {
    data = wire.body;
  } else if (declared === "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || declared === "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") {
    let decoded;
    try {
      decoded = decodeAwsChunked(wire.body);
    } catch {
      throw new AwsError(400, "IncompleteBody", "The aws-chunked body is malformed.");
    }
    if (declared === "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") {
      if (!chunkChainValid(decoded, { ...chain, amzDate: headers.get("x-amz-date") ?? "" })) throw new AwsError(403, "SignatureDoesNotMatch", "A chunk signature does not match.");
      record.chunksChecked = decoded.signatures.length;
    } else {
      const promised = (headers.get("x-amz-trailer") ?? "").toLowerCase();
      if (!promised || !decoded.trailers.has(promised)) throw new AwsError(400, "MalformedTrailerError", "The promised trailer is missing.");
      record.trailer = true;
    }
    if (String(decoded.data.length) !== headers.get("x-amz-decoded-content-length")) throw new AwsError(400, "IncompleteBody", "x-amz-decoded-content-length does not match.");
    data = decoded.data;
    trailers = decoded.trailers;
  } else {
    throw new AwsError(400, "InvalidArgument", "Unsupported x-amz-content-sha256.");
  }
  const checks = checkChecksums(new Map([...headers, ...trailers]), data);
  if (!checks.ok) throw new AwsError(400, "BadDigest", `The ${checks.name} you specified did not match the calculated checksum.`);
  const md5 = headers.get("content-md5");
  if (md5 !== undefined && createHash("md5").update(data).digest("base64") !== md5) throw new AwsError(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
  record.checksums = checks.names;
  return data;
}

const md5Hex = (data: Buffer) => createHash("md5").update(data).digest("hex");
const xml = (body: string) => `<?xml version="1.0" encoding="UTF-8"?>\n${body}\n`;

function measure(record: StandInRequest, data: Buffer): void {
  record.objectBytes = data.length;
  record.objectSha256 = createHash("sha256").update(data).digest("hex");
}

/** GetObject / HeadObject, with a single `Range: bytes=a-b` as `aws s3 cp` downloads in parts. */
function serveObject(store: S3Store, name: string, wire: WireRequest, headers: Map<string, string>, record: StandInRequest, res: ServerResponse): void {
  record.operation = wire.method === "HEAD" ? "HeadObject" : "GetObject";
  const object = store.objects.get(name);
  if (!object) throw new AwsError(404, "NoSuchKey", "The specified key does not exist.");
  const range = /^bytes=(\d+)-(\d*)$/.exec(headers.get("range") ?? "");
  const start = range ? Number(range[1]) : 0;
  const end = range?.[2] ? Math.min(Number(range[2]), object.length - 1) : object.length - 1;
  const slice = object.subarray(start, end + 1);
  measure(record, slice);
  const answer = { etag: `"${md5Hex(object)}"`, "content-type": "application/octet-stream", "accept-ranges": "bytes", "last-modified": new Date().toUTCString(), "content-length": slice.length };
  res.writeHead(range ? 206 : 200, range ? { ...answer, "content-range": `bytes ${start}-${end}/${object.length}` } : answer);
  res.end(wire.method === "HEAD" ? undefined : slice);
}

export function s3Request(store: S3Store, wire: WireRequest, headers: Map<string, string>, real: Creds, record: StandInRequest, res: ServerResponse): void {
  const match = /^\/([^/?]+)\/([^?]+)(?:\?(.*))?$/.exec(wire.url);
  if (!match) throw new AwsError(405, "MethodNotAllowed", "Only /bucket/key is served here.");
  const [, bucket, key, rawQuery = ""] = match as unknown as [string, string, string, string?];
  const query = new URLSearchParams(rawQuery);
  const name = `${bucket}/${key}`;
  const reads = wire.method === "GET" || wire.method === "HEAD";
  if (reads && query.has("X-Amz-Signature")) {
    authenticatePresigned(wire, query, real, record);
    return serveObject(store, name, wire, headers, record, res);
  }
  const declared = headers.get("x-amz-content-sha256");
  if (!declared) throw new AwsError(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  record.payload = /^[0-9a-f]{64}$/.test(declared) ? "hex" : declared;
  const auth = authenticate(headers, real, record, (a) =>
    s3Signature(wire, { signedHeaders: a.signedHeaders, amzDate: headers.get("x-amz-date") ?? "", scope: [a.date, a.region, a.service], payloadHash: declared, omitSignature: false }, real.secretAccessKey),
  );
  const data = decodeBody(wire, headers, declared, { secret: real.secretAccessKey, region: auth.region, seed: auth.signature }, record);
  if (reads) return serveObject(store, name, wire, headers, record, res);
  const uploadId = query.get("uploadId");
  if (wire.method === "PUT" && rawQuery === "") {
    record.operation = "PutObject";
    measure(record, data);
    store.objects.set(name, data);
    return void res.writeHead(200, { etag: `"${md5Hex(data)}"`, "content-length": 0 }).end();
  }
  if (wire.method === "POST" && query.has("uploads")) {
    record.operation = "CreateMultipartUpload";
    const id = randomUUID();
    store.uploads.set(id, { key, parts: new Map() });
    return void res.writeHead(200, { "content-type": "application/xml" }).end(xml(`<InitiateMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`));
  }
  const upload = uploadId === null ? undefined : store.uploads.get(uploadId);
  if (!upload || upload.key !== key) throw new AwsError(404, "NoSuchUpload", "The specified upload does not exist.");
  if (wire.method === "PUT" && query.has("partNumber")) {
    record.operation = "UploadPart";
    measure(record, data);
    upload.parts.set(Number(query.get("partNumber")), data);
    return void res.writeHead(200, { etag: `"${md5Hex(data)}"`, "content-length": 0 }).end();
  }
  if (wire.method === "POST") {
    record.operation = "CompleteMultipartUpload";
    const numbers = [...data.toString().matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
    if (numbers.length === 0 || numbers.some((n, i) => !upload.parts.has(n) || (i > 0 && n <= numbers[i - 1]!))) throw new AwsError(400, "InvalidPart", "One or more of the specified parts could not be found.");
    const whole = Buffer.concat(numbers.map((n) => upload.parts.get(n)!));
    store.uploads.delete(uploadId!);
    measure(record, whole);
    store.objects.set(name, whole);
    return void res.writeHead(200, { "content-type": "application/xml" }).end(xml(`<CompleteMultipartUploadResult><Bucket>${bucket}</Bucket><Key>${key}</Key><ETag>"${md5Hex(whole)}-${numbers.length}"</ETag></CompleteMultipartUploadResult>`));
  }
  throw new AwsError(405, "MethodNotAllowed", "Not served here.");
}
