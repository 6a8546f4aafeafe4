/**
 * A wire-level stand-in for AWS STS on 127.0.0.1: the Query protocol (form-encoded POST or GET,
 * `Action`, `Version=2011-06-15`, XML answers) that both @aws-sdk/client-sts v3 (awsQuery) and
 * the AWS CLI send, SigV4 verified like the real service, STS's own validation and error
 * codes, and injectable faults. Tests assert on `calls`, what the stub saw.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { StsAccount, type StubRole } from "./sts-account.js";
import { authenticate } from "./sts-auth.js";
import { readParams, STS_ACTIONS, validateParams, type StsAction, type StsParams } from "./sts-params.js";
import { headerMap, parseAuthorization, type WireRequest } from "./sts-sigv4.js";
import { errorXml, newRequestId, queryParams, sender, STS_VERSION, StsError, successXml } from "./sts-wire.js";

export type { StubRole } from "./sts-account.js";
export type { StsAction, StsParams, StsTag } from "./sts-params.js";

export interface StsStubOptions {
  /** Loopback address to listen on (default 127.0.0.1; 127.0.0.2 for clients in a box, via its proxy). */
  listenHost?: string;
  /** Serve HTTPS with this key and certificate (a test CA's: see test/helpers/test-ca.ts) instead of HTTP. */
  tls?: { key: string; cert: string };
  /** Lifetime of every issued credential in seconds, whatever DurationSeconds asked (refresh/expiry tests). */
  credentialLifetimeSeconds?: number;
  /** When set, the only region accepted in a signature's scope; otherwise any. */
  region?: string;
  /** Account of the IAM users added with addRootKey. Default 123456789012. */
  accountId?: string;
  /** When set, the only roles AssumeRole may assume (others: AccessDenied). */
  roles?: Record<string, StubRole>;
  /** The stub's clock (signature window, expiry, Date header). Default Date.now. */
  now?: () => number;
  /**
   * Requests for another service on the same host (a path other than `/`, e.g. path-style S3),
   * handed over unread with a lookup of the credentials the stub issued: a box's client then
   * reaches both through the one endpoint its proxy intercepts.
   */
  otherService?: (req: IncomingMessage, res: ServerResponse, issued: (accessKeyId: string) => IssuedCredentials | undefined) => void;
}

/** Credentials as the stub issued them (temporary) or was given them (long-term: no token). */
export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** `throttle`: 400 Throttling; `500`: InternalFailure; `hang`: never answers; `garbage`: 200 non-XML; `drop`: socket destroyed. */
export type StsFaultKind = "throttle" | "500" | "hang" | "garbage" | "drop";
/** Any STS error, answered as STS would (e.g. RegionDisabledException, 403). */
export interface StsErrorFault {
  status: number;
  code: string;
  message: string;
}

export interface StsCall {
  time: number;
  method: string;
  /** `Action` as sent (null when absent). */
  action: string | null;
  params: StsParams;
  /** From the Authorization header, whether or not it verified. */
  accessKeyId: string | null;
  region: string | null;
  userAgent: string | null;
  /** HTTP status answered; 0 when the stub hung or dropped the connection. */
  status: number;
  /** `ok`, the STS error code answered, or `fault:<kind>`. */
  outcome: string;
  /** Sent as x-amzn-RequestId and in the body, as STS does. */
  requestId: string;
}

export interface StsStub {
  url: string;
  calls: StsCall[];
  addRootKey(accessKeyId: string, secretAccessKey: string, options?: { userName?: string }): void;
  /** Fault the next `times` calls (default 1; Infinity for all), optionally only calls of `action`. */
  fault(kind: StsFaultKind | StsErrorFault, options?: { times?: number; action?: StsAction }): void;
  clearFaults(): void;
  setCredentialLifetime(seconds: number | undefined): void;
  /** The credentials behind an access key id the stub issued or was given, while valid. */
  issued(accessKeyId: string): IssuedCredentials | undefined;
  close(): Promise<void>;
}

interface PendingFault {
  kind: StsFaultKind | StsErrorFault;
  remaining: number;
  action: StsAction | undefined;
}

const MAX_BODY = 1024 * 1024;
const INTERNAL_FAILURE = "The request processing has failed because of an unknown error, exception or failure.";

