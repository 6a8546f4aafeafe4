/**
 * The `aws:` section, checked against the limits STS itself applies to AssumeRole
 * (AWS STS API reference: AssumeRole, PolicyDescriptorType, Tag), so a policy that passes
 * here is not refused upstream for its shape.
 */
import { isMap, isScalar, isSeq } from "yaml";
import { boolean, duration, listOf, mapOf, secretName, text, upstreamUrl } from "./field-checks.js";
import type { AwsPolicy } from "./types.js";
import type { At, Check, Rules, Walk } from "./yaml-reader.js";
import { asMap, deref, describe, lineOf, readFields, report } from "./yaml-reader.js";

/** The longest role session STS grants (DurationSeconds, with the role's maximum raised to 12 h). */
export const STS_MAX_SESSION_SECONDS = 43_200;
/** STS's floor for DurationSeconds. */
export const STS_MIN_SESSION_SECONDS = 900;
/** Plain-text limit for the inline session policy and managed policy ARNs together. */
export const STS_MAX_POLICY_CHARS = 2048;
export const STS_MAX_POLICY_ARNS = 10;
export const STS_MAX_TAGS = 50;

export const AWS_REGION = /^[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}$/;
/** Any partition (aws, aws-cn, aws-us-gov, aws-iso…), an account, an optional path, a role name. */
export const ROLE_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\x21-\x7e]{1,510}\/)?[\w+=,.@-]{1,64}$/;
/** Customer managed (`::123456789012:policy/…`) or AWS managed (`::aws:policy/…`). */
export const POLICY_ARN = /^arn:aws(?:-[a-z]+)*:iam::(?:\d{12}|aws):policy\/(?:[\x21-\x7e]{1,510}\/)?[\w+=,.@-]{1,128}$/;
export const EXTERNAL_ID = /^[\w+=,.@:/-]+$/;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const POLICY_VERSIONS = ["2012-10-17", "2008-10-17"];
/** What STS accepts in a policy document: U+0020–U+00FF, tab, line feed, carriage return. */
const POLICY_CHARS = /^[\t\n\r\u0020-\u00ff]*$/;

const tagValue = text({
  min: 0,
  max: 256,
  pattern: TAG_TEXT,
  shape: "a session tag value: up to 256 letters, digits, spaces and _ . : / = + - @",
});

function tagKeyProblem(key: string): string | undefined {
  const length = [...key].length;
  if (length < 1 || length > 128) return `session tag keys must be 1 to 128 characters long, found ${length}`;
  if (!TAG_TEXT.test(key)) return "session tag keys may hold only letters, digits, spaces and _ . : / = + - @";
  if (/^aws:/i.test(key)) return "session tag keys starting with aws: are reserved by AWS";
  return undefined;
}

const statement: Check<true> = (walk, node, at) => {
  const value = deref(walk, node, at);
  const effect = isMap(value) ? value.get("Effect", true) : undefined;
  if (!isMap(value)) report(walk, at, `must be a policy statement (a mapping with Effect, Action, Resource), found ${describe(value)}`);
  else if (!isScalar(effect) || (effect.value !== "Allow" && effect.value !== "Deny")) report(walk, at, "needs Effect: Allow or Deny");
  else return true;
  return undefined;
};

const statements: Check<true> = (walk, node, at) => {
  const value = deref(walk, node, at);
  if (!isSeq(value)) return statement(walk, value, at);
  if (value.items.length === 0) report(walk, at, "must list at least one statement");
  let ok = value.items.length > 0;
  value.items.forEach((item, index) => {
    if (!statement(walk, item, { field: `${at.field}[${index}]`, line: lineOf(walk, item, at.line) })) ok = false;
  });
  return ok ? true : undefined;
};

const SESSION_POLICY_RULES = {
  Version: {
    required: true,
    check: text({ shape: "a policy language version", explain: (v) => (POLICY_VERSIONS.includes(v) ? undefined : `must be "2012-10-17"`) }),
  },
  Id: { check: text({ max: 128 }) },
  Statement: { required: true, check: statements },
} satisfies Rules;

