/** The one small interface every secret store implements. */

export const SECRET_TYPES = ["aws", "github-app", "generic"] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

export interface StoredSecret {
  type: SecretType;
  /** `aws` and `github-app`: canonical JSON; `generic`: the raw value. */
  value: string;
}

export interface SecretEntry {
  name: string;
  type: SecretType;
}

export interface SecretStore {
  readonly kind: "os" | "file";
  get(name: string): Promise<StoredSecret | null>;
  set(name: string, secret: StoredSecret): Promise<void>;
  /** Returns whether something was deleted. */
  delete(name: string): Promise<boolean>;
  /** Names and types only, sorted by name; internal entries are not listed. */
  list(): Promise<SecretEntry[]>;
}

/** Names the broker keeps for itself (e.g. the journal key) start with this and are never listed. */
export const INTERNAL_PREFIX = "_broker-";

/** A user-chosen secret name: starts with a letter or digit, then letters, digits, `.`, `_`, `-`. */
export const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export interface AwsSecretValue {
  accessKeyId: string;
  secretAccessKey: string;
  /** Present when the source is itself temporary (an ASIA key); caps AssumeRole at 1 h. */
  sessionToken?: string;
}

export interface GithubAppSecretValue {
  appId: string;
  privateKey: string;
}
