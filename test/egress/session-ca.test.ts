/**
 * The per-session CA: what a TLS client makes of its certificates (node:tls and openssl verify
 * them), the leaf cache, and that issuing after the first leaf stays cheap.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createSessionCa } from "../../src/egress/session-ca.js";
import { tempDir } from "../helpers/tmp.js";

describe("session CA", () => {
  it("issues leaves the CA verifies: a DNS SAN for a name, an IP SAN for an IP literal", async () => {
    const ca = await createSessionCa({ label: "s1" });
    const root = new X509Certificate(ca.certPem);
    expect(root.ca).toBe(true);
    const named = new X509Certificate((await ca.leafFor("API.Example.test")).cert);
    expect(named.subjectAltName).toBe("DNS:api.example.test");
    expect(named.checkHost("api.example.test")).toBe("api.example.test");
    expect(named.verify(root.publicKey)).toBe(true);
    expect(named.ca).toBe(false);
    const ip = new X509Certificate((await ca.leafFor("127.0.0.2")).cert);
    expect(ip.subjectAltName).toBe("IP Address:127.0.0.2");
    expect(ip.checkIP("127.0.0.2")).toBe("127.0.0.2");
    expect(ip.checkHost("127.0.0.2")).toBeUndefined();
    // Valid now, back-dated for clocks a little behind, and short-lived.
    const from = Date.parse(root.validFrom);
    const to = Date.parse(root.validTo);
    expect(from).toBeLessThan(Date.now() - 30 * 60_000);
    expect(to - Date.now()).toBeLessThanOrEqual(24 * 3_600_000 + 1000);
  });

  it("openssl verifies a leaf against the CA for its host (serverAuth purpose)", async () => {
    const which = spawnSync("openssl", ["version"]);
    if (which.status !== 0) return;
    const ca = await createSessionCa();
    const dir = tempDir("broker-ca-");
    try {
      writeFileSync(join(dir.path, "ca.pem"), ca.certPem);
      writeFileSync(join(dir.path, "leaf.pem"), (await ca.leafFor("api.example.test")).cert);
      const ok = spawnSync("openssl", ["verify", "-purpose", "sslserver", "-verify_hostname", "api.example.test", "-CAfile", join(dir.path, "ca.pem"), join(dir.path, "leaf.pem")], { encoding: "utf8" });
      expect(ok.stdout + ok.stderr).toContain("OK");
      expect(ok.status).toBe(0);
      const wrong = spawnSync("openssl", ["verify", "-purpose", "sslserver", "-verify_hostname", "evil.test", "-CAfile", join(dir.path, "ca.pem"), join(dir.path, "leaf.pem")], { encoding: "utf8" });
      expect(wrong.status).not.toBe(0);
    } finally {
      dir.cleanup();
    }
  });

  it("caches leaves: a second leafFor, and concurrent first ones, give the same certificate", async () => {
    const ca = await createSessionCa();
    const [a, b] = await Promise.all([ca.leafFor("x.test"), ca.leafFor("x.test")]);
    expect(a.cert).toBe(b.cert);
    expect((await ca.leafFor("x.test")).cert).toBe(a.cert);
    expect(ca.issueTimes()).toHaveLength(1);
    expect((await ca.leafFor("y.test")).cert).not.toBe(a.cert);
  });

  it("gives every session its own CA, and leaf issue after the first is cheap", async () => {
    const [one, two] = await Promise.all([createSessionCa(), createSessionCa()]);
    expect(one.certPem).not.toBe(two.certPem);
    const leaf = new X509Certificate((await one.leafFor("a.test")).cert);
    expect(leaf.verify(new X509Certificate(two.certPem).publicKey)).toBe(false);
    for (let i = 0; i < 20; i++) await one.leafFor(`h${i}.test`);
    const later = one.issueTimes().slice(1).sort((a, b) => a - b);
    // The goal is 5 ms; the median is asserted with room for a loaded CI machine.
    expect(later[Math.floor(later.length / 2)]!).toBeLessThan(25);
  });

  it("refuses a host that is not a name or an IP literal", async () => {
    const ca = await createSessionCa();
    await expect(ca.leafFor("a.test, CN=evil")).rejects.toThrow();
  });
});
