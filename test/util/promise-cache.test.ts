import { describe, expect, it } from "vitest";
import { createPromiseCache } from "../../src/util/promise-cache.js";

describe("createPromiseCache", () => {
  it("shares a build, forgets a failed one, and drops the least recently used past its bound", async () => {
    const dropped: string[] = [];
    const cache = createPromiseCache<string>(2, (d) => dropped.push(d));
    let builds = 0;
    const build = (value: string) => () => {
      builds += 1;
      return Promise.resolve(value);
    };
    const [a1, a2] = [cache.get("a", build("A")), cache.get("a", build("A again"))];
    expect(a1).toBe(a2);
    expect(await a1).toBe("A");
    await expect(cache.get("bad", () => Promise.reject(new Error("no")))).rejects.toThrow("no");
    expect(await cache.get("bad", build("B"))).toBe("B"); // the failure was not kept
    await cache.get("a", build("unused")); // "a" is now the most recently used
    await cache.get("c", build("C")); // drops "bad", not "a"
    await Promise.resolve();
    expect(dropped).toEqual(["B"]);
    expect(await cache.get("a", build("rebuilt"))).toBe("A");
    expect(builds).toBe(3);
  });
});
