/**
 * The AWS tripwire: where the placeholder access key id, secret or session token shows up outside
 * its one proper place (the key id in the credential scope, the token as the whole security-token
 * value; the secret nowhere at all), the request is a leak, not a request to re-sign.
 */
import type { AwsCredentials } from "./sigv4-resign.js";
import { uriEncode } from "./sigv4-verify.js";
import { headerValue, type QueryPair } from "./sigv4-parse.js";

export type LeakPlace = "host" | "path" | "query" | "header";

/** The forms a value takes in text: as is, percent-encoded (either hex case), JSON-escaped, lower case. */
export function needleForms(values: string[]): string[] {
  const forms = new Set<string>();
  for (const value of values) {
    if (value.length < 8) continue; // too short to tell from ordinary text; placeholders are far longer
    const encoded = uriEncode(value);
    for (const form of [value, encoded, encoded.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()), value.replace(/\//g, "\\/")]) {
      forms.add(form);
      forms.add(form.toLowerCase());
    }
  }
  return [...forms];
}

function placeholderValues(p: AwsCredentials): string[] {
  return [p.accessKeyId, p.secretAccessKey, p.sessionToken];
}

/** A case-insensitive matcher for text (host, path, query, headers). */
export function textMatcher(placeholder: AwsCredentials): (text: string) => boolean {
  const needles = needleForms(placeholderValues(placeholder)).map((n) => n.toLowerCase());
  return (text) => {
    const lower = text.toLowerCase();
    return needles.some((needle) => lower.includes(needle));
  };
}

/** Byte needles for the body scan. */
export function bodyNeedles(placeholder: AwsCredentials): Buffer[] {
  return needleForms(placeholderValues(placeholder)).map((n) => Buffer.from(n));
}

function removeOnce(text: string, what: string): string {
  const at = text.indexOf(what);
  return at < 0 ? text : text.slice(0, at) + text.slice(at + what.length);
}

/** The first place outside the body where a placeholder shows up where it should not; null when none. */
export function placeholderOutOfPlace(
  placeholder: AwsCredentials,
  matches: (text: string) => boolean,
  request: { host: string; path: string; pairs: QueryPair[]; headers: Record<string, string | string[]> },
): LeakPlace | null {
  if (matches(request.host)) return "host";
  if (matches(request.path)) return "path";
  for (const pair of request.pairs) {
    let value = pair.value;
    if (pair.name === "X-Amz-Credential") value = removeOnce(value, `${placeholder.accessKeyId}/`);
    if (pair.name === "X-Amz-Security-Token" && value === placeholder.sessionToken) value = "";
    // The raw form too (unless it holds the allowed value): a value could hide behind an encoding.
    const rawToo = value === pair.value;
    if (matches(pair.name) || matches(value) || (rawToo && matches(pair.raw))) return "query";
  }
  for (const name of Object.keys(request.headers)) {
    // h2 pseudo-headers repeat the path (read above, where a presigned credential is in place).
    if (name.startsWith(":") && name !== ":authority") continue;
    let value = headerValue(request.headers, name) ?? "";
    if (name === "authorization") value = removeOnce(value, `Credential=${placeholder.accessKeyId}/`);
    if (name === "x-amz-security-token" && value === placeholder.sessionToken) value = "";
    if (matches(name) || matches(value)) return "header";
  }
  return null;
}
