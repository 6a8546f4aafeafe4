/**
 * A confined session's own certificate authority, for the hosts whose TLS the egress proxy
 * terminates to inject credentials. Its ECDSA P-256 key is made non-extractable and lives only in
 * this process's memory: it is never written anywhere, and it dies with the session. The box
 * trusts the CA's certificate (written into its CA bundle); leaf certificates are issued per host
 * on first use and cached, so only the first TLS handshake to a host pays for a signature.
 * @peculiar/x509 is imported here, lazily, so that only a daemon that intercepts ever loads it.
 */
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import type * as X509Module from "@peculiar/x509";
import { leafIssuer, serialNumber } from "./leaf-certificate.js";

export interface SessionCa {
  /** The CA certificate the box trusts (PEM). */
  certPem: string;
  /** A leaf for host (DNS SAN for a name, IP SAN for an IP literal): made on first use, then cached. */
  leafFor(host: string): Promise<{ key: string; cert: string }>;
  /** How long issuing leaves took, in ms, oldest first (at most the last 100): for the bench and its goal of ≤ 5 ms after the first. */
  issueTimes(): number[];
}

export interface SessionCaOptions {
  /** A name for the CA's subject, e.g. the session id's prefix; shown by clients that refuse it. */
  label?: string;
  now?: () => Date;
}

type X509 = typeof X509Module;

const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const HOUR = 3_600_000;
const MAX_TIMES = 100;
const MAX_LEAVES = 1_000;

let loaded: Promise<X509> | undefined;

/** @peculiar/x509 with node's WebCrypto as its provider; reflect-metadata must be loaded before it (tsyringe, which it uses, needs it). */
function loadX509(): Promise<X509> {
  loaded ??= (async () => {
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return loaded;
}


/** Host names may carry only what a DNS name holds: the CN and SAN are built from it. */
function checkedHost(host: string): string {
  if (isIP(host) !== 0) return host;
  if (!/^[a-z0-9_.-]{1,253}$/i.test(host)) throw new Error("not a host name");
  return host.toLowerCase();
}

export async function createSessionCa(options: SessionCaOptions = {}): Promise<SessionCa> {
  const x509 = await loadX509();
  const now = options.now ?? (() => new Date());
  const subtle = webcrypto.subtle;
  const caKeys = (await subtle.generateKey(EC, false, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const start = now();
  const notBefore = new Date(start.getTime() - HOUR);
  const notAfter = new Date(start.getTime() + 24 * HOUR);
  const caName = `CN=broker session CA${options.label ? ` ${options.label.replace(/[^a-zA-Z0-9-]/g, "")}` : ""}, O=broker`;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serialNumber()).toString("hex"),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  // One leaf key pair for the session: node:tls needs it as PEM, so it alone is extractable.
  const leafKeys = (await subtle.generateKey(EC, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const leafKeyPem = x509.PemConverter.encode(await subtle.exportKey("pkcs8", leafKeys.privateKey), "PRIVATE KEY");
  const authorityKeyId = await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey);
  const leafKeyId = await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey);
  const issueLeaf = await leafIssuer({
    issuer: caCert.subjectName.toArrayBuffer(),
    publicKey: await subtle.exportKey("spki", leafKeys.publicKey),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      authorityKeyId,
      leafKeyId,
    ].map((extension) => extension.rawData),
    notBefore,
    notAfter,
    signingKey: caKeys.privateKey,
    x509,
  });

  const leaves = new Map<string, Promise<{ key: string; cert: string }>>();
  const times: number[] = [];

  async function issue(host: string): Promise<{ key: string; cert: string }> {
    const began = performance.now();
    const cert = await issueLeaf(host, isIP(host) !== 0);
    times.push(performance.now() - began);
    if (times.length > MAX_TIMES) times.shift();
    return { key: leafKeyPem, cert };
  }

  return {
    certPem: caCert.toString("pem"),
    issueTimes: () => [...times],
    leafFor(rawHost) {
      let host: string;
      try {
        host = checkedHost(rawHost);
      } catch (error) {
        return Promise.reject(error as Error);
      }
      let leaf = leaves.get(host);
      if (!leaf) {
        // A session's intercepted hosts are its rules' hosts: a cap keeps a runaway box from growing the cache.
        if (leaves.size >= MAX_LEAVES) leaves.delete(leaves.keys().next().value!);
        leaf = issue(host);
        leaves.set(host, leaf);
        // A failed issue is not cached: the next use tries again.
        leaf.catch(() => leaves.delete(host));
      }
      return leaf;
    },
  };
}
