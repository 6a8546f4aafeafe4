/**
 * A TLS stand-in for AWS on 127.0.0.2, for real clients (awscli, boto3, curl) reaching it through
 * the intercepting egress proxy: STS `GetCallerIdentity` (Query protocol, XML as STS answers) and
 * path-style S3 (PutObject, multipart upload, GetObject/HeadObject, presigned GET). Both verify
 * SigV4 as AWS does, against the REAL credentials only (access key, secret, session token), so a
 * request the broker did not re-sign is refused 403. Upload bodies are read in every payload mode
 * S3 takes (hex hash, UNSIGNED-PAYLOAD, aws-chunked with a trailing checksum, signed aws-chunked),
 * and each request is recorded without a value.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { makeTestCa } from "../helpers/test-ca.js";
import { expectedSignature, headerMap, type WireRequest } from "../stubs/sts-sigv4.js";
import { escapeXml, queryParams, successXml } from "../stubs/sts-wire.js";
import type { Creds } from "./aws-sigv4-check.js";
import { s3Request, type S3Store } from "./aws-s3-stand-in.js";
import { authenticate, AwsError } from "./aws-stand-in-auth.js";

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
  /** Signed in the query (a presigned URL), not in the Authorization header. */
  presigned?: true;
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
  /** PutObject, CreateMultipartUpload, UploadPart, CompleteMultipartUpload (S3); GetCallerIdentity (STS). */
  operation?: string;
  /** The object as S3 stores it (a part's for UploadPart, the whole object's for the Complete): decoded length and sha256. */
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

function sts(wire: WireRequest, headers: Map<string, string>, real: Creds, record: StandInRequest, res: ServerResponse): void {
  authenticate(headers, real, record, (auth) => expectedSignature(wire, auth, headers.get("x-amz-date") ?? "", real.secretAccessKey));
  const action = queryParams(wire.url, headers.get("content-type"), wire.body).get("Action");
  if (action) record.operation = action;
  if (action !== "GetCallerIdentity") throw new AwsError(400, "InvalidAction", "Only GetCallerIdentity is served here.");
  const xml = successXml("GetCallerIdentity", { UserId: "AROAEXAMPLEROLEID0001:broker", Account: STAND_IN_ACCOUNT, Arn: STAND_IN_ARN }, randomUUID());
  res.writeHead(200, { "content-type": "text/xml", "x-amzn-requestid": randomUUID() }).end(xml);
}

function errorBody(service: "sts" | "s3", error: AwsError): string {
  const inner = `<Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message>`;
  return service === "sts"
    ? `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>${inner}</Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>\n`
    : `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${inner}<RequestId>${randomUUID().slice(0, 16)}</RequestId></Error>\n`;
}

/** One request as the stand-in serves it (STS at `/`, S3 elsewhere), checked against `real()`: the server below, or another one's hook. */
export function serveAwsRequest(req: IncomingMessage, res: ServerResponse, real: () => Creds, store: S3Store, seen: StandInRequest[]): void {
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
        if (service === "sts") sts(wire, headers, real(), record, res);
        else s3Request(store, wire, headers, real(), record, res);
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
}

/** An empty object store for serveAwsRequest. */
export const newS3Store = (): S3Store => ({ uploads: new Map(), objects: new Map() });

/** Starts the stand-in; its certificate (IP SAN `host`) is signed by a fresh openssl CA in `dir`. */
export async function startAwsTlsStandIn(options: { dir: string; real: () => Creds; host?: string }): Promise<AwsTlsStandIn> {
  const host = options.host ?? "127.0.0.2";
  const ca = makeTestCa(options.dir, { ip: [host] });
  const seen: StandInRequest[] = [];
  const store = newS3Store();
  const server: Server = createServer(ca.server, (req, res) => serveAwsRequest(req, res, options.real, store, seen));
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
