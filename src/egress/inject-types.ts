/**
 * The seam between the egress proxy's TLS interception (which terminates a box's TLS for hosts
 * with an injection rule and forwards each request upstream) and the injection rules (which put
 * the real credential where the placeholder was, or refuse the request as a leak).
 */
import type { Readable } from "node:stream";

/** One request the box sent to an intercepted host, as it arrived (header names lower case). */
export interface InterceptedRequest {
  method: string;
  /** The CONNECT host (normalised) and port; the TLS SNI already matched it. */
  host: string;
  port: number;
  /** Path and query exactly as sent (`/repo.git/info/refs?service=git-upload-pack`). */
  path: string;
  headers: Record<string, string | string[]>;
  /** The request body as it streams in (empty for GET). */
  body: Readable;
  /** "h2" or "http/1.1": what the box negotiated. */
  protocol: "h2" | "http/1.1";
}

/** What an intercepted request becomes: sent upstream as this, or refused. */
export type InterceptOutcome =
  | {
      ok: true;
      method: string;
      path: string;
      headers: Record<string, string | string[]>;
      /** What to send upstream as the body (a transform of the request's body, or the body itself). */
      body: Readable;
      /** For the audit line: the rule applied ("github", "aws", "env:OPENAI_API_KEY") or null, and the real credential's fingerprint. */
      rule: string | null;
      fingerprint?: string;
    }
  | {
      ok: false;
      status: number;
      /** Plain text for the box; never a value, placeholder included. */
      message: string;
      /** Set when the refusal is a tripwire: which credential's placeholder, and where it was seen. */
      leak?: { credential: string; where: "host" | "path" | "query" | "header" | "body" };
    };

/** Decides one intercepted request. A body leak found later is reported by the body stream erroring with a LeakError. */
export type InterceptHandler = (request: InterceptedRequest) => Promise<InterceptOutcome>;

/** Thrown (as a stream error) by a body transform that found a placeholder where it does not belong. */
export class LeakError extends Error {
  constructor(
    readonly credential: string,
    readonly where: "body",
  ) {
    super(`a ${credential} placeholder in the request body`);
  }
}

/** A session's injection: which hosts are terminated, and the handler for their requests. */
export interface Injection {
  /** Whether TLS to host:port is terminated (a rule's host); every other allowed host stays a tunnel. */
  intercepts(host: string, port: number): boolean;
  handle: InterceptHandler;
  /** Called once per leak (audit `leak`, stderr of broker run, and with on_leak: end the session's end). */
  onLeak(leak: { credential: string; where: string; host: string }): void;
}
