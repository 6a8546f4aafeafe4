import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32, crc32Fallback, crc32Hex } from "../../src/util/crc32.js";

describe("crc32", () => {
  it("gives the standard check values", () => {
    expect(crc32Hex("123456789")).toBe("cbf43926");
    expect(crc32Hex("")).toBe("00000000");
    expect(crc32Fallback("123456789")).toBe(0xcbf43926);
  });

  it("sums the UTF-8 bytes, the same with or without Node's own, for any text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (text) => {
        expect(crc32Fallback(text)).toBe(crc32(text));
      }),
      { numRuns: 5_000 },
    );
    expect(crc32Hex("é")).toBe(crc32Fallback("é").toString(16).padStart(8, "0"));
  });
});
