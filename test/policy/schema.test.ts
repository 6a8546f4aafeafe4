/** policies/schema.json is for editors; these checks keep it from drifting away from the validator. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AWS_REGION, AWS_RULES, EXTERNAL_ID, POLICY_ARN, ROLE_ARN } from "../../src/policy/aws-rules.js";
import { RESERVED_ENV, UNSAFE_ENV } from "../../src/policy/env-deny-list.js";
import { ENV_ENTRY_RULES, ENV_NAME, envNameProblem } from "../../src/policy/env-rules.js";
import { INJECT_RULES } from "../../src/policy/inject-rules.js";
import { GITHUB_PERMISSIONS } from "../../src/policy/github-permissions.js";
import { GITHUB_LOGIN, GITHUB_RULES, REPOSITORY_NAME } from "../../src/policy/github-rules.js";
import { PASS_ENV_NAME, passEnvProblem, SANDBOX_RULES } from "../../src/policy/sandbox-rules.js";
import { TASK_NAME } from "../../src/policy/types.js";
import { TOP_LEVEL_RULES } from "../../src/policy/validate-policy.js";
import type { Rules } from "../../src/policy/yaml-reader.js";
import { SECRET_NAME } from "../../src/store/secret-store.js";

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: boolean | SchemaNode;
  propertyNames?: { pattern: string; not: { pattern: string; anyOf?: Array<{ pattern: string }> } };
  items?: SchemaNode;
  pattern?: string;
  enum?: string[];
  not?: { pattern: string };
}

const schema = JSON.parse(readFileSync("policies/schema.json", "utf8")) as SchemaNode & { $schema: string; $defs: Record<string, SchemaNode> };
const defs = schema.$defs;

function requiredKeys(rules: Rules): string[] {
  return Object.keys(rules).filter((key) => rules[key]?.required).sort();
}

describe("policies/schema.json", () => {
  it("is a closed draft 2020-12 schema", () => {
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    for (const node of [schema, defs.aws, defs.github, defs.githubPermissions, defs.sandbox]) expect(node?.additionalProperties).toBe(false);
  });

  it("has the validator's keys, and the same required ones, at every level", () => {
    const levels: Array<[SchemaNode | undefined, Rules]> = [
      [schema, TOP_LEVEL_RULES],
      [defs.aws, AWS_RULES],
      [defs.github, GITHUB_RULES],
      [defs.env?.additionalProperties as SchemaNode, ENV_ENTRY_RULES],
      [defs.sandbox, SANDBOX_RULES],
      [defs.envInject, INJECT_RULES],
    ];
    for (const [node, rules] of levels) {
      expect(Object.keys(node?.properties ?? {}).sort()).toEqual(Object.keys(rules).sort());
      expect([...(node?.required ?? [])].sort()).toEqual(requiredKeys(rules));
    }
  });

  it("lists exactly the known GitHub permissions, each with its levels", () => {
    const properties = defs.githubPermissions?.properties ?? {};
    expect(Object.keys(properties).sort()).toEqual(Object.keys(GITHUB_PERMISSIONS).sort());
    for (const [name, levels] of Object.entries(GITHUB_PERMISSIONS)) expect(properties[name]?.enum).toEqual([...levels]);
  });

  it("uses the validator's patterns", () => {
    expect(schema.properties?.task?.pattern).toBe(TASK_NAME.source);
    expect(defs.secretName?.pattern).toBe(SECRET_NAME.source);
    expect(defs.aws?.properties?.region?.pattern).toBe(AWS_REGION.source);
    expect(defs.aws?.properties?.role_arn?.pattern).toBe(ROLE_ARN.source);
    expect(defs.aws?.properties?.external_id?.pattern).toBe(EXTERNAL_ID.source);
    expect(defs.aws?.properties?.policy_arns?.items?.pattern).toBe(POLICY_ARN.source);
    expect(defs.github?.properties?.owner?.pattern).toBe(GITHUB_LOGIN.source);
    expect(defs.github?.properties?.repositories?.items?.pattern).toBe(REPOSITORY_NAME.source);
    expect(defs.env?.propertyNames?.pattern).toBe(ENV_NAME.source);
    expect(defs.sandbox?.properties?.pass_env?.items?.pattern).toBe(PASS_ENV_NAME.source);
  });

  it("accepts the egress entries the validator accepts, and not a port on *", () => {
    const shapes = ((defs.egress?.items as { anyOf?: Array<{ const?: string; pattern?: string }> } | undefined)?.anyOf ?? []).map((shape) =>
      shape.const !== undefined ? (entry: string) => entry === shape.const : (entry: string) => new RegExp(shape.pattern ?? "^$").test(entry),
    );
    const fits = (entry: string): boolean => shapes.some((fit) => fit(entry));
    for (const entry of ["api.anthropic.com", "registry.npmjs.org:443", "*.githubusercontent.com", "127.0.0.2:8443", "[::1]:8443", "::1", "*", "example.com."]) expect([entry, fits(entry)]).toEqual([entry, true]);
    for (const entry of ["*:443", "a b.example", "https://a.example", "a.example:0"]) expect([entry, fits(entry)]).toEqual([entry, false]);
  });

  it("refuses the same pass_env names as the validator", () => {
    const refused = new RegExp(defs.sandbox?.properties?.pass_env?.items?.not?.pattern ?? "^$");
    for (const name of ["*", "**", "BROKER_SOCKET", "BROKER_*", "broker_store_passphrase"]) expect([name, refused.test(name), passEnvProblem(name) !== undefined]).toEqual([name, true, true]);
    for (const name of ["npm_config_*", "*_PROXY", "BROKERS", "DBUS_SESSION_BUS_ADDRESS"]) expect([name, refused.test(name), passEnvProblem(name) !== undefined]).toEqual([name, false, false]);
  });

  it("refuses the same environment variable names as the validator", () => {
    const patterns = (defs.env?.propertyNames?.not.anyOf ?? []).map((shape) => shape.pattern);
    expect(patterns).toEqual([RESERVED_ENV.source, UNSAFE_ENV.source]);
    const reserved = { test: (name: string) => patterns.some((pattern) => new RegExp(pattern).test(name)) };
    const names = ["AWS_REGION", "BROKER_SESSION", "GH_TOKEN", "GITHUB_TOKEN", "GH_CONFIG_DIR", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "GH_HOST", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "GIT_CONFIG_VALUE_12", "GIT_CONFIG_GLOBAL", "PATH", "LD_PRELOAD", "BASH_ENV", "NODE_OPTIONS", "PYTHONPATH", "https_proxy"];
    const allowed = ["OPENAI_API_KEY", "GHTOKEN", "MY_AWS_KEY", "GITHUB_TOKEN_X", "aws_region", "MY_PATH", "PATHNAME_KEY", "GOOGLE_API_KEY"];
    for (const name of names) expect([name, reserved.test(name), envNameProblem(name) !== undefined]).toEqual([name, true, true]);
    for (const name of allowed) expect([name, reserved.test(name), envNameProblem(name) !== undefined]).toEqual([name, false, false]);
  });
});
