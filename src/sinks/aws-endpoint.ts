/**
 * `broker run --aws-endpoint`: the session's AWS credentials served as an AWS container-credentials
 * endpoint (what AWS SDKs and the CLI read through AWS_CONTAINER_CREDENTIALS_FULL_URI and
 * AWS_CONTAINER_AUTHORIZATION_TOKEN), so long-running commands refresh by themselves.
 * Runs in the CLI process: node:http and node:crypto only.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { AwsCredentials } from "../providers/provider.js";

export interface AwsEndpoint {
  /** For AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:<port>/<random path>`. */
  url: string;
  /** For AWS_CONTAINER_AUTHORIZATION_TOKEN; the SDKs send it verbatim as `Authorization`. */
  token: string;
  close(): Promise<void>;
}

/** Returns the session's current credentials, or null once the session has ended. */
export type FetchAwsCredentials = () => Promise<AwsCredentials | null>;

const digest = (value: string) => createHash("sha256").update(value).digest();

/** Constant-time, whatever the lengths: compares digests, not the strings. */
function tokenMatches(presented: string | undefined, token: string): boolean {
  return presented !== undefined && timingSafeEqual(digest(presented), digest(token));
}

/** Only names a loopback address may go by: a page reaching us through DNS rebinding carries its own host name. */
function isLoopbackHost(host: string | undefined, port: number): boolean {
  return host !== undefined && [`127.0.0.1:${port}`, `localhost:${port}`, "127.0.0.1", "localhost"].includes(host.toLowerCase());
}

function send(res: ServerResponse, status: number, body: Record<string, string>, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** The shape fromHttp / fromContainerMetadata (JS), botocore's ContainerProvider and the other SDKs parse. */
function containerCredentials(c: AwsCredentials): Record<string, string> {
  return {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey,
    Token: c.sessionToken,
    // RFC 3339 in UTC, whole seconds, as ECS serves it.
    Expiration: new Date(c.expiration).toISOString().replace(/\.\d{3}Z$/, "Z"),
  };
}

/**
 * In a box, the endpoint listens on a Unix socket that the box's bridge serves at
 * 127.0.0.1:`port` inside; `url` and the Host check then use that port.
 */
export interface BoxedListen {
  socketPath: string;
  port: number;
}

export async function startAwsEndpoint(fetchCredentials: FetchAwsCredentials, boxed?: BoxedListen): Promise<AwsEndpoint> {
  const token = randomBytes(32).toString("base64url");
  const path = `/aws-credentials/${randomBytes(16).toString("hex")}`;
  let port = 0;

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!isLoopbackHost(req.headers.host, port)) return send(res, 403, { Code: "Forbidden", Message: "unexpected Host header" });
    if (!tokenMatches(req.headers.authorization, token)) {
      return send(res, 401, { Code: "Unauthorized", Message: "missing or wrong authorization token" });
    }
    if (req.method !== "GET") return send(res, 405, { Code: "MethodNotAllowed", Message: "only GET" }, { Allow: "GET" });
    if ((req.url ?? "").split("?")[0] !== path) return send(res, 404, { Code: "NotFound", Message: "no such path" });
    let credentials: AwsCredentials | null;
    try {
      credentials = await fetchCredentials();
    } catch (error) {
      // BrokerError messages are secret-free by design; anything else is not repeated.
      const code = (error as { code?: unknown }).code;
      const known = typeof code === "string" && code.startsWith("ERR_");
      return send(res, 500, {
        Code: known ? code : "InternalError",
        Message: known ? String((error as Error).message) : "could not get the session's credentials",
      });
    }
    if (credentials === null) return send(res, 404, { Code: "SessionEnded", Message: "the broker session has ended" });
    send(res, 200, containerCredentials(credentials));
  }

  const server = createServer((req, res) => {
    // Nothing is read from a body; drain it so the connection stays usable.
    req.resume();
    answer(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { Code: "InternalError", Message: "internal error" });
      else res.destroy();
    });
  });
  // A client that connects and stalls must not pin the endpoint.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const previous = boxed ? process.umask(0o177) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      const listening = () => {
        server.off("error", reject);
        resolve();
      };
      if (boxed) server.listen(boxed.socketPath, listening);
      else server.listen(0, "127.0.0.1", listening);
    });
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
  port = boxed ? boxed.port : (server.address() as AddressInfo).port;

  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    token,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
