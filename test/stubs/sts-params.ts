/**
 * What STS validates on each action's input, with its own error codes and message wording
 * ("1 validation error detected: Value '…' at 'roleSessionName' failed to satisfy constraint: …").
 * Limits from the STS API reference (AssumeRole, GetFederationToken, GetSessionToken).
 */
import { memberList, sender } from "./sts-wire.js";

export type StsAction = "AssumeRole" | "GetFederationToken" | "GetSessionToken" | "GetCallerIdentity";
export const STS_ACTIONS: readonly StsAction[] = ["AssumeRole", "GetFederationToken", "GetSessionToken", "GetCallerIdentity"];

export interface StsTag {
  Key: string;
  Value: string;
}

/** The recorded, parsed input of one call (only the members that were sent). */
export interface StsParams {
  RoleArn?: string;
  RoleSessionName?: string;
  Name?: string;
  DurationSeconds?: number;
  Policy?: string;
  PolicyArns?: string[];
  Tags?: StsTag[];
  TransitiveTagKeys?: string[];
  ExternalId?: string;
  SourceIdentity?: string;
  SerialNumber?: string;
  TokenCode?: string;
}

const NAME_PATTERN = /^[\w+=,.@-]*$/;
const EXTERNAL_ID_PATTERN = /^[\w+=,.@:/-]*$/;
const TAG_KEY_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u;
const TAG_VALUE_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const POLICY_PATTERN = /^[\t\n\r\u0020-\u00FF]+$/;

/** Reads the members an action takes from Query parameters; `DurationSeconds` must be an integer. */
export function readParams(params: Map<string, string>): StsParams {
  const out: StsParams = {};
  for (const name of ["RoleArn", "RoleSessionName", "Name", "Policy", "ExternalId", "SourceIdentity", "SerialNumber", "TokenCode"] as const) {
    const value = params.get(name);
    if (value !== undefined) out[name] = value;
  }
  const duration = params.get("DurationSeconds");
  if (duration !== undefined) {
    if (!/^-?\d{1,10}$/.test(duration)) throw sender("MalformedInput", `Invalid value for DurationSeconds: ${duration}`);
    out.DurationSeconds = Number(duration);
  }
  const arns = memberList(params, "PolicyArns", ".arn");
  if (arns.length > 0) out.PolicyArns = arns;
  const keys = memberList(params, "Tags", ".Key");
  if (keys.length > 0) out.Tags = keys.map((Key, i) => ({ Key, Value: params.get(`Tags.member.${i + 1}.Value`) ?? "" }));
  const transitive = memberList(params, "TransitiveTagKeys");
  if (transitive.length > 0) out.TransitiveTagKeys = transitive;
  return out;
}

