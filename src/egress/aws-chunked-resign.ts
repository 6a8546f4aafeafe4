/**
 * Re-signs an aws-chunked body (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: each chunk is
 * `hex-size;chunk-signature=SIG\r\n DATA \r\n`, each SIG chained from the one before, the first from
 * the request's signature). Each chunk is checked against the box's placeholder chain and sent on
 * with the real chain; chunk sizes are kept, so Content-Length and the decoded length still hold.
 */
import { Transform } from "node:stream";
import { LeakError } from "./inject-types.js";
import { needleScanner } from "./aws-body-guard.js";
import type { SigV4Scope } from "./sigv4-parse.js";
import { EMPTY_SHA256, sameSecret, scopeString, sha256Hex, signString, signingKey } from "./sigv4-verify.js";

/** A chunk whose signature does not continue the box's chain, or a body that is not aws-chunked. */
export class ChunkSignatureError extends Error {
  readonly code = "ERR_CHUNK_SIGNATURE";
}

export interface ChunkChain {
  secretAccessKey: string;
  scope: SigV4Scope;
  amzDate: string;
  /** The request's own signature: the first chunk chains from it. */
  seed: string;
}

/** Signs one chunk after `previous`: the chain AWS verifies. */
function chunkSigner(chain: ChunkChain): (data: Buffer) => string {
  const key = signingKey(chain.secretAccessKey, chain.scope);
  const prefix = `AWS4-HMAC-SHA256-PAYLOAD\n${chain.amzDate}\n${scopeString(chain.scope)}\n`;
  let previous = chain.seed;
  return (data) => {
    previous = signString(key, `${prefix}${previous}\n${EMPTY_SHA256}\n${sha256Hex(data)}`);
    return previous;
  };
}

const HEAD = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/;
const MAX_HEAD = 256;

export interface ChunkedOptions {
  client: ChunkChain;
  real: ChunkChain;
  /** The largest chunk held while its signature is checked (SDKs send 64 KiB to 1 MiB). */
  maxChunkBytes: number;
  needles: Buffer[];
  credential: string;
}

export function resignChunks(options: ChunkedOptions): Transform {
  const expected = chunkSigner(options.client);
  const resign = chunkSigner(options.real);
  const found = needleScanner(options.needles);
  let pieces: Buffer[] = [];
  let held = 0;
  let head: { sizeText: string; size: number; signature: string } | null = null;
  let finished = false;

  const take = (n: number): Buffer => {
    const all = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, held);
    pieces = n < all.length ? [all.subarray(n)] : [];
    held -= n;
    return all.subarray(0, n);
  };
  const peek = (): Buffer => (pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, held));

  /** Emits every complete chunk now held; an error string on the first fault. */
  function drain(push: (b: Buffer) => void): Error | null {
    for (;;) {
      if (finished) return held > 0 ? new ChunkSignatureError("data after the final aws-chunked chunk") : null;
      if (head === null) {
        const at = peek().subarray(0, MAX_HEAD + 2).indexOf("\r\n");
        if (at < 0) return held > MAX_HEAD ? new ChunkSignatureError("an aws-chunked chunk header is malformed") : null;
        const match = HEAD.exec(take(at + 2).subarray(0, at).toString("latin1"));
        if (!match) return new ChunkSignatureError("an aws-chunked chunk header is malformed");
        const size = parseInt(match[1]!, 16);
        if (size > options.maxChunkBytes) return new ChunkSignatureError("an aws-chunked chunk is larger than the broker holds");
        head = { sizeText: match[1]!, size, signature: match[2]! };
      }
      if (held < head.size + 2) return null;
      const framed = take(head.size + 2);
      const data = framed.subarray(0, head.size);
      if (framed[head.size] !== 0x0d || framed[head.size + 1] !== 0x0a) {
        return new ChunkSignatureError("an aws-chunked chunk is not terminated by CRLF");
      }
      if (!sameSecret(expected(data), head.signature)) {
        return new ChunkSignatureError("an aws-chunked chunk signature does not verify against the session's credentials");
      }
      if (found(data)) return new LeakError(options.credential, "body");
      push(Buffer.from(`${head.sizeText};chunk-signature=${resign(data)}\r\n`, "latin1"));
      push(framed);
      finished = head.size === 0;
      head = null;
    }
  }

  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pieces.push(chunk);
      held += chunk.length;
      const fault = drain((b) => this.push(b));
      done(fault ?? undefined);
    },
    flush(done) {
      done(finished && held === 0 ? undefined : new ChunkSignatureError("the aws-chunked body ended before its final chunk"));
    },
  });
}
