/**
 * Checks a secret before it is stored and returns its canonical value. A mistake is cheaper to
 * fix here than as an AccessDenied from AWS an hour later. Messages say what to fix and never
 * echo the value (nor JSON.parse's message, which quotes the input).
 */
import { createPrivateKey } from "node:crypto";
import { BrokerError } from "../errors.js";
import { INTERNAL_PREFIX, SECRET_NAME, SECRET_TYPES, type SecretType } from "./secret-store.js";

/** Keychains are not meant for bulk data; anything bigger is almost surely the wrong input. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Long-term (AKIA) or temporary (ASIA) access key ids: the prefix and 16 base32 characters. */
const ACCESS_KEY_ID = /^(AKIA|ASIA)[A-Z2-7]{16}$/;
const SECRET_ACCESS_KEY = /^[A-Za-z0-9/+]{40}$/;
const SESSION_TOKEN = /^[A-Za-z0-9/+=]{16,}$/;
const APP_ID = /^[1-9][0-9]{0,19}$/;
const PEM_RSA = /^-----BEGIN (RSA PRIVATE KEY|PRIVATE KEY)-----\n[\s\S]+\n-----END \1-----$/;

function invalid(message: string, fix: string): BrokerError {
  return new BrokerError("ERR_INVALID_SECRET", message, { fix });
}

/** A user-chosen name: SECRET_NAME, and not one the broker keeps for itself. */
export function validateSecretName(name: string | undefined): string {
  if (name === undefined || name === "") {
    throw new BrokerError("ERR_USAGE", "a secret NAME is required", { fix: "usage: broker secret set|rm NAME" });
  }
  // The name is not echoed: a value pasted in the wrong place must not be printed back.
  if (!SECRET_NAME.test(name)) {
    throw invalid("the secret name is not valid", "use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
  if (name.startsWith(INTERNAL_PREFIX)) {
    throw invalid(`names starting with "${INTERNAL_PREFIX}" are reserved for the broker`, "choose another name");
  }
  return name;
}

export function parseSecretType(type: string | undefined): SecretType {
  if (type === undefined || type === "") {
    throw new BrokerError("ERR_USAGE", "--type is required", { fix: `use --type ${SECRET_TYPES.join("|")}` });
  }
  if (!(SECRET_TYPES as readonly string[]).includes(type)) {
    throw new BrokerError("ERR_USAGE", `unknown secret type "${type}"`, { fix: `use --type ${SECRET_TYPES.join("|")}` });
  }
  return type as SecretType;
}

/** Returns the value to store for `type`, or throws ERR_INVALID_SECRET saying what to fix. */
export function validateSecret(type: SecretType, raw: string): string {
  if (Buffer.byteLength(raw) > MAX_SECRET_BYTES) {
    throw invalid(`the value is larger than ${MAX_SECRET_BYTES / 1024} KiB`, "check that the right input was given");
  }
  switch (type) {
    case "aws":
      return validateAws(raw);
    case "github-app":
      return validateGithubApp(raw);
    case "generic":
      return validateGeneric(raw);
  }
}

function parseObject(raw: string, shape: string, allowed: readonly string[]): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalid("the value is not valid JSON", `give a JSON object ${shape}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid("the value is not a JSON object", `give a JSON object ${shape}`);
  }
  const extra = Object.keys(value).filter((key) => !allowed.includes(key));
  if (extra.length > 0) {
    throw invalid(`unexpected field ${extra.map((k) => JSON.stringify(k)).join(", ")}`, `give only ${shape}`);
  }
  return value as Record<string, unknown>;
}

function validateAws(raw: string): string {
  const shape = '{"accessKeyId","secretAccessKey"} (and "sessionToken" for ASIA keys)';
  const o = parseObject(raw, shape, ["accessKeyId", "secretAccessKey", "sessionToken"]);
  const { accessKeyId, secretAccessKey, sessionToken } = o;
  if (typeof accessKeyId !== "string" || !ACCESS_KEY_ID.test(accessKeyId)) {
    throw invalid(
      "accessKeyId is not an AWS access key id",
      "it is 20 characters: AKIA (long-term) or ASIA (temporary) followed by 16 of A-Z and 2-7",
    );
  }
  if (typeof secretAccessKey !== "string" || !SECRET_ACCESS_KEY.test(secretAccessKey)) {
    throw invalid("secretAccessKey is not an AWS secret access key", "it is exactly 40 characters of A-Z, a-z, 0-9, '/' and '+'");
  }
  const temporary = accessKeyId.startsWith("ASIA");
  if (sessionToken === undefined) {
    if (temporary) throw invalid("an ASIA (temporary) access key needs its sessionToken", 'add "sessionToken" to the JSON');
    return JSON.stringify({ accessKeyId, secretAccessKey });
  }
  if (!temporary) {
    throw invalid("sessionToken is given with a long-term (AKIA) access key", 'drop "sessionToken"; only ASIA keys have one');
  }
  if (typeof sessionToken !== "string" || !SESSION_TOKEN.test(sessionToken)) {
    throw invalid("sessionToken is not an AWS session token", "give the token exactly as STS returned it (base64 characters)");
  }
  return JSON.stringify({ accessKeyId, secretAccessKey, sessionToken });
}

function validateGithubApp(raw: string): string {
  const shape = '{"appId","privateKey"}';
  const o = parseObject(raw, shape, ["appId", "privateKey"]);
  const appId = typeof o.appId === "number" && Number.isSafeInteger(o.appId) ? String(o.appId) : o.appId;
  if (typeof appId !== "string" || !APP_ID.test(appId)) {
    throw invalid("appId is not a GitHub App id", "give the numeric App ID from the app's settings page (not the client id)");
  }
  if (typeof o.privateKey !== "string") {
    throw invalid("privateKey is missing", "give the app's private key (.pem) as a string");
  }
  return JSON.stringify({ appId, privateKey: checkRsaPem(o.privateKey) });
}

/** Returns the PEM normalised (LF line ends, one trailing newline) if it is an unencrypted RSA key. */
export function checkRsaPem(pem: string): string {
  const fix = "give the .pem GitHub generated for the app (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)";
  const text = pem.replace(/\r\n/g, "\n").trim();
  if (!PEM_RSA.test(text)) throw invalid("privateKey is not a PEM private key", fix);
  let type: string | undefined;
  try {
    type = createPrivateKey({ key: text, format: "pem" }).asymmetricKeyType;
  } catch {
    throw invalid("privateKey could not be read as a private key (damaged or encrypted)", fix);
  }
  if (type !== "rsa") throw invalid(`privateKey is a ${type ?? "non-RSA"} key, not RSA`, fix);
  return `${text}\n`;
}

function validateGeneric(raw: string): string {
  const value = raw.endsWith("\r\n") ? raw.slice(0, -2) : raw.endsWith("\n") ? raw.slice(0, -1) : raw;
  if (value === "") throw invalid("the value is empty", "pipe the value on stdin or type it at the prompt");
  return value;
}
