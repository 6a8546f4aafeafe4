/**
 * What a re-signed AWS request's body passes through on its way upstream: a scan for the
 * placeholders (a value split across chunks is still found) and, when the box signed a hex
 * payload hash, a check that the body is the one it signed. Either failing errors the stream,
 * so the upstream request is aborted rather than completed with a body nobody signed.
 */
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import { LeakError } from "./inject-types.js";

/** The body did not hash to the signed x-amz-content-sha256. */
export class PayloadHashMismatch extends Error {
  readonly code = "ERR_PAYLOAD_HASH";
  constructor() {
    super("the request body does not match its signed x-amz-content-sha256");
  }
}

/** Finds needles across chunk boundaries by keeping the last (longest needle - 1) bytes seen. */
export function needleScanner(needles: Buffer[]): (chunk: Buffer) => boolean {
  const overlap = Math.max(0, ...needles.map((n) => n.length)) - 1;
  let tail = Buffer.alloc(0);
  return (chunk) => {
    if (needles.length === 0) return false;
    const seam = tail.length > 0 ? Buffer.concat([tail, chunk.subarray(0, overlap)]) : null;
    const found = needles.some((needle) => chunk.indexOf(needle) >= 0 || (seam !== null && seam.indexOf(needle) >= 0));
    const recent = chunk.length >= overlap ? chunk : Buffer.concat([tail, chunk]);
    tail = Buffer.from(recent.subarray(Math.max(0, recent.length - overlap)));
    return found;
  };
}

export interface GuardOptions {
  needles: Buffer[];
  /** Which credential's placeholder a find is reported as. */
  credential: string;
  /** The hex sha256 the box signed, checked when the body ends. */
  expectSha256?: string;
}

export function bodyGuard(options: GuardOptions): Transform {
  const found = needleScanner(options.needles);
  const hash = options.expectSha256 === undefined ? null : createHash("sha256");
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (found(chunk)) return done(new LeakError(options.credential, "body"));
      hash?.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if (hash && hash.digest("hex") !== options.expectSha256) return done(new PayloadHashMismatch());
      done();
    },
  });
}

/** The body piped through `guard`; an error on either side errors what the proxy reads. */
export function guarded(body: Readable, guard: Transform): Readable {
  body.on("error", (error) => guard.destroy(error));
  return body.pipe(guard);
}

/** Reads a whole body up to `limit` bytes; "too-large" (and stops reading) past it. */
export function readBounded(body: Readable, limit: number): Promise<Buffer | "too-large"> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.off("data", onData);
        body.pause();
        resolve("too-large");
        return;
      }
      chunks.push(chunk);
    };
    body.on("data", onData);
    body.once("end", () => resolve(Buffer.concat(chunks, size)));
    body.once("error", reject);
  });
}