export async function startStsStub(options: StsStubOptions = {}): Promise<StsStub> {
  const now = options.now ?? Date.now;
  let lifetime = options.credentialLifetimeSeconds;
  const account = new StsAccount({
    accountId: options.accountId ?? "123456789012",
    roles: options.roles,
    now,
    lifetimeSeconds: () => lifetime,
  });
  const calls: StsCall[] = [];
  const faults: PendingFault[] = [];

  function takeFault(action: string | null): PendingFault["kind"] | null {
    const index = faults.findIndex((f) => f.action === undefined || f.action === action);
    const fault = faults[index];
    if (!fault) return null;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults.splice(index, 1);
    return fault.kind;
  }

  function respond(res: ServerResponse, call: StsCall, status: number, body: string, contentType = "text/xml"): void {
    call.status = status;
    res.writeHead(status, {
      "Content-Type": contentType,
      "Content-Length": Buffer.byteLength(body),
      "x-amzn-RequestId": call.requestId,
      // From the stub's clock, so an SDK can correct its clock skew as it does against AWS.
      Date: new Date(now()).toUTCString(),
    });
    res.end(body);
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const wire: WireRequest = { method: req.method ?? "GET", url: req.url ?? "/", rawHeaders: req.rawHeaders, body };
    const headers = headerMap(req.rawHeaders);
    const auth = parseAuthorization(headers.get("authorization") ?? "");
    const params = queryParams(wire.url, headers.get("content-type"), body);
    const action = params.get("Action") ?? null;
    const call: StsCall = {
      time: now(),
      method: wire.method,
      action,
      params: {},
      accessKeyId: auth?.accessKeyId ?? null,
      region: auth?.region ?? null,
      userAgent: headers.get("user-agent") ?? null,
      status: 0,
      outcome: "ok",
      requestId: newRequestId(),
    };
    calls.push(call);
    const requestId = call.requestId;
    const fault = takeFault(action);
    if (fault !== null) {
      call.outcome = typeof fault === "string" ? `fault:${fault}` : fault.code;
      if (fault === "hang") return;
      if (fault === "drop") return void req.socket.destroy();
      if (fault === "garbage") return respond(res, call, 200, "upstream connect error or disconnect/reset before headers", "text/plain");
      const error =
        fault === "throttle" ? new StsError(400, "Throttling", "Rate exceeded")
        : fault === "500" ? new StsError(500, "InternalFailure", INTERNAL_FAILURE)
        : new StsError(fault.status, fault.code, fault.message);
      return respond(res, call, error.status, errorXml(error, requestId));
    }
    try {
      if (headers.has("x-amz-target")) {
        throw sender("UnknownOperationException", "sts-stub speaks the awsQuery protocol only, not awsJson (X-Amz-Target)");
      }
      if (action === null) throw sender("MissingAction", "Missing Action");
      if (!(STS_ACTIONS as readonly string[]).includes(action) || params.get("Version") !== STS_VERSION) {
        const version = params.get("Version") ?? "NO_VERSION_SPECIFIED";
        throw sender("InvalidAction", `Could not find operation ${action} for version ${version}`);
      }
      const stsAction = action as StsAction;
      call.params = readParams(params);
      const principal = authenticate(wire, headers, auth, { keys: account.keys, now: now(), region: options.region });
      validateParams(stsAction, call.params);
      const result = account.handle(stsAction, call.params, principal);
      respond(res, call, 200, successXml(stsAction, result, requestId));
    } catch (error) {
      if (!(error instanceof StsError)) throw error;
      call.outcome = error.code;
      respond(res, call, error.status, errorXml(error, requestId));
    }
  }

  const issued = (accessKeyId: string): IssuedCredentials | undefined => {
    const principal = account.keys.get(accessKeyId);
    if (!principal || (principal.expiresAt !== undefined && now() >= principal.expiresAt)) return undefined;
    return { accessKeyId, secretAccessKey: principal.secretAccessKey, ...(principal.sessionToken !== undefined ? { sessionToken: principal.sessionToken } : {}) };
  };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?")[0];
    if (options.otherService && path !== "/") return options.otherService(req, res, issued);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.socket.destroy();
      else chunks.push(chunk);
    });
    req.on("end", () => handle(req, res, Buffer.concat(chunks)));
  };
  const server = options.tls ? createHttpsServer(options.tls, listener) : createHttpServer(listener);
  const address = options.listenHost ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls ? "https" : "http"}://${address}:${port}`,
    calls,
    addRootKey(accessKeyId, secretAccessKey, keyOptions = {}) {
      account.addUserKey(accessKeyId, secretAccessKey, keyOptions.userName ?? "broker-test");
    },
    fault(kind, faultOptions = {}) {
      faults.push({ kind, remaining: faultOptions.times ?? 1, action: faultOptions.action });
    },
    clearFaults() {
      faults.length = 0;
    },
    setCredentialLifetime(seconds) {
      lifetime = seconds;
    },
    issued,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hung requests and keep-alive sockets would otherwise hold close() open.
        server.closeAllConnections();
      });
    },
  };
}
