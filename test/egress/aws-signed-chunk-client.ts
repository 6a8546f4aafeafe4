/**
 * A client for the one payload mode awscli and boto3 never send, signed aws-chunked
 * (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, what the Java and Go SDKs send over plain HTTP or when
 * told to sign payloads): headers signed by @smithy/signature-v4, chunks chained from that
 * signature, sent through the proxy as a box would (CONNECT, then TLS trusting the session CA).
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { chunkedBody, smithySigner, type Creds } from "./aws-sigv4-check.js";

function connectThrough(proxyPort: number, authority: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port: proxyPort, method: "CONNECT", path: authority, headers: { host: authority } });
    req.on("connect", (res, socket) => (res.statusCode === 200 ? resolve(socket) : reject(new Error(`CONNECT ${res.statusCode}`))));
    req.on("error", reject);
    req.end();
  });
}

/** Through the proxy on `proxyPort`, or straight to the target when it is absent; `tamper` flips a byte of the first chunk's data. */
export async function signedChunkPut(p: {
  proxyPort?: number;
  tamper?: boolean;
  target: { host: string; port: number };
  ca: string;
  creds: Creds;
  path: string;
  file: string;
  chunkBytes: number;
}): Promise<{ status: number; body: string }> {
  const data = readFileSync(p.file);
  const authority = `${p.target.host}:${p.target.port}`;
  const unsigned = {
    host: authority,
    "content-encoding": "aws-chunked",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "x-amz-decoded-content-length": String(data.length),
  };
  const signed = await smithySigner(p.creds, "s3").sign({ method: "PUT", protocol: "https:", hostname: p.target.host, port: p.target.port, path: p.path, query: {}, headers: unsigned });
  const headers = signed.headers as Record<string, string>;
  const seed = /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!;
  const body = chunkedBody(data, p.chunkBytes, { secret: p.creds.secretAccessKey, amzDate: headers["x-amz-date"]!, region: "us-east-1", seed });
  const flip = body.indexOf("\r\n") + 10;
  if (p.tamper) body[flip] = body[flip]! ^ 1;
  const socket = p.proxyPort === undefined ? undefined : await connectThrough(p.proxyPort, authority);
  const ca = readFileSync(p.ca, "utf8");
  const tls = socket ? tlsConnect({ socket, host: p.target.host, ca, servername: "" }) : tlsConnect({ host: p.target.host, port: p.target.port, ca, servername: "" });
  await new Promise<void>((resolve, reject) => tls.once("secureConnect", resolve).once("error", reject));
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ createConnection: () => tls, method: "PUT", path: p.path, headers: { ...headers, "content-length": String(body.length) } }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => {
        tls.destroy();
        resolve({ status: res.statusCode ?? 0, body: text });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