/** An inline IAM policy written as YAML; kept as parsed, limited as the JSON STS will receive. */
const sessionPolicy: Check<Record<string, unknown>> = (walk, node, at) => {
  const before = walk.problems.length;
  if (!readFields(walk, node, at, SESSION_POLICY_RULES) || walk.problems.length > before) return undefined;
  const map = asMap(walk, node, at);
  let value: unknown;
  try {
    value = map?.toJS(walk.doc, { maxAliasCount: 100 });
  } catch (error) {
    report(walk, at, `cannot be read: ${(error as Error).message}`);
    return undefined;
  }
  const json = JSON.stringify(value) ?? "";
  if (json.length > STS_MAX_POLICY_CHARS) {
    report(walk, at, `is ${json.length} characters as JSON; STS accepts at most ${STS_MAX_POLICY_CHARS} (narrow it, or move statements into a managed policy in policy_arns)`);
  } else if (!POLICY_CHARS.test(json)) {
    report(walk, at, "may hold only characters U+0020 to U+00FF (STS refuses others)");
  } else return value as Record<string, unknown>;
  return undefined;
};

export const AWS_RULES = {
  source: { required: true, check: secretName },
  region: { required: true, check: text({ pattern: AWS_REGION, shape: "an AWS region such as us-east-1" }) },
  role_arn: {
    check: text({ pattern: ROLE_ARN, max: 2048, shape: "an IAM role ARN such as arn:aws:iam::111122223333:role/NAME" }),
  },
  endpoint: { check: upstreamUrl },
  external_id: {
    check: text({ pattern: EXTERNAL_ID, min: 2, max: 1224, shape: "2 to 1224 letters, digits and _ + = , . @ : / -" }),
  },
  session_policy: { check: sessionPolicy },
  policy_arns: {
    check: listOf(
      text({ pattern: POLICY_ARN, max: 2048, shape: "an IAM policy ARN such as arn:aws:iam::aws:policy/ReadOnlyAccess" }),
      { min: 0, max: STS_MAX_POLICY_ARNS },
    ),
  },
  tags: {
    check: mapOf(tagValue, { min: 0, max: STS_MAX_TAGS, key: tagKeyProblem, identity: (key) => key.toLowerCase() }),
  },
  // Kept within the role's MaxSessionDuration, a session longer than this gets fresh keys within it.
  max_duration: { check: duration(STS_MIN_SESSION_SECONDS, STS_MAX_SESSION_SECONDS) },
  inject: { check: boolean },
} satisfies Rules;

export function readAws(walk: Walk, node: unknown, at: At): AwsPolicy | undefined {
  const read = readFields(walk, node, at, AWS_RULES);
  if (!read) return undefined;
  const { values, at: where } = read;
  if (where.external_id && !where.role_arn) {
    report(walk, where.external_id, "is only sent when assuming a role; add role_arn or remove external_id");
  }
  const inline = values.session_policy ? JSON.stringify(values.session_policy).length : 0;
  const arns = (values.policy_arns ?? []).reduce((sum, arn) => sum + arn.length, 0);
  if (inline > 0 && arns > 0 && inline + arns > STS_MAX_POLICY_CHARS) {
    report(walk, where.session_policy ?? at, `and policy_arns together are ${inline + arns} characters; STS accepts at most ${STS_MAX_POLICY_CHARS}`);
  }
  if (values.source === undefined || values.region === undefined) return undefined;
  return {
    source: values.source,
    region: values.region,
    ...(values.role_arn !== undefined ? { roleArn: values.role_arn } : {}),
    ...(values.endpoint !== undefined ? { endpoint: values.endpoint } : {}),
    ...(values.external_id !== undefined ? { externalId: values.external_id } : {}),
    ...(values.session_policy !== undefined ? { sessionPolicy: values.session_policy } : {}),
    ...(values.policy_arns !== undefined ? { policyArns: values.policy_arns } : {}),
    ...(values.tags !== undefined ? { tags: values.tags } : {}),
    ...(values.max_duration !== undefined ? { maxDurationSeconds: values.max_duration } : {}),
    ...(values.inject === true ? { inject: true } : {}),
  };
}
