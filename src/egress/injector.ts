/**
 * The seam between the egress proxy and credential injection. The proxy terminates TLS only for
 * hosts the injector `intercepts`; for each request it reads there (HTTP/1.1, h2, or a WebSocket
 * upgrade) it asks `rewrite` what to send upstream: the same head with the placeholder replaced by
 * the real credential (or re-signed, for AWS), or a refusal it answers with and never forwards.
 * The proxy adds nothing of its own to a rewritten head, so a signature made here stays valid.
 */

export interface OutboundHead {
  method: string;
  /** The CONNECT host (lowercase, no trailing dot), which the TLS SNI was checked against. */
  host: string;
  port: number;
  /** Origin-form path with its query, as the client sent it. */
  path: string;
  /** Header pairs in the client's order, names lowercase; h2 pseudo-headers are not among them. */
  headers: Array<[string, string]>;
  protocol: "http/1.1" | "h2";
}

/** Transforms (or only scans) a request body on its way upstream; throws an `InjectionRefusal` to abort it. */
export type BodyTransform = (body: AsyncIterable<Buffer>) => AsyncIterable<Buffer>;

export type Verdict =
  | { ok: true; head: OutboundHead; body?: BodyTransform; rule: string; credential?: string }
  | { ok: false; status: number; code: string; message: string };

export interface Injector {
  /** True when requests to host:port must be read (TLS terminated with the session's CA). */
  intercepts(host: string, port: number): boolean;
  rewrite(head: OutboundHead): Promise<Verdict>;
}

/** Thrown from a body transform: the upstream request is aborted and the client answered `status`. */
export class InjectionRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "InjectionRefusal";
  }
}
