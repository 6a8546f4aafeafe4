/**
 * The provider seam: a provider turns a session's plan into one credential lease.
 * Refresh is just another mint; the session manager schedules it and revokes the old lease.
 */
import type { SessionPlan } from "../policy/types.js";
import type { SecretStore } from "../store/secret-store.js";

export type ProviderName = "aws" | "github" | "env";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** ISO 8601. */
  expiration: string;
  region: string;
}

export interface GithubCredentials {
  token: string;
  /** ISO 8601. */
  expiresAt: string;
  /** The GitHub web host for git and gh, e.g. `github.com` or `ghe.example.com:8443`. */
  host: string;
  /** Scheme of that host (`https`, or `http` for local stand-ins). */
  scheme: "http" | "https";
  repositories: string[];
  permissions: Record<string, string>;
}

export type EnvCredentials = Record<string, string>;

export interface CredentialsByProvider {
  aws: AwsCredentials;
  github: GithubCredentials;
  env: EnvCredentials;
}

/**
 * What must be kept to revoke a lease later, even by a restarted daemon that no longer has the
 * policy: self-contained and serialisable. It is stored in the journal encrypted.
 */
export interface RevokeHandle {
  provider: ProviderName;
  [key: string]: unknown;
}

export interface Lease<C> {
  credentials: C;
  /** Epoch ms when the credential stops working upstream; null when it lives as long as the session. */
  expiresAt: number | null;
  /** For audit lines: an AWS access key id, or the first 8 hex of SHA-256 of a token. */
  fingerprint: string;
  /** Every secret value inside `credentials`, for masking and leak checks. */
  secrets: string[];
  /** null: this credential cannot be revoked upstream (it stays valid until `expiresAt`). */
  revoke: RevokeHandle | null;
  /** Secret-free facts for the mint or refresh audit line (e.g. the STS duration asked and what bounded it). */
  audit?: Record<string, string | number>;
}

export interface MintRequest {
  sessionId: string;
  plan: SessionPlan;
  /** Epoch ms when the session ends. */
  sessionExpiresAt: number;
}

export interface Provider<N extends ProviderName = ProviderName> {
  readonly name: N;
  /** Whether this plan uses this provider at all. */
  applies(plan: SessionPlan): boolean;
  mint(request: MintRequest): Promise<Lease<CredentialsByProvider[N]>>;
}

/** Revokes a lease from its handle alone; throws a BrokerError when it could not. */
export type Revoker = (handle: RevokeHandle) => Promise<void>;

export interface ProviderDeps {
  store: SecretStore;
  now: () => number;
}
