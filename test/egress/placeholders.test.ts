import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { awsPlaceholders, genericPlaceholder, githubPlaceholder, makePlaceholders, MIN_PLACEHOLDER_BITS, shapedBits, shapedPlaceholder } from "../../src/egress/placeholders.js";

function all(p: ReturnType<typeof makePlaceholders>): string[] {
  return [...(p.github ? [p.github] : []), ...(p.aws ? [p.aws.accessKeyId, p.aws.secretAccessKey, p.aws.sessionToken] : []), ...Object.values(p.env)];
}

describe("placeholders", () => {
  it("have the shapes of the credentials they stand for", () => {
    expect(githubPlaceholder()).toMatch(/^ghs_[0-9A-Za-z]{36}$/);
    const aws = awsPlaceholders();
    expect(aws.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(aws.secretAccessKey).toMatch(/^[A-Za-z0-9/+]{40}$/);
    expect(aws.sessionToken).toMatch(/^[A-Za-z0-9/+]{356}$/);
    expect(genericPlaceholder()).toMatch(/^broker-ph-[A-Za-z0-9_-]{43}$/);
  });

  it("are fresh each time: no two of a thousand alike", () => {
    const seen = new Set(Array.from({ length: 1000 }, githubPlaceholder));
    expect(seen.size).toBe(1000);
  });

  it("use every character of their alphabet about evenly (no modulo bias a test could see)", () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) for (const c of githubPlaceholder().slice(4)) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    const mean = (2000 * 36) / 62;
    for (const n of counts.values()) expect(Math.abs(n - mean) / mean).toBeLessThan(0.2);
  });

  it("shape a generic value by character class, keeping other characters", () => {
    const real = "sk-proj-AbC123xyz_QRSTuvwx9876543210abcdEFGH";
    const shaped = shapedPlaceholder(real);
    expect(shaped).toHaveLength(real.length);
    expect(shaped).not.toBe(real);
    for (let i = 0; i < real.length; i++) {
      const [a, b] = [real[i]!, shaped[i]!];
      const cls = (c: string) => (/[a-z]/.test(c) ? "l" : /[A-Z]/.test(c) ? "u" : /\d/.test(c) ? "d" : c);
      expect(cls(b)).toBe(cls(a));
    }
  });

  it("use the shaped form only with at least 128 random bits, and say so (without the value) otherwise", () => {
    const long = "sk-" + "aB3".repeat(16);
    const short = "sk-abc123";
    expect(shapedBits(long)).toBeGreaterThanOrEqual(MIN_PLACEHOLDER_BITS);
    const p = makePlaceholders({ env: { LONG: { shapeOf: long }, SHORT: { shapeOf: short }, PLAIN: {} } });
    expect(p.env.LONG).toHaveLength(long.length);
    expect(p.env.LONG![2]).toBe("-");
    expect(p.env.LONG).not.toBe(long);
    expect(p.env.SHORT).toMatch(/^broker-ph-/);
    expect(p.env.PLAIN).toMatch(/^broker-ph-/);
    expect(p.fallbacks).toHaveLength(1);
    expect(p.fallbacks[0]).toMatch(/env\.SHORT.*\d+ random bits/);
    expect(p.fallbacks[0]).not.toContain(short);
  });

  it("makes a full session's set, none a substring of another nor of a real value", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 0, maxLength: 60 }), { maxLength: 4 }), (reals) => {
        const p = makePlaceholders({ github: true, aws: true, env: { A: {}, B: { shapeOf: "x".repeat(40) + "Y".repeat(20) } }, reals });
        const values = all(p);
        expect(values).toHaveLength(6);
        for (const [i, a] of values.entries()) {
          for (const [j, b] of values.entries()) if (i !== j) expect(b.includes(a)).toBe(false);
          for (const real of reals) if (real.length > 0) expect(real.includes(a) || real === a).toBe(false);
          for (const real of reals) if (real.length >= 8) expect(a.includes(real)).toBe(false);
        }
      }),
      { numRuns: 100 },
    );
  });
});
