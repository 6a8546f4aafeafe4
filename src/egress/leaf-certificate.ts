/**
 * A session CA's leaf certificates, put together from @peculiar/asn1-x509's structures. What every
 * leaf of a session shares (issuer, public key, validity, fixed extensions) is decoded once; a
 * leaf then costs one encoding and one signature. @peculiar/x509's generator decodes all of those
 * again for every certificate, and the certificate it made once more: four times the work.
 */
import { randomBytes, webcrypto } from "node:crypto";
import type * as Asn1Schema from "@peculiar/asn1-schema";
import type * as Asn1X509 from "@peculiar/asn1-x509";
import type * as X509Module from "@peculiar/x509";

export interface LeafShared {
  /** DER of the CA's subject: the leaves' issuer. */
  issuer: ArrayBuffer;
  /** DER SubjectPublicKeyInfo of the session's leaf key. */
  publicKey: ArrayBuffer;
  /** DER of each extension every leaf carries (the SAN is added per host). */
  extensions: ArrayBuffer[];
  notBefore: Date;
  notAfter: Date;
  /** The CA's private key (non-extractable). */
  signingKey: webcrypto.CryptoKey;
  /** @peculiar/x509, loaded by the CA: its ECDSA signature formatter and PEM encoder. */
  x509: typeof X509Module;
}

/** Issues the leaf for one host (an IP literal gets an IP SAN and a neutral CN), as PEM. */
export type IssueLeaf = (host: string, ip: boolean) => Promise<string>;

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const COMMON_NAME = "2.5.4.3";
const EC_SIGNING = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

let modules: Promise<[typeof Asn1Schema, typeof Asn1X509]> | undefined;
const load = () => (modules ??= Promise.all([import("@peculiar/asn1-schema"), import("@peculiar/asn1-x509")]));

/** A positive serial number of 16 random bytes (RFC 5280: at most 20 octets, positive). */
export function serialNumber(): ArrayBuffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return new Uint8Array(bytes).buffer;
}

export async function leafIssuer(shared: LeafShared): Promise<IssueLeaf> {
  const [{ AsnConvert, OctetString }, x509] = await load();
  const formatter = new shared.x509.AsnEcSignatureFormatter();
  const algorithm = new x509.AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 });
  const issuer = AsnConvert.parse(shared.issuer, x509.Name);
  const publicKey = AsnConvert.parse(shared.publicKey, x509.SubjectPublicKeyInfo);
  const fixed = shared.extensions.map((der) => AsnConvert.parse(der, x509.Extension));
  const validity = new x509.Validity({ notBefore: shared.notBefore, notAfter: shared.notAfter });
  const commonName = (value: string) =>
    new x509.Name([new x509.RelativeDistinguishedName([new x509.AttributeTypeAndValue({ type: COMMON_NAME, value: new x509.AttributeValue({ utf8String: value }) })])]);

  return async (host, ip) => {
    const name = new x509.GeneralName(ip ? { iPAddress: host } : { dNSName: host });
    const san = new x509.Extension({ extnID: x509.id_ce_subjectAltName, critical: false, extnValue: new OctetString(AsnConvert.serialize(new x509.SubjectAlternativeName([name]))) });
    const tbs = new x509.TBSCertificate({
      version: x509.Version.v3,
      serialNumber: serialNumber(),
      signature: algorithm,
      issuer,
      validity,
      subject: commonName(ip ? "broker intercepted host" : host),
      subjectPublicKeyInfo: publicKey,
      extensions: new x509.Extensions([...fixed, san]),
    });
    const signed = await webcrypto.subtle.sign(EC_SIGNING, shared.signingKey, AsnConvert.serialize(tbs));
    // WebCrypto's r||s, as X.509 wants it: an ECDSA-Sig-Value.
    const signatureValue = formatter.toAsnSignature(EC_SIGNING, signed);
    if (!signatureValue) throw new Error("the leaf's signature could not be encoded");
    return shared.x509.PemConverter.encode(AsnConvert.serialize(new x509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue })), "CERTIFICATE");
  };
}
