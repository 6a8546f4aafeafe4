/**
 * The tripwire on a request's head: a session placeholder (or real value) in the path, the query,
 * or a header is a leak unless a rule for this host owns that exact place for that credential
 * (GitHub's Authorization on its hosts, an env entry's header or parameter on its hosts). A
 * credential with no rule for the host at all is reported as seen on the wrong host.
 */
import type { Needle } from "./needles.js";
import { findNeedle } from "./needles.js";

export type LeakPlace = "host" | "path" | "query" | "header";

/** Where one rule on this host lets its credential's placeholder be. */
export interface OwnedPlaces {
  credential: string;
  /** Lower-case header names. */
  headers: readonly string[];
  /** Query parameter names, as decoded. */
  query: readonly string[];
}

export interface HeadLeak {
  credential: string;
  where: LeakPlace;
  real: boolean;
}

export interface RequestHead {
  path: string;
  headers: Record<string, string | string[]>;
}

/** Percent-decoded, or the text itself when it is not valid percent-encoding. */
export function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

/** A Basic credential's decoded `user:password`, or undefined when the value is not one. */
export function basicDecoded(value: string): string | undefined {
  const match = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
  return match ? Buffer.from(match[1]!, "base64").toString("utf8") : undefined;
}

/** The texts to search in a header value: as sent, and a Basic credential decoded. */
function headerTexts(value: string): string[] {
  const decoded = basicDecoded(value);
  return decoded === undefined ? [value] : [value, decoded];
}

export function scanHead(request: RequestHead, needles: readonly Needle[], owned: readonly OwnedPlaces[]): HeadLeak | undefined {
  const ruled = new Set(owned.map((place) => place.credential));
  const leak = (needle: Needle | undefined, where: LeakPlace): HeadLeak | undefined =>
    needle && { credential: needle.credential, where: needle.real || ruled.has(needle.credential) ? where : "host", real: needle.real };
  // A real value is never owned: the box should not hold one at all.
  const ownedBy = (kind: "headers" | "query", name: string) => (needle: Needle) =>
    !needle.real && owned.some((place) => place.credential === needle.credential && place[kind].includes(name));

  const queryAt = request.path.indexOf("?");
  const path = queryAt < 0 ? request.path : request.path.slice(0, queryAt);
  const query = queryAt < 0 ? "" : request.path.slice(queryAt + 1);
  const inPath = leak(findNeedle(path, needles) ?? findNeedle(percentDecoded(path), needles), "path");
  if (inPath) return inPath;
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    const name = percentDecoded(eq < 0 ? pair : pair.slice(0, eq));
    const skip = ownedBy("query", name);
    const found = leak(findNeedle(pair, needles, skip) ?? findNeedle(percentDecoded(pair), needles, skip), "query");
    if (found) return found;
  }
  for (const [name, raw] of Object.entries(request.headers)) {
    // h2's :path repeats the path (checked above, with the query's owned parameter); :authority is scanned.
    if (name === ":path") continue;
    const skip = ownedBy("headers", name.toLowerCase());
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      for (const text of headerTexts(value)) {
        const found = leak(findNeedle(text, needles, skip) ?? findNeedle(name, needles), "header");
        if (found) return found;
      }
    }
  }
  return undefined;
}
