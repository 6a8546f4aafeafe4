/**
 * The pieces under the AWS handler, checked against the signers over many generated inputs: the
 * box's signature verifies for any path and query @smithy/signature-v4 signs (so the handler never
 * refuses a good request on a canonicalisation difference), the re-signed request verifies with
 * the stand-in's check, and the body scan finds a value however the stream splits it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Readable } from "node:stream";
import { awsInjectHandler } from "../../src/egress/aws-inject-handler.js";
import { needleScanner } from "../../src/egress/aws-body-guard.js";
import { parseQuery, readClientSignature } from "../../src/egress/sigv4-parse.js";
import { collect, intercepted, s3Accepts, smithySigner, stsAccepts, wire, type Creds } from "./aws-sigv4-check.js";

const PLACEHOLDER: Creds = { accessKeyId: "ASIAPLACEHOLDER7Q2ZX", secretAccessKey: "pLaCeHoLdEr/SeCrEt+0123456789abcdefghijk", sessionToken: "IQoJplaceholder/token+==".repeat(4) };
const REAL: Creds = { accessKeyId: "ASIAREALKEY000000001", secretAccessKey: "rEaL/SeCrEt+abcdefghijklmnopqrstuvwxyz0123", sessionToken: "IQoJreal/token+==".repeat(4) };
const enc = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const segment = fc.string({ unit: fc.constantFrom("a", "Z", "0", " ", "~", "-", "_", "%", "+", "=", "&", "é", "☃", "!", "*", "'"), minLength: 1, maxLength: 6 }).filter((s) => s !== "." && s !== "..");
const param = fc.tuple(fc.string({ unit: fc.constantFrom("a", "b", "X", "-", " ", "/", "="), minLength: 1, maxLength: 4 }), fc.string({ unit: fc.constantFrom("1", "z", " ", "/", "+", "&", "%", "é"), maxLength: 5 }));

describe("verification matches @smithy/signature-v4 for generated paths and queries", () => {
  for (const service of ["s3", "execute-api"]) {
    it(`${service}: any signed GET verifies and re-signs to a request the stand-in accepts`, async () => {
      const handle = awsInjectHandler({ placeholder: PLACEHOLDER, real: () => REAL });
      await fc.assert(
        fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.uniqueArray(param, { maxLength: 4, selector: ([n]) => n }), async (segments, params) => {
          const host = "svc.us-east-1.amazonaws.com";
          const path = `/${segments.map(enc).join("/")}`;
          const query = Object.fromEntries(params);
          // S3 signs a declared payload hash; other services the hash of the (empty) body.
          const headers: Record<string, string> = service === "s3" ? { host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } : { host };
          const signed = await smithySigner(PLACEHOLDER, service).sign({ method: "GET", protocol: "https:", hostname: host, path, query, headers });
          const raw = params.map(([n, v]) => `${enc(n)}=${enc(v)}`).join("&");
          const outcome = await handle(intercepted("GET", `https://${host}${path}${raw ? `?${raw}` : ""}`, signed.headers as Record<string, string>));
          if (!outcome.ok) throw new Error(`refused ${outcome.status}: ${outcome.message}`);
          const sent = wire(outcome, await collect(outcome.body));
          const accepts = service === "s3" ? s3Accepts : stsAccepts;
          expect(accepts(sent, REAL.secretAccessKey)).toBe(true);
          expect(accepts(sent, PLACEHOLDER.secretAccessKey)).toBe(false);
        }),
        { numRuns: 60 },
      );
    });
  }
});

describe("body scan", () => {
  it("finds a needle however the stream is split", () => {
    const needle = Buffer.from("ASIAPLACEHOLDER7Q2ZX");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 6 }), (before, after, cuts) => {
        const data = Buffer.concat([Buffer.from(before), needle, Buffer.from(after)]);
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const scan = needleScanner([needle, Buffer.from("x".repeat(40))]);
        let found = false;
        let at = 0;
        for (const point of [...points, data.length]) {
          found = scan(data.subarray(at, point)) || found;
          at = point;
        }
        expect(found).toBe(true);
      }),
    );
  });

  it("does not find what is not there", () => {
    const scan = needleScanner([Buffer.from("secret-value-xyz")]);
    expect(scan(Buffer.from("secret-value-"))).toBe(false);
    expect(scan(Buffer.from("abc"))).toBe(false);
  });
});

describe("reading the signature", () => {
  it("refuses a request signed both by header and by query, and a repeated presign parameter", () => {
    const both = readClientSignature({ authorization: "AWS4-HMAC-SHA256 x" }, parseQuery("X-Amz-Signature=1")!);
    expect(both.kind).toBe("malformed");
    const repeated = readClientSignature({}, parseQuery("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Credential=b")!);
    expect(repeated.kind).toBe("malformed");
    expect(parseQuery("a=%zz")).toBeNull();
  });

  it("re-signs a request whose body stream errors by erroring the upstream body", async () => {
    const handle = awsInjectHandler({ placeholder: PLACEHOLDER, real: () => REAL });
    const host = "bucket.s3.amazonaws.com";
    const signed = await smithySigner(PLACEHOLDER, "s3").sign({ method: "PUT", protocol: "https:", hostname: host, path: "/k", query: {}, headers: { host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } });
    const body = new Readable({ read() {} });
    const outcome = await handle(intercepted("PUT", `https://${host}/k`, signed.headers as Record<string, string>, body));
    if (!outcome.ok) throw new Error("refused");
    body.push("partial");
    body.destroy(new Error("client went away"));
    await expect(collect(outcome.body)).rejects.toThrow("client went away");
  });
});
