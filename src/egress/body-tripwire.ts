/**
 * Scans a request body as it streams upstream for a session's placeholders and real values.
 * A needle may straddle two chunks, so the bytes at a chunk's end that could begin one are held
 * back until the next chunk shows whether it does: nothing of a needle reaches upstream. A hit
 * ends the stream with a LeakError, which the proxy turns into a refused request and a leak.
 */
import { Transform } from "node:stream";
import { LeakError } from "./inject-types.js";
import type { Needle } from "./needles.js";

interface BinaryNeedle {
  credential: string;
  bytes: Buffer;
  real: boolean;
}

/** How many bytes at the end of `data` are a proper prefix of some needle (and so must wait). */
function pendingTail(data: Buffer, needles: readonly BinaryNeedle[], longest: number): number {
  const from = Math.max(0, data.length - (longest - 1));
  for (let start = from; start < data.length; start++) {
    const size = data.length - start;
    if (needles.some((n) => n.bytes.length > size && n.bytes[0] === data[start] && data.compare(n.bytes, 0, size, start) === 0)) return size;
  }
  return 0;
}

export function bodyTripwire(needles: readonly Needle[]): Transform {
  const binary: BinaryNeedle[] = needles.map((n) => ({ credential: n.credential, bytes: Buffer.from(n.text, "utf8"), real: n.real }));
  const longest = Math.max(1, ...binary.map((n) => n.bytes.length));
  let held = Buffer.alloc(0);
  let failed = false;
  const hit = (data: Buffer): BinaryNeedle | undefined => {
    let found: BinaryNeedle | undefined;
    for (const needle of binary) {
      if (data.indexOf(needle.bytes) < 0) continue;
      if (needle.real) return needle;
      found ??= needle;
    }
    return found;
  };
  return new Transform({
    transform(chunk: Buffer | string, _encoding, done) {
      if (failed) return done();
      const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      const data = held.length === 0 ? bytes : Buffer.concat([held, bytes]);
      const needle = hit(data);
      if (needle) {
        failed = true;
        return done(new LeakError(needle.credential, "body"));
      }
      const wait = pendingTail(data, binary, longest);
      held = Buffer.from(data.subarray(data.length - wait));
      done(null, wait === data.length ? undefined : data.subarray(0, data.length - wait));
    },
    flush(done) {
      done(null, held.length > 0 ? held : undefined);
    },
  });
}
