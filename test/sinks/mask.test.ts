import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MASK, createMasker, createMaskingStream } from "../../src/sinks/mask.js";

const TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

/** Feeds chunks through a fresh masker and returns everything it emitted. */
function run(secrets: string[], chunks: Array<string | Buffer>): Buffer {
  const masker = createMasker(secrets);
  const out = chunks.map((c) => masker.push(typeof c === "string" ? Buffer.from(c) : c));
  out.push(masker.flush());
  return Buffer.concat(out);
}

/** The reference: leftmost, longest match first, on whole strings. */
function reference(text: string, secrets: string[]): string {
  const usable = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  let out = "";
  let i = 0;
  while (i < text.length) {
    const hit = usable.find((s) => text.startsWith(s, i));
    if (hit === undefined) {
      out += text[i];
      i++;
    } else {
      out += MASK;
      i += hit.length;
    }
  }
  return out;
}

describe("createMasker", () => {
  it("masks a token printed whole", () => {
    expect(run([TOKEN], [`token: ${TOKEN}\n`]).toString()).toBe(`token: ${MASK}\n`);
  });

  it("masks a token split across two writes at every split point", () => {
    const text = `before ${TOKEN} after`;
    for (let cut = 0; cut <= text.length; cut++) {
      const out = run([TOKEN], [text.slice(0, cut), text.slice(cut)]).toString();
      expect(out, `split at ${cut}`).toBe(`before ${MASK} after`);
    }
  });

  it("masks a token delivered one byte at a time", () => {
    expect(run([TOKEN], [...`x${TOKEN}y`]).toString()).toBe(`x${MASK}y`);
  });

  it("masks repeated and adjacent occurrences", () => {
    expect(run([TOKEN], [`${TOKEN}${TOKEN} ${TOKEN}`]).toString()).toBe(`${MASK}${MASK} ${MASK}`);
  });

  it("masks overlapping secrets, longest first", () => {
    const secrets = ["abcd", "abcdefgh", "cdefXYZW"];
    expect(run(secrets, ["--abcdefgh--abcdefXYZW--"]).toString()).toBe(`--${MASK}--${MASK}efXYZW--`);
    // A shorter secret that is a prefix of a longer one, at the end of the stream.
    expect(run(secrets, ["zz", "abcdef"]).toString()).toBe(`zz${MASK}ef`);
  });

  it("holds back only what could start a secret", () => {
    const masker = createMasker([TOKEN]);
    expect(masker.push(Buffer.from("hello gh")).toString()).toBe("hello ");
    expect(masker.push(Buffer.from("x and ")).toString()).toBe("ghx and ");
    expect(masker.push(Buffer.from("plain")).toString()).toBe("plain");
    expect(masker.flush().length).toBe(0);
  });

  it("passes binary data byte-exact", () => {
    const bytes = Buffer.alloc(70_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 8)) & 0xff;
    const chunks = [bytes.subarray(0, 12_345), bytes.subarray(12_345, 12_346), bytes.subarray(12_346)];
    expect(run([TOKEN, "\u00e9t\u00e9-secret"], chunks).equals(bytes)).toBe(true);
  });

  it("masks UTF-8 secrets split inside a multi-byte character", () => {
    const secret = "p\u00e4ss\u20acw\u00f6rd";
    const bytes = Buffer.from(`\u00ab${secret}\u00bb`);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const out = run([secret], [bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(out.toString()).toBe(`\u00ab${MASK}\u00bb`);
    }
  });

  it("masks secrets added later, from the next write on", () => {
    const masker = createMasker([TOKEN]);
    const first = masker.push(Buffer.from("new-key-1234 "));
    masker.addSecrets(["new-key-1234"]);
    const second = masker.push(Buffer.from(`new-key-1234 ${TOKEN}`));
    expect(Buffer.concat([first, second, masker.flush()]).toString()).toBe(`new-key-1234 ${MASK} ${MASK}`);
  });

  it("ignores empty and very short values", () => {
    expect(run(["", "us", "abc"], ["us-east-1 abc"]).toString()).toBe("us-east-1 abc");
  });

  it("gives the same output as the whole-string reference for any chunking", () => {
    const alphabet = fc.constantFrom(..."abcdXY \n\u00e9");
    const piece = fc.string({ unit: alphabet, maxLength: 12 });
    const secret = fc.string({ unit: alphabet, minLength: 4, maxLength: 10 });
    fc.assert(
      fc.property(
        fc.array(secret, { minLength: 1, maxLength: 5 }),
        fc.array(fc.tuple(piece, fc.nat()), { maxLength: 12 }),
        fc.array(fc.nat({ max: 40 }), { maxLength: 10 }),
        (secrets, pieces, cuts) => {
          const text = pieces.map(([p, n]) => p + (secrets[n % secrets.length] ?? "")).join("");
          const bytes = Buffer.from(text);
          const chunks: Buffer[] = [];
          let at = 0;
          for (const cut of cuts) {
            chunks.push(bytes.subarray(at, Math.min(bytes.length, at + cut)));
            at = Math.min(bytes.length, at + cut);
          }
          chunks.push(bytes.subarray(at));
          expect(run(secrets, chunks).toString()).toBe(reference(text, secrets));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("createMaskingStream", () => {
  it("masks what flows through it and flushes the held tail on end", async () => {
    const stream = createMaskingStream([TOKEN]);
    const received: Buffer[] = [];
    stream.on("data", (c: Buffer) => received.push(c));
    stream.addSecrets(["later-secret"]);
    await pipeline(Readable.from([Buffer.from(`a ${TOKEN.slice(0, 10)}`), Buffer.from(`${TOKEN.slice(10)} later-secret gh`)]), stream);
    expect(Buffer.concat(received).toString()).toBe(`a ${MASK} ${MASK} gh`);
  });
});
