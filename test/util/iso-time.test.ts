import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoTime } from "../../src/util/iso-time.js";

describe("isoTime", () => {
  it("formats like Date#toISOString, for any millisecond of years 1970-9999 and across day changes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), fc.integer({ min: -3, max: 3 }), (ms, days) => {
        const other = Math.min(253_402_300_799_999, Math.max(0, ms + days * 86_400_000));
        expect(isoTime(ms)).toBe(new Date(ms).toISOString());
        expect(isoTime(other)).toBe(new Date(other).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it("formats the edges of a day and of the range", () => {
    for (const ms of [0, 999, 1000, 59_999, 3_599_999, 86_399_999, 86_400_000, 951_782_400_000, 253_402_300_799_999]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it("leaves times outside its range, and fractions, to Date", () => {
    for (const ms of [-1, -86_400_001, 253_402_300_800_000, 1.5]) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
