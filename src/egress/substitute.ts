/**
 * Putting a real value where its placeholder stands in a header or a query parameter, only in
 * the exact form the rule names (`Bearer {value}`), or as the password (or user) of a Basic
 * credential, which is how git and many SDKs send a token. Anything else that carries the
 * placeholder in that place is refused: a rule never guesses what a value means.
 */
import { basicDecoded, percentDecoded } from "./request-tripwire.js";

export type Substituted = { kind: "replaced"; value: string } | { kind: "absent" } | { kind: "malformed" };

/** `format` around the value: "Bearer {value}" → ["Bearer ", ""]. */
function around(format: string): [string, string] {
  const at = format.indexOf("{value}");
  return [format.slice(0, at), format.slice(at + "{value}".length)];
}

/** A Basic credential with the placeholder as its password (or its user) → the same with the real value. */
export function substituteBasic(value: string, placeholder: string, real: string, user?: string): Substituted {
  const decoded = basicDecoded(value);
  if (decoded === undefined) return value.includes(placeholder) ? { kind: "malformed" } : { kind: "absent" };
  const colon = decoded.indexOf(":");
  const [name, password] = colon < 0 ? [decoded, ""] : [decoded.slice(0, colon), decoded.slice(colon + 1)];
  const encode = (text: string) => ({ kind: "replaced" as const, value: `Basic ${Buffer.from(text, "utf8").toString("base64")}` });
  if (password === placeholder) return encode(`${user ?? name}:${real}`);
  if (name === placeholder && user === undefined) return encode(`${real}:${password}`);
  return decoded.includes(placeholder) ? { kind: "malformed" } : { kind: "absent" };
}

export function substituteHeaderValue(value: string, format: string, placeholder: string, real: string): Substituted {
  const [before, after] = around(format);
  if (value === `${before}${placeholder}${after}`) return { kind: "replaced", value: `${before}${real}${after}` };
  if (/^\s*basic\s/i.test(value)) return substituteBasic(value, placeholder, real);
  return value.includes(placeholder) ? { kind: "malformed" } : { kind: "absent" };
}

/** Substitutes in every value of `name` (a repeated header is substituted in each). */
export function substituteHeader(
  headers: Record<string, string | string[]>,
  name: string,
  change: (value: string) => Substituted,
): { headers: Record<string, string | string[]>; result: "replaced" | "absent" | "malformed" } {
  const raw = headers[name];
  if (raw === undefined) return { headers, result: "absent" };
  const results = (Array.isArray(raw) ? raw : [raw]).map(change);
  if (results.some((r) => r.kind === "malformed")) return { headers, result: "malformed" };
  if (!results.some((r) => r.kind === "replaced")) return { headers, result: "absent" };
  const values = results.map((r, i) => (r.kind === "replaced" ? r.value : (Array.isArray(raw) ? raw : [raw])[i]!));
  return { headers: { ...headers, [name]: Array.isArray(raw) ? values : values[0]! }, result: "replaced" };
}

/** The path with parameter `name`'s value substituted; other parameters keep their exact spelling. */
export function substituteQuery(path: string, name: string, format: string, placeholder: string, real: string): { path: string; result: "replaced" | "absent" | "malformed" } {
  const at = path.indexOf("?");
  if (at < 0) return { path, result: "absent" };
  const [before, after] = around(format);
  let result = "absent" as "replaced" | "absent" | "malformed";
  const pairs = path.slice(at + 1).split("&").map((pair) => {
    const eq = pair.indexOf("=");
    if (eq < 0 || percentDecoded(pair.slice(0, eq)) !== name) return pair;
    const value = percentDecoded(pair.slice(eq + 1));
    if (value === `${before}${placeholder}${after}`) {
      if (result === "absent") result = "replaced";
      return `${pair.slice(0, eq)}=${encodeURIComponent(`${before}${real}${after}`)}`;
    }
    if (value.includes(placeholder)) result = "malformed";
    return pair;
  });
  return result === "malformed" ? { path, result } : { path: `${path.slice(0, at)}?${pairs.join("&")}`, result };
}
