/**
 * What the tripwire looks for: each placeholder and each real value, as written and in the
 * encodings a request could carry it in without a client meaning to hide it (percent-encoding,
 * base64 and base64url at each of the three byte alignments, as in Basic auth or a JSON blob).
 */
import type { PlaceholderEntry } from "./placeholder-registry.js";

export interface Needle {
  credential: string;
  text: string;
  /** A real value rather than a placeholder: a leak wherever it is seen. */
  real: boolean;
}

/** Real values shorter than this are not searched for: they would match by chance. */
export const MIN_SCANNED_REAL = 12;

/** The part of base64(prefix + text) that depends on `text` alone, for each of 0, 1, 2 bytes before it. */
function base64Forms(text: string): string[] {
  const bytes = Buffer.from(text, "utf8");
  const forms: string[] = [];
  for (const offset of [0, 1, 2]) {
    const total = offset + bytes.length;
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64");
    // The first group mixes in the bytes before; a partial last group, the bytes after.
    forms.push(encoded.slice(offset === 0 ? 0 : 4, Math.floor(total / 3) * 4));
  }
  return forms;
}

/** The text and its encoded forms, each at least 16 characters (shorter forms are dropped rather than matched by chance). */
export function encodedForms(text: string): string[] {
  const percent = encodeURIComponent(text);
  const b64 = base64Forms(text);
  const forms = [text, percent, percent.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()), ...b64, ...b64.map((f) => f.replace(/\+/g, "-").replace(/\//g, "_"))];
  return [...new Set(forms)].filter((form, i) => i === 0 || form.length >= 16);
}

/** The needles of a request: `reals` are the values read for this request, in the order of `entries`. */
export function needlesOf(entries: readonly PlaceholderEntry[], reals: readonly string[]): Needle[] {
  const needles: Needle[] = [];
  entries.forEach((entry, i) => {
    for (const text of encodedForms(entry.value)) needles.push({ credential: entry.credential, text, real: false });
    const real = reals[i] ?? "";
    if (real.length >= MIN_SCANNED_REAL) for (const text of encodedForms(real)) needles.push({ credential: entry.credential, text, real: true });
  });
  return needles;
}

/** The first needle in `haystack` (real values first: they are the worse leak). */
export function findNeedle(haystack: string, needles: readonly Needle[], skip?: (needle: Needle) => boolean): Needle | undefined {
  let found: Needle | undefined;
  for (const needle of needles) {
    if (skip?.(needle) || !haystack.includes(needle.text)) continue;
    if (needle.real) return needle;
    found ??= needle;
  }
  return found;
}
