/**
 * Streaming masker for `broker run`: replaces every credential value in CMD's output by
 * `<concealed by broker>`, also when a value is split across chunks. Works on bytes so that
 * binary and UTF-8 output passes byte-exact.
 *
 * Semantics (the same whatever the chunking): scanning left to right, at each position the
 * longest secret that starts there is replaced and scanning resumes after it.
 *
 * Speed: the scan skips ahead like Wu-Manber. The two bytes that would end the shortest secret's
 * span from a position say how many positions cannot start any secret, so long secrets in
 * ordinary output cost a lookup every few dozen bytes instead of every byte.
 */
import { Transform } from "node:stream";

export const MASK = "<concealed by broker>";
const MASK_BYTES = Buffer.from(MASK);

/**
 * Shorter values are ignored: masking e.g. "us" or "1" would garble ordinary output and, by the
 * pattern of what got masked, say more than it hides; real credentials are far longer.
 * (An empty value would also match at every position.)
 */
export const MIN_SECRET_LENGTH = 4;

export interface Masker {
  /** Masks what can be decided now; holds back only a tail that could start a secret. */
  push(chunk: Uint8Array): Buffer;
  /** Masks and returns whatever was held back; call at end of stream. */
  flush(): Buffer;
  /** Values that appear later (e.g. refreshed credentials); masked from the next push on. */
  addSecrets(values: Iterable<string>): void;
}

export function createMasker(secrets: Iterable<string> = []): Masker {
  const known = new Set<string>();
  // Secrets grouped by their first two bytes, longest first; `bigram` maps those two bytes to
  // 1 + the group's index (0: no secret starts so), so the scan skips most positions with one
  // table lookup. Secrets are >= 4 bytes, so every one has a first bigram.
  let bigram = new Uint16Array(65536);
  let groups: Buffer[][] = [];
  // First bytes of secrets, for the one-byte tail.
  let firstBytes = new Uint8Array(256);
  let maxLen = 0;
  // `span`: no secret is shorter (capped so shifts fit a byte). `skip[b]`: how far the scan may
  // move on when the two bytes ending the span from the current position are b (0: check here).
  let span = 0;
  let skip = new Uint8Array(65536);
  let held: Buffer = Buffer.alloc(0);

  function addSecrets(values: Iterable<string>): void {
    let changed = false;
    for (const value of values) {
      if (value.length < MIN_SECRET_LENGTH || known.has(value)) continue;
      known.add(value);
      changed = true;
    }
    if (!changed) return;
    const needles = [...known].map((s) => Buffer.from(s, "utf8")).sort((a, b) => b.length - a.length);
    bigram = new Uint16Array(65536);
    groups = [];
    firstBytes = new Uint8Array(256);
    maxLen = 0;
    for (const n of needles) {
      const first = n[0] as number;
      const key = first | ((n[1] as number) << 8);
      if (bigram[key] === 0) bigram[key] = groups.push([]);
      groups[(bigram[key] as number) - 1]?.push(n);
      firstBytes[first] = 1;
      maxLen = Math.max(maxLen, n.length);
    }
    span = Math.min(255, needles.at(-1)?.length ?? 0);
    skip = new Uint8Array(65536).fill(Math.max(0, span - 1));
    // A secret with bytes b at offsets j-1, j of its first `span` bytes may start span-1-j before.
    for (const n of needles) {
      for (let j = 1; j < span; j++) {
        const key = (n[j - 1] as number) | ((n[j] as number) << 8);
        skip[key] = Math.min(skip[key] as number, span - 1 - j);
      }
    }
  }

  /** Earliest position p in the tail such that buf[p..] is a proper prefix of some secret. */
  function holdFrom(buf: Buffer): number {
    const len = buf.length;
    for (let p = Math.max(0, len - maxLen + 1); p < len - 1; p++) {
      const g = bigram[(buf[p] as number) | ((buf[p + 1] as number) << 8)] as number;
      if (g === 0) continue;
      const avail = len - p;
      for (const n of groups[g - 1] as Buffer[]) {
        if (n.length <= avail) break; // longest first: the rest are shorter too
        let k = 2;
        while (k < avail && buf[p + k] === n[k]) k++;
        if (k === avail) return p;
      }
    }
    // The last byte alone may start a secret.
    return len > 0 && firstBytes[buf[len - 1] as number] === 1 ? len - 1 : len;
  }

  /** Length of the longest secret that occurs whole in buf at `at`, or 0. */
  function longestAt(buf: Buffer, at: number, group: Buffer[]): number {
    for (const n of group) {
      if (at + n.length > buf.length) continue;
      let k = 2;
      while (k < n.length && buf[at + k] === n[k]) k++;
      if (k === n.length) return k;
    }
    return 0;
  }

  /** Masks buf up to the hold-back point (a match may run past it); keeps the rest as `held`. */
  function maskBuffer(buf: Buffer, final: boolean): Buffer {
    const decided = final ? buf.length : holdFrom(buf);
    const stop = Math.min(decided, buf.length - 1);
    const table = bigram;
    const shifts = skip;
    const last = buf.length - span;
    const out: Buffer[] = [];
    let emitted = 0;
    let i = 0;
    while (i < stop) {
      // Hot loop: skip every position the bytes ending the span rule out. Past `last`, no secret fits whole.
      while (i <= last) {
        const shift = shifts[(buf[i + span - 2] as number) | ((buf[i + span - 1] as number) << 8)] as number;
        if (shift === 0) break;
        i += shift;
      }
      if (i >= stop || i > last) break;
      const g = table[(buf[i] as number) | ((buf[i + 1] as number) << 8)] as number;
      if (g === 0) {
        i++;
        continue;
      }
      const length = longestAt(buf, i, groups[g - 1] as Buffer[]);
      if (length === 0) {
        i++;
        continue;
      }
      if (i > emitted) out.push(buf.subarray(emitted, i));
      out.push(MASK_BYTES);
      i += length;
      emitted = i;
    }
    const emitTo = Math.max(emitted, decided);
    if (emitTo > emitted) out.push(buf.subarray(emitted, emitTo));
    // Copy the held tail so the caller's chunk is not retained.
    held = emitTo < buf.length ? Buffer.from(buf.subarray(emitTo)) : Buffer.alloc(0);
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  addSecrets(secrets);
  return {
    push(chunk) {
      const input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (maxLen === 0 && held.length === 0) return input;
      return maskBuffer(held.length === 0 ? input : Buffer.concat([held, input]), false);
    },
    flush() {
      if (held.length === 0) return Buffer.alloc(0);
      return maskBuffer(held, true);
    },
    addSecrets,
  };
}

export interface MaskingStream extends Transform {
  addSecrets(values: Iterable<string>): void;
}

/** A Transform around a masker, to pipe CMD's stdout or stderr through. One per stream. */
export function createMaskingStream(secrets: Iterable<string> = []): MaskingStream {
  const masker = createMasker(secrets);
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const out = masker.push(chunk);
      callback(null, out.length > 0 ? out : undefined);
    },
    flush(callback) {
      const out = masker.flush();
      callback(null, out.length > 0 ? out : undefined);
    },
  }) as MaskingStream;
  stream.addSecrets = (values) => masker.addSecrets(values);
  return stream;
}
