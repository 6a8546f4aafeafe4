/**
 * A throwaway certificate authority for TLS stand-ins, made with openssl: the tests hand its
 * certificate to the daemon (NODE_EXTRA_CA_CERTS, which the daemon also trusts for its egress
 * proxy's upstream connections), the way an operator names a corporate CA.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCa {
  /** PEM of the CA certificate, and its file. */
  cert: string;
  certFile: string;
  /** A server key and certificate signed by the CA, for the given names and IPs. */
  server: { key: string; cert: string };
}

function openssl(args: string[]): void {
  const made = spawnSync("openssl", args, { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`openssl ${args[0]} failed: ${made.stderr}`);
}

export function makeTestCa(dir: string, names: { dns?: string[]; ip?: string[] } = { ip: ["127.0.0.2"] }): TestCa {
  const file = (name: string) => join(dir, name);
  const curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(["req", "-x509", ...curve, "-keyout", file("ca.key"), "-out", file("ca.pem"), "-days", "2", "-subj", "/CN=broker test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const san = [...(names.dns ?? []).map((n) => `DNS:${n}`), ...(names.ip ?? []).map((n) => `IP:${n}`)].join(",");
  openssl(["req", ...curve, "-keyout", file("server.key"), "-out", file("server.csr"), "-subj", "/CN=stand-in"]);
  writeFileSync(file("server.ext"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  openssl(["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-CAcreateserial", "-out", file("server.pem"), "-days", "2", "-extfile", file("server.ext")]);
  return {
    cert: readFileSync(file("ca.pem"), "utf8"),
    certFile: file("ca.pem"),
    server: { key: readFileSync(file("server.key"), "utf8"), cert: readFileSync(file("server.pem"), "utf8") },
  };
}
