/**
 * A TLS stand-in for AWS on 127.0.0.2, for real clients (awscli, boto3) reaching it through the
 * intercepting egress proxy: STS `GetCallerIdentity` (Query protocol, XML as STS answers) and an
 * S3-style `PUT /bucket/key`. Both verify SigV4 as AWS does, against the REAL credentials only
 * (access key, secret, session token), so a request the broker did not re-sign is refused 403.
 * Upload bodies are read in every payload mode S3 takes (hex hash, UNSIGNED-PAYLOAD, aws-chunked
 * with a trailing checksum, signed aws-chunked), and each request is recorded without a value.
 */
import { createHash, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { makeTestCa } from "../helpers/test-ca.js";
import { expectedSignature, headerMap, parseAuthorization, sha256Hex, type WireRequest } from "../stubs/sts-sigv4.js";
import { escapeXml, queryParams, successXml } from "../stubs/sts-wire.js";
import { checkChecksums, chunkChainValid, decodeAwsChunked } from "./aws-body-decode.js";
import { s3Signature, type Creds } from "./aws-sigv4-check.js";

/** One request as the stand-in saw it: outcomes and sizes, never a credential value. */
export interface StandInRequest {
  service: "sts" | "s3";
  method: string;
  path: string;
  status: number;
  /** `ok` or the AWS error code answered. */
  outcome: string;
  /** Whose access key and token signed it: the real ones, other ones, or none. */
  credential: "real" | "other" | "none";
  signature: "valid" | "invalid" | "none";
  /** x-amz-content-sha256 as sent ("hex" for a hash); null when absent. */
  payload: string | null;
  /** The hex hash was checked against the body (S3 refuses a mismatch). */
  payloadHashChecked?: boolean;
  /** Chunk signatures checked (signed aws-chunked). */
  chunksChecked?: number;
  /** x-amz-checksum-* names verified (header or trailer), and where. */
  checksums?: string[];
  trailer?: boolean;
  bytesReceived: number;
  /** The object as S3 stores it: decoded length and sha256. */
  objectBytes?: number;
  objectSha256?: string;
  userAgent: string | null;
}

export interface AwsTlsStandIn {
  host: string;
  port: number;
  url: string;
  /** The CA that signed the stand-in's certificate (for the proxy's upstreamCa), and its file. */
  caCert: string;
  caFile: string;
  seen: StandInRequest[];
  close(): Promise<void>;
}

const MAX_BODY = 80 * 1024 * 1024;
export const STAND_IN_ACCOUNT = "123456789012";
export const STAND_IN_ARN = `arn:aws:sts::${STAND_IN_ACCOUNT}:assumed-role/broker-session/broker`;

class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) return void req.destroy(new Error("too large"));
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks, size)));
    req.on("error", reject);
  });
}

/** The SigV4 checks both services make: the real key and token, and the signature (by `verify`). */
function authenticate(headers: Map<string, string>, real: Creds, record: StandInRequest, verify: (auth: NonNullable<ReturnType<typeof parseAuthorization>>) => string) {
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

function sts(wire: WireRequest, headers: Map<string, string>, real: Creds, record: StandInRequest, res: ServerResponse): void {
  authenticate(headers, real, record, (auth) => expectedSignature(wire, auth, headers.get("x-amz-date") ?? "", real.secretAccessKey));
  const action = queryParams(wire.url, headers.get("content-type"), wire.body).get("Action");
  if (action !== "GetCallerIdentity") throw new AwsError(400, "InvalidAction", "Only GetCallerIdentity is served here.");
  const xml = successXml("GetCallerIdentity", { UserId: "AROAEXAMPLEROLEID0001:broker", Account: STAND_IN_ACCOUNT, Arn: STAND_IN_ARN }, randomUUID());
  res.writeHead(200, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() }).end(xml);
}

function s3(wire: WireRequest, headers: Map<string, string>, real: Creds, record: StandInRequest, res: ServerResponse): void {
  if (wire.method !== "PUT" || !/^\/[^/?]+\/[^?]+$/.test(wire.url)) throw new AwsError(405, "MethodNotAllowed", "Only PUT /bucket/key is served here.");
  const declared = headers.get("x-amz-content-sha256");
  if (!declared) throw new AwsError(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  record.payload = /^[0-9a-f]{64}$/.test(declared) ? "hex" : declared;
  const auth = authenticate(headers, real, record, (a) =>
    s3Signature(wire, { signedHeaders: a.signedHeaders, amzDate: headers.get("x-amz-date") ?? "", scope: [a.date, a.region, a.service], payloadHash: declared, omitSignature: false }, real.secretAccessKey),
  );
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
      const chain = { secret: real.secretAccessKey, amzDate: headers.get("x-amz-date") ?? "", region: auth.region, seed: auth.signature };
      if (!chunkChainValid(decoded, chain)) throw new AwsError(403, "SignatureDoesNotMatch", "A chunk signature does not match.");
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
  record.objectBytes = data.length;
  record.objectSha256 = createHash("sha256").update(data).digest("hex");
  const etag = `"${createHash("md5").update(data).digest("hex")}"`;
  res.writeHead(200, { etag, "x-amz-request-id": randomUUID().slice(0, 16), "content-length": 0 }).end();
}

function errorBody(service: "sts" | "s3", error: AwsError): string {
  const inner = `<Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message>`;
  return service === "sts"
    ? `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>${inner}</Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>\n`
    : `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${inner}<RequestId>${randomUUID().slice(0, 16)}</RequestId></Error>\n`;
}

/** Starts the stand-in; its certificate (IP SAN `host`) is signed by a fresh openssl CA in `dir`. */
export async function startAwsTlsStandIn(options: { dir: string; real: () => Creds; host?: string }): Promise<AwsTlsStandIn> {
  const host = options.host ?? "127.0.0.2";
  const ca = makeTestCa(options.dir, { ip: [host] });
  const seen: StandInRequest[] = [];
  const server: Server = createServer(ca.server, (req, res) => {
    const headers = headerMap(req.rawHeaders);
    const path = req.url ?? "/";
    const service = path === "/" || path.startsWith("/?") ? "sts" : "s3";
    const record: StandInRequest = { service, method: req.method ?? "", path: path.split("?")[0]!, status: 0, outcome: "", credential: "none", signature: "none", payload: null, bytesReceived: 0, userAgent: headers.get("user-agent") ?? null };
    seen.push(record);
    readBody(req).then(
      (body) => {
        record.bytesReceived = body.length;
        const wire: WireRequest = { method: req.method ?? "", url: path, rawHeaders: req.rawHeaders, body };
        try {
          (service === "sts" ? sts : s3)(wire, headers, options.real(), record, res);
          record.outcome = "ok";
        } catch (error) {
          const e = error instanceof AwsError ? error : new AwsError(500, "InternalError", "stand-in failure");
          record.outcome = e.code;
          res.writeHead(e.status, { "content-type": service === "sts" ? "text/xml" : "application/xml" }).end(errorBody(service, e));
        }
        record.status = res.statusCode;
      },
      () => {
        record.outcome = "read-failed";
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  const caFile = join(options.dir, "stand-in-ca.pem");
  writeFileSync(caFile, ca.cert);
  return {
    host,
    port,
    url: `https://${host}:${port}`,
    caCert: ca.cert,
    caFile,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
