/**
 * The stand-ins a boxed command holds instead of its session's credentials. Each is shaped like
 * what it replaces (so clients that check a token's form accept it) and random enough that it
 * cannot be guessed or occur by chance, which is what lets the tripwire treat any sighting of
 * one outside its rule as a leak. None is a substring of another or of a real value, so a
 * sighting always names one credential.
 */
import { randomBytes, randomInt } from "node:crypto";
import { BrokerError } from "../errors.js";

export interface AwsPlaceholders {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
}

/** What a session needs placeholders for. */
export interface PlaceholderKinds {
  github?: boolean;
  aws?: boolean;
  /** Per env name: `shapeOf` (the real value) for `placeholder: shaped`, else the default form. */
  env?: Record<string, { shapeOf?: string }>;
  /** The session's real values: no placeholder may equal or contain one, nor be contained in one. */
  reals?: readonly string[];
}

/** The placeholders themselves: what the box holds in place of each injected credential. */
export type PlaceholderValues = Omit<SessionPlaceholders, "fallbacks">;

export interface SessionPlaceholders {
  github?: string;
  aws?: AwsPlaceholders;
  env: Record<string, string>;
  /** Why an entry that asked for `placeholder: shaped` got the default form instead (names only, never a value). */
  fallbacks: string[];
}

/** Below this a placeholder could be guessed; the AWS access key id alone (80 bits) is the one exception. */
export const MIN_PLACEHOLDER_BITS = 128;
/** Reals shorter than this are not checked for containing a placeholder's text (a 3-letter value is in everything). */
const MIN_CONTAINED_REAL = 8;
const MAX_ATTEMPTS = 16;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const AWS_SECRET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS = "0123456789";
/** An STS session token's typical length; its bytes are opaque to clients. */
const SESSION_TOKEN_BYTES = 267; // 356 base64 characters

/** `length` characters drawn uniformly from `alphabet` (randomInt: no modulo bias). */
function drawn(alphabet: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** A GitHub installation token's form: `ghs_` and 36 base62 characters (214 bits). */
export function githubPlaceholder(): string {
  return `ghs_${drawn(BASE62, 36)}`;
}

/** Temporary credentials' form: the key id has 80 random bits, the secret 240, the token 2136. */
export function awsPlaceholders(): AwsPlaceholders {
  return {
    accessKeyId: `ASIA${drawn(BASE32, 16)}`,
    secretAccessKey: drawn(AWS_SECRET, 40),
    sessionToken: randomBytes(SESSION_TOKEN_BYTES).toString("base64"),
  };
}

/** `broker-ph-` and 43 base64url characters (258 bits): plainly a placeholder to whoever reads it. */
export function genericPlaceholder(): string {
  return `broker-ph-${randomBytes(32).toString("base64url").slice(0, 43)}`;
}

/** The bits of randomness a shaped placeholder of `real` would carry (characters other than letters and digits are kept). */
export function shapedBits(real: string): number {
  let bits = 0;
  for (const c of real) bits += LOWER.includes(c) ? Math.log2(26) : UPPER.includes(c) ? Math.log2(26) : DIGITS.includes(c) ? Math.log2(10) : 0;
  return bits;
}

/** Same length and per-character class as `real`: lower for lower, upper for upper, digit for digit, anything else kept. */
export function shapedPlaceholder(real: string): string {
  let out = "";
  for (const c of real) out += LOWER.includes(c) ? drawn(LOWER, 1) : UPPER.includes(c) ? drawn(UPPER, 1) : DIGITS.includes(c) ? drawn(DIGITS, 1) : c;
  return out;
}

/** One placeholder per slot, regenerated until none overlaps another or a real value. */
export function makePlaceholders(kinds: PlaceholderKinds): SessionPlaceholders {
  const fallbacks: string[] = [];
  const slots: Array<{ make: () => string; set: (value: string) => void }> = [];
  const result: SessionPlaceholders = { env: {}, fallbacks };
  if (kinds.github) slots.push({ make: githubPlaceholder, set: (v) => (result.github = v) });
  if (kinds.aws) {
    const aws = awsPlaceholders();
    result.aws = aws;
    slots.push({ make: () => awsPlaceholders().accessKeyId, set: (v) => (aws.accessKeyId = v) });
    slots.push({ make: () => awsPlaceholders().secretAccessKey, set: (v) => (aws.secretAccessKey = v) });
    slots.push({ make: () => awsPlaceholders().sessionToken, set: (v) => (aws.sessionToken = v) });
  }
  for (const [name, { shapeOf }] of Object.entries(kinds.env ?? {})) {
    let make = genericPlaceholder;
    if (shapeOf !== undefined) {
      const bits = Math.floor(shapedBits(shapeOf));
      if (bits >= MIN_PLACEHOLDER_BITS) make = () => shapedPlaceholder(shapeOf);
      else fallbacks.push(`env.${name}: a placeholder shaped like its value would carry only ${bits} random bits (at least ${MIN_PLACEHOLDER_BITS} needed); using the broker-ph- form`);
    }
    slots.push({ make, set: (v) => (result.env[name] = v) });
  }
  const reals = (kinds.reals ?? []).filter((real) => real.length > 0);
  const values = slots.map((slot) => slot.make());
  for (let attempt = 0; ; attempt++) {
    const clash = values.findIndex((value, i) => overlaps(value, i, values, reals));
    if (clash < 0) break;
    if (attempt >= MAX_ATTEMPTS) {
      throw new BrokerError("ERR_INTERNAL", "could not make placeholders distinct from each other and from the session's credentials", {
        fix: "a real value may be very short or repeat another; store a longer secret",
      });
    }
    values[clash] = slots[clash]!.make();
  }
  slots.forEach((slot, i) => slot.set(values[i]!));
  return result;
}

function overlaps(value: string, index: number, values: readonly string[], reals: readonly string[]): boolean {
  if (values.some((other, j) => j !== index && (other.includes(value) || value.includes(other)))) return true;
  return reals.some((real) => real === value || (real.length >= MIN_CONTAINED_REAL && value.includes(real)) || real.includes(value));
}
