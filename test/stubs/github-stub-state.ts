/** What the GitHub stand-in knows and remembers: installations, issued tokens, requests, faults. */
import { randomBytes, type KeyObject } from "node:crypto";

export type PermissionLevel = "read" | "write" | "admin";

export interface StubInstallation {
  id: number;
  account: { login: string; type: "Organization" | "User" };
  /** Names within `account.login` that the installation can see. */
  repositories: string[];
  /** What the installation was granted, e.g. `{contents: "write", metadata: "read"}`. */
  permissions: Record<string, PermissionLevel>;
  /** `all` (default): GitHub omits `repositories` from an unrestricted token's answer. */
  repositorySelection?: "all" | "selected";
}

/** classic: `ghs_` + 36 characters; stateless: GitHub's newer ~520-character `ghs_APPID_<JWT>` with dots. */
export type TokenFormat = "classic" | "stateless" | ((installation: StubInstallation) => string);

export interface IssuedToken {
  token: string;
  installationId: number;
  owner: string;
  /** Every repository name the token covers (the installation's, when the request named none). */
  repositories: string[];
  /** What the request body asked for, as sent (undefined when it named none). */
  requestedRepositories: string[] | undefined;
  requestedRepositoryIds: number[] | undefined;
  permissions: Record<string, PermissionLevel>;
  /** Epoch ms on the stub's clock. */
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** What the access_tokens route decided; the rest of an IssuedToken is the stub's. */
export type TokenScope = Pick<IssuedToken, "repositories" | "requestedRepositories" | "requestedRepositoryIds" | "permissions">;

export type AuthKind = "jwt" | "token" | "basic" | "none";

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The route template that matched (`POST /app/installations/{installation_id}/access_tokens`), or `unmatched`. */
  route: string;
  /** Set when the answer is sent. */
  status: number;
  auth: AuthKind;
  /** The credential of a request whose `auth` is `jwt` (the app JWT, as sent). */
  jwt?: string;
  /** Parsed JSON body of REST calls. */
  body?: unknown;
}

export interface Fault {
  status: number;
  headers?: Record<string, string>;
  message?: string;
  /** Never answer (until the stub closes): a hung API. */
  hang?: boolean;
}

export const LEVEL_RANK: Record<string, number> = { read: 1, write: 2, admin: 3 };

export class StubState {
  readonly tokens: IssuedToken[] = [];
  readonly requests: RecordedRequest[] = [];
  clockSkewSeconds: number;
  tokenLifetimeSeconds: number;
  private readonly faults = new Map<string, Fault[]>();
  private readonly repositoryIds = new Map<string, number>();

  constructor(
    readonly appId: number,
    readonly publicKey: KeyObject,
    readonly installations: StubInstallation[],
    readonly tokenFormat: TokenFormat,
    options: { clockSkewSeconds: number; tokenLifetimeSeconds: number },
  ) {
    this.clockSkewSeconds = options.clockSkewSeconds;
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds;
    let next = 1000;
    for (const i of installations) for (const name of i.repositories) this.repositoryIds.set(repoKey(i.account.login, name), next++);
  }

  /** The stub's clock, shifted by `clockSkewSeconds` (positive: GitHub is ahead of this machine). */
  now(): number {
    return Date.now() + this.clockSkewSeconds * 1000;
  }

  addFault(route: string, fault: Fault, times: number): void {
    const queue = this.faults.get(route) ?? [];
    for (let n = 0; n < times; n++) queue.push(fault);
    this.faults.set(route, queue);
  }

  takeFault(route: string): Fault | undefined {
    return this.faults.get(route)?.shift();
  }

  repositoryId(owner: string, name: string): number | undefined {
    return this.repositoryIds.get(repoKey(owner, name));
  }

  repositoryJson(owner: string, name: string): Record<string, unknown> {
    return { id: this.repositoryId(owner, name), name, full_name: `${owner}/${name}`, owner: { login: owner }, private: true };
  }

  installationById(id: number): StubInstallation | undefined {
    return this.installations.find((i) => i.id === id);
  }

  installationJson(i: StubInstallation): Record<string, unknown> {
    return {
      id: i.id,
      app_id: this.appId,
      account: { login: i.account.login, type: i.account.type },
      target_type: i.account.type,
      repository_selection: i.repositorySelection ?? "all",
      permissions: i.permissions,
      access_tokens_url: `/app/installations/${i.id}/access_tokens`,
    };
  }

  issueToken(installation: StubInstallation, scope: TokenScope): IssuedToken {
    const issuedAt = this.now();
    const record: IssuedToken = {
      token: this.newTokenValue(installation),
      installationId: installation.id,
      owner: installation.account.login,
      ...scope,
      issuedAt,
      // GitHub's expires_at has whole seconds.
      expiresAt: Math.floor((issuedAt + this.tokenLifetimeSeconds * 1000) / 1000) * 1000,
      revokedAt: null,
    };
    this.tokens.push(record);
    return record;
  }

  /** A token that works now: issued here, not revoked, not expired on the stub's clock. */
  liveToken(value: string): IssuedToken | undefined {
    const record = this.tokens.find((t) => t.token === value);
    return record && record.revokedAt === null && record.expiresAt > this.now() ? record : undefined;
  }

  private newTokenValue(installation: StubInstallation): string {
    if (typeof this.tokenFormat === "function") return this.tokenFormat(installation);
    if (this.tokenFormat === "classic") return `ghs_${alphanumeric(36)}`;
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const header = part({ alg: "RS256", typ: "JWT" });
    const payload = part({ iss: this.appId, ins: installation.id, n: alphanumeric(24), exp: Math.floor(this.now() / 1000) + 3600 });
    return `ghs_${this.appId}_${header}.${payload}.${randomBytes(280).toString("base64url")}`.slice(0, 520);
  }
}

function repoKey(owner: string, name: string): string {
  return `${owner.toLowerCase()}/${name.toLowerCase()}`;
}

function alphanumeric(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join("");
}
