import { generateKeyPairSync, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors.js";
import { parseSecretType, validateSecret, validateSecretName } from "../../src/store/validate-secret.js";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
const pick = (alphabet: string, n: number): string => [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join("");
const keyId = (prefix = "AKIA"): string => prefix + pick(BASE32, 16);
const secretKey = (): string => pick(B64, 40);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof BrokerError) return error.code;
    throw error;
  }
  return undefined;
}

function errorOf(fn: () => unknown): BrokerError {
  try {
    fn();
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error("expected a BrokerError");
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const pkcs1 = rsa.privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const pkcs8 = rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const ecPem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();

describe("aws secrets", () => {
  it("accepts a long-term key and returns canonical JSON", () => {
    const id = keyId();
    const secret = secretKey();
    const value = validateSecret("aws", `  {"secretAccessKey":"${secret}","accessKeyId":"${id}"}\n`);
    expect(value).toBe(JSON.stringify({ accessKeyId: id, secretAccessKey: secret }));
  });

  it("accepts AWS's documented example key", () => {
    const value = '{"accessKeyId":"AKIAIOSFODNN7EXAMPLE","secretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}';
    expect(validateSecret("aws", value)).toBe(value);
  });

  it("accepts a temporary key with its session token", () => {
    const raw = { accessKeyId: keyId("ASIA"), secretAccessKey: secretKey(), sessionToken: `IQoJb3JpZ2luX2Vj${pick(B64, 300)}==` };
    expect(JSON.parse(validateSecret("aws", JSON.stringify(raw)))).toEqual(raw);
  });

  it.each([
    ["a lower-case key id", { accessKeyId: keyId().toLowerCase(), secretAccessKey: secretKey() }],
    ["a key id with 0, 1, 8 or 9 (not base32)", { accessKeyId: "AKIA0189" + pick(BASE32, 12), secretAccessKey: secretKey() }],
    ["a role id instead of a key id", { accessKeyId: keyId("AROA"), secretAccessKey: secretKey() }],
    ["a key id one character short", { accessKeyId: keyId().slice(0, 19), secretAccessKey: secretKey() }],
    ["a short secret", { accessKeyId: keyId(), secretAccessKey: secretKey().slice(0, 39) }],
    ["a secret with a space", { accessKeyId: keyId(), secretAccessKey: `${secretKey().slice(0, 39)} ` }],
    ["ASIA without a session token", { accessKeyId: keyId("ASIA"), secretAccessKey: secretKey() }],
    ["AKIA with a session token", { accessKeyId: keyId(), secretAccessKey: secretKey(), sessionToken: pick(B64, 200) }],
    ["an unknown field", { accessKeyId: keyId(), secretAccessKey: secretKey(), region: "us-east-1" }],
    ["a number as key id", { accessKeyId: 12, secretAccessKey: secretKey() }],
  ])("refuses %s", (_label, raw) => {
    expect(codeOf(() => validateSecret("aws", JSON.stringify(raw)))).toBe("ERR_INVALID_SECRET");
  });

  it("refuses text that is not JSON without quoting it", () => {
    const raw = `AKIA${pick(BASE32, 16)} ${secretKey()}`;
    const error = errorOf(() => validateSecret("aws", raw));
    expect(error.code).toBe("ERR_INVALID_SECRET");
    expect(`${error.message} ${error.fix}`).not.toContain(raw.slice(0, 12));
  });
});

describe("github-app secrets", () => {
  it.each([
    ["PKCS#1", pkcs1],
    ["PKCS#8", pkcs8],
  ])("accepts an RSA key in %s form", (_form, pem) => {
    const value = JSON.parse(validateSecret("github-app", JSON.stringify({ appId: "12345", privateKey: pem }))) as Record<string, string>;
    expect(value).toEqual({ appId: "12345", privateKey: pem.trim() + "\n" });
  });

  it("takes a numeric appId and stores it as a string", () => {
    const value = JSON.parse(validateSecret("github-app", JSON.stringify({ appId: 987, privateKey: pkcs1 }))) as Record<string, string>;
    expect(value.appId).toBe("987");
  });

  it.each([
    ["a non-numeric app id", { appId: "Iv1.abc123", privateKey: pkcs1 }],
    ["a zero app id", { appId: "0", privateKey: pkcs1 }],
    ["an EC key", { appId: "1", privateKey: ecPem }],
    ["garbage between PEM lines", { appId: "1", privateKey: "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n" }],
    ["a public key", { appId: "1", privateKey: rsa.publicKey.export({ type: "spki", format: "pem" }).toString() }],
    ["no key at all", { appId: "1" }],
    ["mismatched PEM labels", { appId: "1", privateKey: pkcs1.replace("END RSA PRIVATE KEY", "END PRIVATE KEY") }],
  ])("refuses %s", (_label, raw) => {
    expect(codeOf(() => validateSecret("github-app", JSON.stringify(raw)))).toBe("ERR_INVALID_SECRET");
  });
});

describe("generic secrets", () => {
  it("drops exactly one trailing newline", () => {
    expect(validateSecret("generic", "abc\n")).toBe("abc");
    expect(validateSecret("generic", "abc\r\n")).toBe("abc");
    expect(validateSecret("generic", "abc\n\n")).toBe("abc\n");
    expect(validateSecret("generic", " spaced ")).toBe(" spaced ");
  });

  it.each(["", "\n"])("refuses an empty value (%j)", (raw) => {
    expect(codeOf(() => validateSecret("generic", raw))).toBe("ERR_INVALID_SECRET");
  });

  it("refuses a value over the size limit", () => {
    expect(codeOf(() => validateSecret("generic", "x".repeat(64 * 1024 + 1)))).toBe("ERR_INVALID_SECRET");
  });
});

describe("names and types", () => {
  it.each(["openai", "aws-root", "A.b_c-9", "x".repeat(100)])("accepts the name %j", (name) => {
    expect(validateSecretName(name)).toBe(name);
  });

  it.each(["-lead", ".hidden", "has space", "slash/name", "x".repeat(101), "_broker-journal", "ünï"])("refuses the name %j", (name) => {
    expect(codeOf(() => validateSecretName(name))).toBe("ERR_INVALID_SECRET");
  });

  it("treats a missing name as a usage error", () => {
    expect(codeOf(() => validateSecretName(undefined))).toBe("ERR_USAGE");
  });

  it("knows the three types and nothing else", () => {
    expect(parseSecretType("aws")).toBe("aws");
    expect(parseSecretType("github-app")).toBe("github-app");
    expect(parseSecretType("generic")).toBe("generic");
    expect(codeOf(() => parseSecretType("ssh"))).toBe("ERR_USAGE");
    expect(codeOf(() => parseSecretType(undefined))).toBe("ERR_USAGE");
  });
});

describe("errors never carry the value", () => {
  const secretish = fc.string({ minLength: 16, maxLength: 80 }).filter((s) => s.trim().length >= 16);

  it.each(["aws", "github-app", "generic"] as const)("for any raw %s input", (type) => {
    fc.assert(
      fc.property(secretish, (raw) => {
        try {
          validateSecret(type, raw);
        } catch (error) {
          const e = error as BrokerError;
          expect(`${e.message}\n${e.fix}`).not.toContain(raw.trim());
        }
      }),
    );
  });

  it("for any secret access key inside otherwise valid JSON", () => {
    fc.assert(
      fc.property(secretish, (secret) => {
        try {
          validateSecret("aws", JSON.stringify({ accessKeyId: keyId(), secretAccessKey: secret }));
        } catch (error) {
          const e = error as BrokerError;
          expect(`${e.message}\n${e.fix}`).not.toContain(secret);
        }
      }),
    );
  });

  it("for a key id that is wrong", () => {
    fc.assert(
      fc.property(secretish, (id) => {
        const e = errorOf(() => validateSecret("aws", JSON.stringify({ accessKeyId: id, secretAccessKey: secretKey() })));
        expect(`${e.message}\n${e.fix}`).not.toContain(id);
      }),
    );
  });
});
