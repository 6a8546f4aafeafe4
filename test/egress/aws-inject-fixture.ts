/**
 * Shared setup for the AWS injection tests: the placeholder and real credentials, the handler
 * under test, and requests signed by the box's signers with the placeholder credentials.
 */
import { expect } from "vitest";
import { awsInjectHandler } from "../../src/egress/aws-inject-handler.js";
import type { InterceptOutcome } from "../../src/egress/inject-types.js";
import { botocoreSign, smithySigner, type Creds } from "./aws-sigv4-check.js";

export const PLACEHOLDER: Creds = {
  accessKeyId: "ASIAPLACEHOLDER7Q2ZX",
  secretAccessKey: "pLaCeHoLdEr/SeCrEt+0123456789abcdefghijk",
  sessionToken: "IQoJb3JpZ2luX2VjEPlaceholderToken/abc+def==".repeat(4),
};
export const REAL: Creds = {
  accessKeyId: "ASIAREALKEY000000001",
  secretAccessKey: "rEaL/SeCrEt+abcdefghijklmnopqrstuvwxyz0123",
  sessionToken: "IQoJb3JpZ2luX2VjERealSessionToken/xyz+uvw==".repeat(4),
};
export const VALUES = [...Object.values(PLACEHOLDER), ...Object.values(REAL)];
export const STS = "https://sts.us-east-1.amazonaws.com/";
export const FORM = "Action=GetCallerIdentity&Version=2011-06-15";

export function handler(over: Partial<Parameters<typeof awsInjectHandler>[0]> = {}) {
  return awsInjectHandler({ placeholder: PLACEHOLDER, real: () => REAL, ...over });
}

export function accepted(outcome: InterceptOutcome): Extract<InterceptOutcome, { ok: true }> {
  if (!outcome.ok) throw new Error(`refused ${outcome.status}: ${outcome.message}`);
  return outcome;
}

/** A refusal, checked to name no credential value and no signature. */
export function refused(outcome: InterceptOutcome): Extract<InterceptOutcome, { ok: false }> {
  if (outcome.ok) throw new Error("expected a refusal");
  for (const value of VALUES) expect(outcome.message).not.toContain(value);
  expect(outcome.message).not.toMatch(/[0-9a-f]{64}/);
  return outcome;
}

export function stsBotocore(body = FORM, creds: Creds = PLACEHOLDER) {
  return botocoreSign({
    kind: "sts",
    service: "sts",
    akid: creds.accessKeyId,
    secret: creds.secretAccessKey,
    token: creds.sessionToken,
    method: "POST",
    url: STS,
    body,
    headers: { "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" },
  });
}

export async function smithyS3Put(headers: Record<string, string>, creds: Creds = PLACEHOLDER, signingDate = new Date()) {
  const signed = await smithySigner(creds, "s3").sign(
    { method: "PUT", protocol: "https:", hostname: "bucket.s3.amazonaws.com", path: "/dir/a%20key.bin", query: {}, headers: { host: "bucket.s3.amazonaws.com", ...headers } },
    { signingDate },
  );
  return signed.headers as Record<string, string>;
}
export const S3_URL = "https://bucket.s3.amazonaws.com/dir/a%20key.bin";
