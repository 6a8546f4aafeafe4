/**
 * The stand-in's idea of an AWS account: long-term user keys added by tests, the temporary
 * credentials it issued, the roles it knows, and what each STS action does with them.
 */
import { createHash, randomBytes } from "node:crypto";
import { parseRoleArn, type StsAction, type StsParams } from "./sts-params.js";
import { sender, stsTimestamp, type XmlTree } from "./sts-wire.js";

/** Who signed a request: an IAM user, or a session STS issued. */
export interface Principal {
  kind: "user" | "assumed-role" | "federated-user" | "session-token";
  arn: string;
  userId: string;
  account: string;
  secretAccessKey: string;
  /** Temporary credentials only. */
  sessionToken?: string;
  expiresAt?: number;
  sourceIdentity?: string;
}

export interface StubRole {
  /** The role's MaxSessionDuration (IAM allows 3600–43200). Default 3600, as IAM gives a new role. */
  maxSessionDurationSeconds?: number;
  /** When set, AssumeRole must pass exactly this ExternalId (as a trust-policy condition would demand). */
  externalId?: string;
}

export interface AccountOptions {
  accountId: string;
  /** When given, only these roles may be assumed; otherwise any well-formed role ARN. */
  roles: Record<string, StubRole> | undefined;
  now: () => number;
  /** Overrides the lifetime of issued credentials (seconds), whatever DurationSeconds asked. */
  lifetimeSeconds: () => number | undefined;
}

/** IAM's MaxSessionDuration for a role nobody raised. */
export const DEFAULT_MAX_SESSION_DURATION_SECONDS = 3600;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function keyChars(count: number, seed?: string): string {
  const bytes = seed ? createHash("sha256").update(seed).digest() : randomBytes(count);
  return Array.from({ length: count }, (_, i) => BASE32[bytes[i % bytes.length]! % 32]).join("");
}

const accessDenied = (caller: Principal, action: StsAction, resource: string) =>
  sender("AccessDenied", `User: ${caller.arn} is not authorized to perform: sts:${action} on resource: ${resource}`, 403);

export class StsAccount {
  readonly keys = new Map<string, Principal>();

  constructor(private readonly options: AccountOptions) {}

  addUserKey(accessKeyId: string, secretAccessKey: string, userName: string): void {
    const account = this.options.accountId;
    this.keys.set(accessKeyId, {
      kind: "user",
      arn: `arn:aws:iam::${account}:user/${userName}`,
      userId: `AIDA${keyChars(17, `${account}:${userName}`)}`,
      account,
      secretAccessKey,
    });
  }

  handle(action: StsAction, p: StsParams, caller: Principal): XmlTree {
    if (caller.kind === "federated-user" && action !== "GetCallerIdentity") {
      throw accessDenied(caller, action, "*");
    }
    switch (action) {
      case "GetCallerIdentity":
        return { UserId: caller.userId, Account: caller.account, Arn: caller.arn };
      case "AssumeRole":
        return this.assumeRole(p, caller);
      case "GetFederationToken":
      case "GetSessionToken":
        return this.userToken(action, p, caller);
    }
  }

  private assumeRole(p: StsParams, caller: Principal): XmlTree {
    const roleArn = p.RoleArn!;
    const role = parseRoleArn(roleArn)!;
    const known = this.options.roles;
    const config = known ? known[roleArn] : {};
    if (!config || (config.externalId !== undefined && config.externalId !== p.ExternalId)) {
      throw accessDenied(caller, "AssumeRole", roleArn);
    }
    const duration = p.DurationSeconds ?? 3600;
    // STS counts any AssumeRole made with temporary credentials as role chaining.
    if (caller.kind !== "user" && duration > 3600) {
      throw sender(
        "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
      );
    }
    if (duration > (config.maxSessionDurationSeconds ?? DEFAULT_MAX_SESSION_DURATION_SECONDS)) {
      throw sender("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
    }
    const sessionName = p.RoleSessionName!;
    const roleId = `AROA${keyChars(17, roleArn)}`;
    const sourceIdentity = p.SourceIdentity ?? caller.sourceIdentity;
    const issued = this.issue(duration, {
      kind: "assumed-role",
      arn: `arn:${role.partition}:sts::${role.account}:assumed-role/${role.name}/${sessionName}`,
      userId: `${roleId}:${sessionName}`,
      account: role.account,
      ...(sourceIdentity === undefined ? {} : { sourceIdentity }),
    });
    return {
      SourceIdentity: sourceIdentity,
      AssumedRoleUser: { Arn: issued.principal.arn, AssumedRoleId: issued.principal.userId },
      Credentials: issued.xml,
    };
  }

  private userToken(action: "GetFederationToken" | "GetSessionToken", p: StsParams, caller: Principal): XmlTree {
    if (caller.kind !== "user") {
      throw sender("AccessDenied", `Cannot call ${action} with session credentials`, 403);
    }
    const duration = p.DurationSeconds ?? 43200;
    if (action === "GetSessionToken") {
      const issued = this.issue(duration, { kind: "session-token", arn: caller.arn, userId: caller.userId, account: caller.account });
      return { Credentials: issued.xml };
    }
    const issued = this.issue(duration, {
      kind: "federated-user",
      arn: `arn:aws:sts::${caller.account}:federated-user/${p.Name!}`,
      userId: `${caller.account}:${p.Name!}`,
      account: caller.account,
    });
    return {
      Credentials: issued.xml,
      FederatedUser: { Arn: issued.principal.arn, FederatedUserId: issued.principal.userId },
    };
  }

  private issue(
    durationSeconds: number,
    who: Omit<Principal, "secretAccessKey" | "sessionToken" | "expiresAt">,
  ): { principal: Principal; xml: XmlTree } {
    const lifetime = this.options.lifetimeSeconds() ?? durationSeconds;
    // Whole seconds, as STS reports them, so the Expiration a client sees is exactly when it stops working.
    const expiresAt = Math.floor((this.options.now() + lifetime * 1000) / 1000) * 1000;
    const accessKeyId = `ASIA${keyChars(16)}`;
    const principal: Principal = {
      ...who,
      secretAccessKey: randomBytes(30).toString("base64"),
      // Real tokens are long base64 with `+`, `/` and `=`: a fair test of every place that carries one.
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(240).toString("base64")}`,
      expiresAt,
    };
    this.keys.set(accessKeyId, principal);
    return {
      principal,
      xml: {
        AccessKeyId: accessKeyId,
        SecretAccessKey: principal.secretAccessKey,
        SessionToken: principal.sessionToken,
        Expiration: stsTimestamp(expiresAt),
      },
    };
  }
}
