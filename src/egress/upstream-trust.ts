/**
 * Which CAs the egress proxy trusts for its upstream TLS, and which the box trusts: the system
 * roots (the distribution's bundle, else Node's own copy of Mozilla's), plus the CAs the operator names — `--upstream-ca FILE` (BROKER_UPSTREAM_CA) and the
 * daemon's own NODE_EXTRA_CA_CERTS (a corporate TLS-inspecting proxy's CA is usually there).
 */
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { BrokerError } from "../errors.js";

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function certificatesIn(file: string, named: string, required: boolean): string[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if (!required) return [];
    throw new BrokerError("ERR_USAGE", `${named} ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`, { fix: "name a PEM file of CA certificates" });
  }
  const found = text.match(PEM) ?? [];
  if (found.length === 0 && required) throw new BrokerError("ERR_USAGE", `${named} ${file} holds no PEM certificate`, { fix: "name a PEM file of CA certificates" });
  return found;
}

/** Where distributions keep their CA bundle (Debian/Ubuntu/Alpine, Fedora/RHEL, macOS and BSD, openSUSE). */
const SYSTEM_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem"];
let systemCached: readonly string[] | undefined;

/** The system's trusted roots, read once. */
export function systemRoots(): readonly string[] {
  if (systemCached) return systemCached;
  for (const file of SYSTEM_BUNDLES) {
    const found = certificatesIn(file, file, false);
    if (found.length > 0) return (systemCached = found);
  }
  return (systemCached = rootCertificates);
}

/** The operator's extra CAs (PEM blocks); the flag's file must be readable and hold one, NODE_EXTRA_CA_CERTS is taken as found. */
export function operatorCas(upstreamCaFile: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const named = upstreamCaFile ? certificatesIn(upstreamCaFile, "--upstream-ca", true) : [];
  const extra = env.NODE_EXTRA_CA_CERTS ? certificatesIn(env.NODE_EXTRA_CA_CERTS, "NODE_EXTRA_CA_CERTS", false) : [];
  return [...new Set([...named, ...extra])];
}

/** The box's bundle: the session CA first, then the system roots and the operator's CAs (opaque tunnels are checked by the box itself). */
export function boxCaBundle(sessionCa: string, extra: readonly string[]): string {
  return `${[sessionCa.trim(), ...systemRoots(), ...extra].join("\n")}\n`;
}
