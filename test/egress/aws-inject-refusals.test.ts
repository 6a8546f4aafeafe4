/**
 * What the AWS injection rule refuses, and the tripwire: requests it must not re-sign (another key,
 * token or secret, a skewed clock, SigV4A/SigV2) and placeholders seen outside their place.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LeakError } from "../../src/egress/inject-types.js";
import { collect, intercepted } from "./aws-sigv4-check.js";
import { FORM, PLACEHOLDER, S3_URL, STS, VALUES, accepted, handler, refused, smithyS3Put, stsBotocore } from "./aws-inject-fixture.js";

describe("refusals", () => {
  it("refuses SigV4A with 400 and SigV2 with 400 (not as a leak)", async () => {
    const v4a = { host: "bucket.s3.amazonaws.com", "x-amz-date": "20260101T000000Z", authorization: "AWS4-ECDSA-P256-SHA256 Credential=ASIAPLACEHOLDER7Q2ZX/20260101/s3/aws4_request, SignedHeaders=host, Signature=3045" };
    const a = refused(await handler()(intercepted("GET", S3_URL, v4a)));
    expect([a.status, a.leak]).toEqual([400, undefined]);
    const v2 = refused(await handler()(intercepted("GET", `${S3_URL}?AWSAccessKeyId=${PLACEHOLDER.accessKeyId}&Expires=1&Signature=x`, {})));
    expect([v2.status, v2.leak]).toEqual([400, undefined]);
  });

  it("refuses a request signed with another access key", async () => {
    const other = { ...PLACEHOLDER, accessKeyId: "ASIAOTHERKEY00000003" };
    const out = refused(await handler()(intercepted("POST", STS, stsBotocore(FORM, other).headers, FORM)));
    expect([out.status, out.leak]).toEqual([403, undefined]);
    expect(out.message).toContain("not signed with the session's credentials");
  });

  it("refuses a request carrying another session token", async () => {
    const otherToken = { ...PLACEHOLDER, sessionToken: "IQoJsomeOtherSessionToken/abc==".repeat(3) };
    const out = refused(await handler()(intercepted("POST", STS, stsBotocore(FORM, otherToken).headers, FORM)));
    expect([out.status, out.leak]).toEqual([403, undefined]);
  });

  it("refuses a signature made with another secret, and a signed header changed after signing", async () => {
    const wrongSecret = { ...PLACEHOLDER, secretAccessKey: "another/secret+abcdefghijklmnopqrstuvwxyz0" };
    expect(refused(await handler()(intercepted("POST", STS, stsBotocore(FORM, wrongSecret).headers, FORM))).status).toBe(403);
    const req = stsBotocore();
    const headers = { ...req.headers, "content-type": "text/plain" };
    expect(refused(await handler()(intercepted("POST", STS, headers, FORM))).status).toBe(403);
  });

  it("refuses a clock skew over 15 minutes either way", async () => {
    const old = await smithyS3Put({ "x-amz-content-sha256": "UNSIGNED-PAYLOAD" }, PLACEHOLDER, new Date(Date.now() - 16 * 60_000));
    expect(refused(await handler()(intercepted("PUT", S3_URL, old))).status).toBe(403);
    const fresh = await smithyS3Put({ "x-amz-content-sha256": "UNSIGNED-PAYLOAD" });
    const ahead = handler({ now: () => new Date(Date.now() - 16 * 60_000) });
    expect(refused(await ahead(intercepted("PUT", S3_URL, fresh))).status).toBe(403);
    const within = handler({ now: () => new Date(Date.now() + 10 * 60_000) });
    accepted(await within(intercepted("PUT", S3_URL, fresh)));
  });
});

describe("tripwire", () => {
  it("a placeholder in a buffered body is a leak", async () => {
    const body = `Action=GetCallerIdentity&Version=2011-06-15&X=${encodeURIComponent(PLACEHOLDER.secretAccessKey)}`;
    const out = refused(await handler()(intercepted("POST", STS, stsBotocore(body).headers, body)));
    expect(out.leak).toEqual({ credential: "aws", where: "body" });
  });

  it("a placeholder split across streamed chunks errors the body with a LeakError", async () => {
    const headers = await smithyS3Put({ "x-amz-content-sha256": "UNSIGNED-PAYLOAD" });
    const token = PLACEHOLDER.sessionToken;
    const parts = [Buffer.alloc(70_000, "a"), Buffer.from(`x${token.slice(0, 17)}`), Buffer.from(`${token.slice(17)}y`)];
    const out = accepted(await handler()(intercepted("PUT", S3_URL, headers, Readable.from(parts))));
    const error = await collect(out.body).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(LeakError);
    for (const value of VALUES) expect(String((error as Error).message)).not.toContain(value);
  });

  it("a placeholder in the path, another header or an unsigned request is a leak", async () => {
    const headers = await smithyS3Put({ "x-amz-content-sha256": "UNSIGNED-PAYLOAD" });
    const inPath = refused(await handler()(intercepted("GET", `https://bucket.s3.amazonaws.com/${PLACEHOLDER.accessKeyId.toLowerCase()}`, headers)));
    expect(inPath.leak).toEqual({ credential: "aws", where: "path" });
    const inHeader = refused(await handler()(intercepted("PUT", S3_URL, { ...headers, "x-note": PLACEHOLDER.sessionToken })));
    expect(inHeader.leak?.where).toBe("header");
    const secretInAuth = refused(await handler()(intercepted("PUT", S3_URL, { ...headers, authorization: `${headers.authorization} ${PLACEHOLDER.secretAccessKey}` })));
    expect(secretInAuth.leak?.where).toBe("header");
    const unsignedToken = refused(await handler()(intercepted("GET", S3_URL, { host: "bucket.s3.amazonaws.com", "x-amz-security-token": PLACEHOLDER.sessionToken })));
    expect(unsignedToken.leak?.where).toBe("header");
  });

  it("an unsigned request without placeholders goes through unchanged and unsigned", async () => {
    const out = accepted(await handler()(intercepted("GET", "https://public.s3.amazonaws.com/file.txt", { host: "public.s3.amazonaws.com" })));
    expect(out.headers).toEqual({ host: "public.s3.amazonaws.com" });
    expect(out.rule).toBeNull();
  });
});
