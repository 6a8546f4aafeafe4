/**
 * The AWS injection rule end to end at the seam: requests signed by real signers (botocore, the
 * AWS CLI's; @smithy/signature-v4, the JS SDK's) with the placeholder credentials go through the
 * handler, and what it would send upstream is checked as AWS checks it: it verifies with the real
 * secret and not with the placeholder's.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { botocoreSign, chunkedBody, collect, intercepted, presignAccepts, s3Accepts, smithySigner, stsAccepts, wire } from "./aws-sigv4-check.js";
import { FORM, PLACEHOLDER, REAL, S3_URL, STS, accepted, handler, refused, smithyS3Put, stsBotocore } from "./aws-inject-fixture.js";

describe("STS query API (no x-amz-content-sha256: the body is buffered and hashed)", () => {
  it("re-signs a botocore POST so it verifies with the real secret only", async () => {
    const req = stsBotocore();
    const out = accepted(await handler()(intercepted(req.method, req.url, req.headers, FORM)));
    const sent = wire(out, await collect(out.body));
    expect(stsAccepts(sent, REAL.secretAccessKey)).toBe(true);
    expect(stsAccepts(sent, PLACEHOLDER.secretAccessKey)).toBe(false);
    expect(out.headers["x-amz-security-token"]).toBe(REAL.sessionToken);
    expect(String(out.headers.authorization)).toContain(`Credential=${REAL.accessKeyId}/`);
    expect(out.headers["x-amz-content-sha256"]).toBeUndefined();
    expect(out.rule).toBe("aws");
    expect(out.fingerprint).toBe(REAL.accessKeyId);
  });

  it("re-signs a @smithy/signature-v4 POST", async () => {
    const headers = { host: "sts.us-east-1.amazonaws.com", "content-type": "application/x-www-form-urlencoded" };
    const signed = await smithySigner(PLACEHOLDER, "sts").sign({ method: "POST", protocol: "https:", hostname: "sts.us-east-1.amazonaws.com", path: "/", query: {}, headers, body: FORM });
    const out = accepted(await handler()(intercepted("POST", STS, signed.headers as Record<string, string>, FORM)));
    expect(stsAccepts(wire(out, await collect(out.body)), REAL.secretAccessKey)).toBe(true);
  });

  it("refuses a body changed after signing, and one over the buffer limit", async () => {
    const req = stsBotocore();
    const changed = refused(await handler()(intercepted(req.method, req.url, req.headers, FORM.replace("2011", "2012"))));
    expect(changed.status).toBe(403);
    const big = refused(await handler({ maxBufferBytes: 16 })(intercepted(req.method, req.url, req.headers, FORM)));
    expect(big.status).toBe(413);
  });

  it("uses the credentials real() gives now: a refresh between requests is honoured", async () => {
    let real = REAL;
    const h = handler({ real: () => real });
    const first = accepted(await h(intercepted("POST", STS, stsBotocore().headers, FORM)));
    expect(stsAccepts(wire(first, await collect(first.body)), REAL.secretAccessKey)).toBe(true);
    real = { accessKeyId: "ASIAREFRESHED0000002", secretAccessKey: "rEfReShEd/SeCrEt+abcdefghijklmnopqrstuvw", sessionToken: "IQoJrefreshed/token==".repeat(5) };
    const second = accepted(await h(intercepted("POST", STS, stsBotocore().headers, FORM)));
    const sent = wire(second, await collect(second.body));
    expect(stsAccepts(sent, real.secretAccessKey)).toBe(true);
    expect(stsAccepts(sent, REAL.secretAccessKey)).toBe(false);
    expect(second.headers["x-amz-security-token"]).toBe(real.sessionToken);
  });
});

describe("S3 payload modes", () => {
  it("streams an UNSIGNED-PAYLOAD upload without buffering it, in bounded memory", async () => {
    const CHUNK = 64 * 1024;
    const TOTAL = 160 * 1024 * 1024;
    const headers = await smithyS3Put({ "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "content-length": String(TOTAL) });
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < TOTAL / CHUNK; i++, pulled++) yield Buffer.alloc(CHUNK, i % 251);
      })(),
      { objectMode: false, highWaterMark: CHUNK },
    );
    const out = accepted(await handler()(intercepted("PUT", S3_URL, headers, source)));
    expect(pulled * CHUNK).toBeLessThan(2 * 1024 * 1024); // decided before the body was read
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let readAhead = 0;
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of out.body) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
      readAhead = Math.max(readAhead, pulled * CHUNK - size);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
    expect(size).toBe(TOTAL);
    // Backpressure holds: the source is read only a little ahead of what upstream took.
    expect(readAhead).toBeLessThan(2 * 1024 * 1024);
    // Allocation includes garbage not yet collected, so the bound is loose; buffering would be 160 MiB.
    expect(peak).toBeLessThan(64 * 1024 * 1024);
    expect(s3Accepts(wire(out, Buffer.alloc(0)), REAL.secretAccessKey)).toBe(true);
    expect(s3Accepts(wire(out, Buffer.alloc(0)), PLACEHOLDER.secretAccessKey)).toBe(false);
  });

  it("re-signs a botocore PUT with a hex payload hash, and errors the stream when the body differs", async () => {
    const body = "the object's content";
    const spec = { kind: "s3", signPayload: true, akid: PLACEHOLDER.accessKeyId, secret: PLACEHOLDER.secretAccessKey, token: PLACEHOLDER.sessionToken, method: "PUT", url: S3_URL, body };
    const req = botocoreSign(spec);
    expect(req.headers["x-amz-content-sha256"]).toMatch(/^[0-9a-f]{64}$/);
    const out = accepted(await handler()(intercepted("PUT", req.url, req.headers, body)));
    const sent = wire(out, await collect(out.body));
    expect(s3Accepts(sent, REAL.secretAccessKey)).toBe(true);
    expect(s3Accepts(sent, PLACEHOLDER.secretAccessKey)).toBe(false);
    const tampered = accepted(await handler()(intercepted("PUT", req.url, req.headers, body.replace("content", "CONTENT"))));
    await expect(collect(tampered.body)).rejects.toMatchObject({ code: "ERR_PAYLOAD_HASH" });
  });

  it("passes a STREAMING-UNSIGNED-PAYLOAD-TRAILER body and its aws-chunked headers through unchanged", async () => {
    const body = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n";
    const framing = { "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5", "x-amz-trailer": "x-amz-checksum-crc32", "content-length": String(body.length) };
    const headers = await smithyS3Put({ "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", ...framing });
    const out = accepted(await handler()(intercepted("PUT", S3_URL, headers, body)));
    const sent = await collect(out.body);
    expect(sent.toString()).toBe(body);
    for (const [name, value] of Object.entries(framing)) expect(out.headers[name]).toBe(value);
    expect(s3Accepts(wire(out, sent), REAL.secretAccessKey)).toBe(true);
  });

  it("the test's chunk signer reproduces AWS's published aws-chunked example", () => {
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const body = chunkedBody(Buffer.alloc(66560, "a"), 65536, { secret, amzDate: "20130524T000000Z", region: "us-east-1", seed });
    expect(body.toString("latin1")).toContain("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    expect(body.toString("latin1")).toContain("400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
    expect(body.toString("latin1")).toContain("0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n");
  });

  it("re-signs a signed aws-chunked upload chunk by chunk, and errors on a chunk changed in transit", async () => {
    const data = Buffer.alloc(3 * 65536 + 100, "z");
    const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const encodedLength = chunkedBody(data, 65536, { secret: "x", amzDate, region: "us-east-1", seed: "0".repeat(64) }).length;
    const headers = await smithyS3Put({
      "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      "content-encoding": "aws-chunked",
      "x-amz-decoded-content-length": String(data.length),
      "content-length": String(encodedLength),
    });
    const seed = /Signature=([0-9a-f]{64})/.exec(headers.authorization!)![1]!;
    const body = chunkedBody(data, 65536, { secret: PLACEHOLDER.secretAccessKey, amzDate: headers["x-amz-date"]!, region: "us-east-1", seed });
    const out = accepted(await handler()(intercepted("PUT", S3_URL, headers, body)));
    const sent = await collect(out.body);
    expect(sent.length).toBe(body.length);
    expect(s3Accepts(wire(out, sent), REAL.secretAccessKey)).toBe(true);
    expect(s3Accepts(wire(out, sent), PLACEHOLDER.secretAccessKey)).toBe(false);
    const changed = Buffer.from(body);
    changed[1000] = 0x79; // inside the first chunk's data (its header is 88 bytes)
    const bad = accepted(await handler()(intercepted("PUT", S3_URL, headers, changed)));
    await expect(collect(bad.body)).rejects.toMatchObject({ code: "ERR_CHUNK_SIGNATURE" });
  });

  it("refuses signed aws-chunked with trailers, naming the fix", async () => {
    const headers = await smithyS3Put({ "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" });
    const out = refused(await handler()(intercepted("PUT", S3_URL, headers, "")));
    expect(out.status).toBe(400);
    expect(out.message).toContain("UNSIGNED-PAYLOAD");
  });
});

describe("headers the proxy handles itself", () => {
  it("does not sign hop-by-hop headers again, so a proxy dropping them leaves a valid signature", async () => {
    const headers = { host: "bucket.s3.amazonaws.com", connection: "keep-alive", expect: "100-continue", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" };
    const signed = await smithySigner(PLACEHOLDER, "s3").sign(
      { method: "PUT", protocol: "https:", hostname: "bucket.s3.amazonaws.com", path: "/dir/a%20key.bin", query: {}, headers },
      { signableHeaders: new Set(["connection", "expect"]) },
    );
    expect(String(signed.headers.authorization)).toContain("connection;expect;host");
    const out = accepted(await handler()(intercepted("PUT", S3_URL, signed.headers as Record<string, string>)));
    const { connection: _c, expect: _e, ...forwarded } = out.headers;
    expect(s3Accepts(wire({ ...out, headers: forwarded }, Buffer.alloc(0)), REAL.secretAccessKey)).toBe(true);
  });

  it("takes host from an h2 :authority and ignores the :path pseudo-header in the tripwire", async () => {
    const req = botocoreSign({ kind: "presign", akid: PLACEHOLDER.accessKeyId, secret: PLACEHOLDER.secretAccessKey, token: PLACEHOLDER.sessionToken, key: "k", expires: 300 });
    const h2 = { ":authority": req.url.host, ":path": `${req.url.pathname}${req.url.search}`, ":method": "GET" };
    const out = accepted(await handler()({ ...intercepted("GET", req.url, h2), protocol: "h2" }));
    expect(presignAccepts(wire({ ...out, headers: { host: req.url.host } }, Buffer.alloc(0)), REAL.secretAccessKey)).toBe(true);
  });
});

describe("presigned URLs", () => {
  it("re-signs a boto3 generate_presigned_url GET with the real key and the same expiry", async () => {
    const req = botocoreSign({ kind: "presign", akid: PLACEHOLDER.accessKeyId, secret: PLACEHOLDER.secretAccessKey, token: PLACEHOLDER.sessionToken, key: "a key/x.txt", expires: 900 });
    const out = accepted(await handler()(intercepted("GET", req.url, req.headers)));
    const sent = wire(out, Buffer.alloc(0));
    expect(presignAccepts(sent, REAL.secretAccessKey)).toBe(true);
    expect(presignAccepts(sent, PLACEHOLDER.secretAccessKey)).toBe(false);
    const q = new URL(out.path, "https://x").searchParams;
    expect(q.get("X-Amz-Security-Token")).toBe(REAL.sessionToken);
    expect(q.get("X-Amz-Credential")!.startsWith(`${REAL.accessKeyId}/`)).toBe(true);
    const expiry = (p: URLSearchParams) => Date.parse(p.get("X-Amz-Date")!.replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, "$1-$2-$3T$4:$5:$6Z")) + Number(p.get("X-Amz-Expires")) * 1000;
    expect(Math.abs(expiry(q) - expiry(req.url.searchParams))).toBeLessThanOrEqual(1000);
  });

  it("refuses an expired presigned URL", async () => {
    const req = botocoreSign({ kind: "presign", akid: PLACEHOLDER.accessKeyId, secret: PLACEHOLDER.secretAccessKey, token: PLACEHOLDER.sessionToken, key: "k", expires: 60 });
    const later = handler({ now: () => new Date(Date.now() + 120_000) });
    expect(refused(await later(intercepted("GET", req.url, req.headers))).status).toBe(403);
  });
});

