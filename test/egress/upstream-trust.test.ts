/**
 * The CAs the proxy trusts upstream and the box trusts: the operator's file must hold a CA (a
 * typo is an error, not silently "no extra CA"), NODE_EXTRA_CA_CERTS is taken as found, and the
 * box's bundle starts with the session CA and carries the system roots and the extra CAs.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { boxCaBundle, operatorCas, systemRoots } from "../../src/egress/upstream-trust.js";
import { makeTestCa } from "../helpers/test-ca.js";
import { tempDir } from "../helpers/tmp.js";

describe("upstream and box trust", () => {
  const dir = tempDir("broker-trust-");
  const ca = makeTestCa(dir.path);
  afterAll(() => dir.cleanup());

  it("reads the operator's CA file and NODE_EXTRA_CA_CERTS, once each", () => {
    const found = operatorCas(ca.certFile, { NODE_EXTRA_CA_CERTS: ca.certFile });
    expect(found).toEqual([ca.cert.trim()]);
  });

  it("refuses an --upstream-ca that cannot be read or holds no certificate, and ignores a broken NODE_EXTRA_CA_CERTS", () => {
    const empty = join(dir.path, "empty.pem");
    writeFileSync(empty, "not a certificate\n");
    expect(() => operatorCas(join(dir.path, "missing.pem"), {})).toThrow(/--upstream-ca .* cannot be read/);
    expect(() => operatorCas(empty, {})).toThrow(/holds no PEM certificate/);
    expect(operatorCas(undefined, { NODE_EXTRA_CA_CERTS: join(dir.path, "missing.pem") })).toEqual([]);
  });

  it("builds the box's bundle: the session CA first, then the system roots and the extra CAs", () => {
    const roots = systemRoots();
    expect(roots.length).toBeGreaterThan(10);
    const bundle = boxCaBundle("-----BEGIN CERTIFICATE-----\nSESSION\n-----END CERTIFICATE-----\n", [ca.cert.trim()]);
    expect(bundle.startsWith("-----BEGIN CERTIFICATE-----\nSESSION\n")).toBe(true);
    expect(bundle).toContain(roots[0]!.trim());
    expect(bundle.trimEnd().endsWith(ca.cert.trim())).toBe(true);
  });
});
