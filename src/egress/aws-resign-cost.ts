/**
 * What checking and re-signing one AWS request costs, for a bench to print: an STS POST signed
 * with placeholder credentials by @smithy/signature-v4, run through the AWS handler `rounds` times.
 * Test-grade credentials only; nothing here reaches the network.
 */
import { Readable } from "node:stream";
import { performance } from "node:perf_hooks";
import { SignatureV4 } from "@smithy/signature-v4";
import { awsInjectHandler } from "./aws-inject-handler.js";
import { NodeSha256, type AwsCredentials } from "./sigv4-resign.js";

const PLACEHOLDER: AwsCredentials = {
  accessKeyId: "ASIABENCHPLACEHOLDER",
  secretAccessKey: "bench/placeholder+secret0123456789abcdefg",
  sessionToken: "IQoJbenchPlaceholderSessionToken/abc+def==".repeat(8),
};
const REAL: AwsCredentials = {
  accessKeyId: "ASIABENCHREALKEY0001",
  secretAccessKey: "bench/real+secret0123456789abcdefghijklmn",
  sessionToken: "IQoJbenchRealSessionToken/xyz+uvw==".repeat(8),
};
const FORM = "Action=GetCallerIdentity&Version=2011-06-15";

/** Mean milliseconds per request (verify + re-sign + reading the buffered body), over `rounds`. */
export async function measureAwsResignCost(rounds = 2000): Promise<{ rounds: number; meanMs: number }> {
  const host = "sts.us-east-1.amazonaws.com";
  const signer = new SignatureV4({ credentials: PLACEHOLDER, region: "us-east-1", service: "sts", sha256: NodeSha256, applyChecksum: false });
  const headers = { host, "content-type": "application/x-www-form-urlencoded", "content-length": String(FORM.length) };
  const signed = await signer.sign({ method: "POST", protocol: "https:", hostname: host, path: "/", query: {}, headers, body: FORM });
  const handle = awsInjectHandler({ placeholder: PLACEHOLDER, real: () => REAL });
  const once = async () => {
    const request = { method: "POST", host, port: 443, path: "/", headers: signed.headers, body: Readable.from([Buffer.from(FORM)]), protocol: "http/1.1" as const };
    const outcome = await handle(request);
    if (!outcome.ok) throw new Error(`refused: ${outcome.status}`);
    outcome.body.resume();
  };
  for (let i = 0; i < Math.min(200, rounds); i++) await once(); // warm up
  const start = performance.now();
  for (let i = 0; i < rounds; i++) await once();
  return { rounds, meanMs: (performance.now() - start) / rounds };
}