class Problems {
  readonly list: string[] = [];
  add(field: string, value: unknown, constraint: string): void {
    const shown = value === undefined ? "null" : `'${String(value)}'`;
    this.list.push(`Value ${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
  }
  text(field: string, value: string | undefined, min: number, max: number, pattern?: RegExp, required = false): void {
    if (value === undefined) {
      if (required) this.add(field, undefined, "Member must not be null");
      return;
    }
    if (value.length < min) this.add(field, value, `Member must have length greater than or equal to ${min}`);
    if (value.length > max) this.add(field, value, `Member must have length less than or equal to ${max}`);
    if (pattern && !pattern.test(value)) {
      this.add(field, value, `Member must satisfy regular expression pattern: ${pattern.source.slice(1, -1)}`);
    }
  }
  range(field: string, value: number | undefined, min: number, max: number): void {
    if (value === undefined) return;
    if (value < min) this.add(field, value, `Member must have value greater than or equal to ${min}`);
    if (value > max) this.add(field, value, `Member must have value less than or equal to ${max}`);
  }
  throwIfAny(): void {
    const n = this.list.length;
    if (n > 0) {
      throw sender("ValidationError", `${n} validation error${n > 1 ? "s" : ""} detected: ${this.list.join("; ")}`);
    }
  }
}

/** Model-level validation (lengths, patterns, ranges), then the semantic checks STS makes on the input alone. */
export function validateParams(action: StsAction, p: StsParams): void {
  const problems = new Problems();
  const maxDuration = action === "AssumeRole" ? 43200 : 129600;
  problems.range("durationSeconds", p.DurationSeconds, 900, maxDuration);
  if (action === "AssumeRole") {
    problems.text("roleArn", p.RoleArn, 20, 2048, undefined, true);
    problems.text("roleSessionName", p.RoleSessionName, 2, 64, NAME_PATTERN, true);
    problems.text("externalId", p.ExternalId, 2, 1224, EXTERNAL_ID_PATTERN);
    problems.text("sourceIdentity", p.SourceIdentity, 2, 64, NAME_PATTERN);
  }
  if (action === "GetFederationToken") problems.text("name", p.Name, 2, 32, NAME_PATTERN, true);
  if (action !== "GetFederationToken") {
    problems.text("serialNumber", p.SerialNumber, 9, 256, /^[\w+=/:,.@-]*$/);
    problems.text("tokenCode", p.TokenCode, 6, 6, /^[\d]*$/);
  }
  if (action === "AssumeRole" || action === "GetFederationToken") {
    problems.text("policy", p.Policy, 1, 2048, POLICY_PATTERN);
    if (p.PolicyArns && p.PolicyArns.length > 10) {
      problems.add("policyArns", `[${p.PolicyArns.join(", ")}]`, "Member must have length less than or equal to 10");
    }
    p.PolicyArns?.forEach((arn, i) => problems.text(`policyArns.${i + 1}.member.arn`, arn, 20, 2048));
    if (p.Tags && p.Tags.length > 50) problems.add("tags", `${p.Tags.length} tags`, "Member must have length less than or equal to 50");
    p.Tags?.forEach((tag, i) => {
      problems.text(`tags.${i + 1}.member.key`, tag.Key, 1, 128, TAG_KEY_PATTERN);
      problems.text(`tags.${i + 1}.member.value`, tag.Value, 0, 256, TAG_VALUE_PATTERN);
    });
  }
  problems.throwIfAny();

  if (p.Policy !== undefined) {
    try {
      JSON.parse(p.Policy);
    } catch {
      throw sender("MalformedPolicyDocument", "The policy is not in the valid JSON format.");
    }
  }
  const lowerKeys = (p.Tags ?? []).map((t) => t.Key.toLowerCase());
  if (new Set(lowerKeys).size !== lowerKeys.length) {
    throw sender("InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive.");
  }
  if (p.TransitiveTagKeys?.some((k) => !lowerKeys.includes(k.toLowerCase()))) {
    throw sender("InvalidParameterValue", "The specified transitive tag key must be included in the requested tags.");
  }
  if (p.SourceIdentity?.toLowerCase().startsWith("aws:")) {
    throw sender("ValidationError", "SourceIdentity cannot start with the reserved prefix 'aws:'.");
  }
  if ((p.SerialNumber === undefined) !== (p.TokenCode === undefined)) {
    throw sender("ValidationError", "SerialNumber and TokenCode must be provided together.");
  }
  if (action === "AssumeRole" && p.RoleArn !== undefined && parseRoleArn(p.RoleArn) === null) {
    throw sender("ValidationError", `${p.RoleArn} is invalid`);
  }
}

export interface RoleArnParts {
  partition: string;
  account: string;
  name: string;
}

/** `arn:aws:iam::111122223333:role/path/name` → its parts; null when it is not a role ARN. */
export function parseRoleArn(arn: string): RoleArnParts | null {
  const m = /^arn:(aws[\w-]*):iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]{1,64})$/.exec(arn);
  return m ? { partition: m[1]!, account: m[2]!, name: m[3]! } : null;
}

