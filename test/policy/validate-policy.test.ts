import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatProblem, parsePolicy } from "../../src/policy/validate-policy.js";

const EXAMPLES = resolve("policies");

/** A valid policy using every section; cases below break one line of it. */
const BASE = [
  "task: demo", // 1
  "ttl: 15m", // 2
  "max_ttl: 1h", // 3
  "aws:", // 4
  "  source: aws-root", // 5
  "  region: us-east-1", // 6
  "  role_arn: arn:aws:iam::111122223333:role/demo", // 7
  "github:", // 8
  "  app: gh-app", // 9
  "  owner: acme", // 10
  "  permissions:", // 11
  "    contents: read", // 12
  "env:", // 13
  "  API_KEY: { secret: api }", // 14
];

/** BASE with line `n` (1-based) replaced by `text` (which may hold several lines, or none). */
function edit(n: number, text: string | null): string {
  const lines = [...BASE];
  lines.splice(n - 1, 1, ...(text === null ? [] : [text]));
  return `${lines.join("\n")}\n`;
}

/** `line field` of each problem, for compact assertions. */
function where(text: string, file = "/p/demo.yaml"): string[] {
  return parsePolicy(file, text).problems.map((p) => `${p.line} ${p.field}`);
}

describe("parsePolicy", () => {
  it("accepts every example policy in policies/ without a problem", () => {
    const files = readdirSync(EXAMPLES).filter((name) => name.endsWith(".yaml"));
    expect(files.sort()).toEqual(["deploy.yaml", "openai.yaml", "pr-bot.yaml", "repo-reader.yaml", "report.yaml"]);
    for (const name of files) {
      const file = join(EXAMPLES, name);
      const { policy, problems } = parsePolicy(file, readFileSync(file, "utf8"));
      expect(problems.map(formatProblem)).toEqual([]);
      expect(policy?.task).toBe(name.replace(/\.yaml$/, ""));
    }
  });

  it("accepts the base policy and fills in defaults", () => {
    const { policy, problems } = parsePolicy("/p/demo.yaml", "task: demo\ngithub: { app: a, owner: o, permissions: { issues: write } }\n");
    expect(problems).toEqual([]);
    expect(policy).toEqual({
      task: "demo",
      ttlSeconds: 900,
      maxTtlSeconds: 3600,
      maxSessions: 16,
      github: { app: "a", apiUrl: "https://api.github.com", owner: "o", permissions: { issues: "write" } },
      env: {},
      sandbox: { write: [], hide: [], passEnv: [] },
      file: "/p/demo.yaml",
    });
    expect(parsePolicy("/p/demo.yaml", edit(1, "task: demo")).problems).toEqual([]);
  });

  it("reads on_env_expiry: refuse and aws.max_duration", () => {
    const { policy, problems } = parsePolicy("/p/demo.yaml", `${edit(7, "  max_duration: 2h")}on_env_expiry: refuse\n`);
    expect(problems).toEqual([]);
    expect(policy).toMatchObject({ onEnvExpiry: "refuse", aws: { maxDurationSeconds: 7200 } });
    expect(parsePolicy("/p/demo.yaml", edit(3, "on_env_expiry: warn")).policy?.onEnvExpiry).toBeUndefined();
  });

  it.each(["http://127.0.0.1:8080", "http://127.9.8.7/api/v3", "http://[::1]:9443", "http://localhost:3000", "https://ghe.example/api/v3"])("accepts %s as an upstream (https, or plain http to loopback for stand-ins)", (url) => {
    const text = edit(10, `  owner: acme\n  api_url: ${url}`).replace("  role_arn:", `  endpoint: ${url}\n  role_arn:`);
    const { policy, problems } = parsePolicy("/p/demo.yaml", text);
    expect(problems).toEqual([]);
    expect([policy?.aws?.endpoint, policy?.github?.apiUrl]).toEqual([url, url]);
  });

  it("lowers the default ttl to a max_ttl below it", () => {
    expect(parsePolicy("/p/demo.yaml", edit(2, null).replace("max_ttl: 1h", "max_ttl: 5m")).policy?.ttlSeconds).toBe(300);
  });

  it("reports every problem of a file as file:line: field, in line order", () => {
    const text = [
      "task: other", // 1
      "ttl: 2h", // 2
      "colour: blue", // 3
      "aws:", // 4
      "  source: aws-root", // 5
      "  region: mars-1", // 6
      "  role_arn: arn:aws:iam::1:user/x", // 7
      "  tags:", // 8
      "    aws:team: x", // 9
      "github:", // 10
      "  app: gh-app", // 11
      "  permissions: { contents: admin, pull_request: write }", // 12
      "env:", // 13
      "  GITHUB_TOKEN: { secret: gh }", // 14
    ].join("\n");
    expect(parsePolicy("/p/demo.yaml", text).problems.map(formatProblem).map((line) => line.split(": ").slice(0, 2).join(": "))).toEqual([
      "/p/demo.yaml:1: task",
      "/p/demo.yaml:2: ttl",
      "/p/demo.yaml:3: colour",
      "/p/demo.yaml:6: aws.region",
      "/p/demo.yaml:7: aws.role_arn",
      "/p/demo.yaml:9: aws.tags.aws:team",
      "/p/demo.yaml:10: github.owner",
      "/p/demo.yaml:12: github.permissions.contents",
      "/p/demo.yaml:12: github.permissions.pull_request",
      "/p/demo.yaml:14: env.GITHUB_TOKEN",
    ]);
  });

  const cases: Array<[string, string, string, RegExp]> = [
    ["task missing", edit(1, null), "1 task", /required/],
    ["task not the file name", edit(1, "task: other"), "1 task", /"demo"/],
    ["task with bad characters", edit(1, "task: Demo_1"), "1 task", /lowercase/],
    ["ttl not a duration", edit(2, "ttl: soon"), "2 ttl", /duration/],
    ["ttl zero", edit(2, "ttl: 0s"), "2 ttl", /at least 1s/],
    ["ttl above max_ttl", edit(2, "ttl: 2h"), "2 ttl", /above max_ttl 1h/],
    ["ttl above the default max_ttl", edit(3, null).replace("ttl: 15m", "ttl: 90m"), "2 ttl", /the default/],
    ["max_ttl beyond a week", edit(3, "max_ttl: 8d"), "3 max_ttl", /at most 168h/],
    ["max_ttl beyond STS with aws", edit(3, "max_ttl: 13h"), "3 max_ttl", /12h/],
    ["on_env_expiry neither warn nor refuse", edit(3, "on_env_expiry: fail"), "3 on_env_expiry", /must be warn or refuse/],
    ["aws.max_duration under STS's floor", edit(7, "  max_duration: 10m"), "7 aws.max_duration", /at least 15m/],
    ["aws.max_duration beyond 12h", edit(7, "  max_duration: 13h"), "7 aws.max_duration", /at most 12h/],
    ["max_sessions zero", edit(3, "max_sessions: 0"), "3 max_sessions", /between 1 and 10000/],
    ["max_sessions too many", edit(3, "max_sessions: 10001"), "3 max_sessions", /between 1 and 10000/],
    ["max_sessions as text", edit(3, "max_sessions: '8'"), "3 max_sessions", /whole number/],
    ["nothing granted", "task: demo\nttl: 1m\n", "1 (policy)", /at least one of aws, github, env or egress/],
    ["aws.source missing", edit(5, null), "4 aws.source", /required/],
    ["aws.source not a secret name", edit(5, "  source: 'aws root'"), "5 aws.source", /secret name/],
    ["aws.region missing", edit(6, null), "4 aws.region", /required/],
    ["aws.region malformed", edit(6, "  region: US East"), "6 aws.region", /AWS region/],
    ["aws.role_arn a user", edit(7, "  role_arn: arn:aws:iam::111122223333:user/demo"), "7 aws.role_arn", /role ARN/],
    ["aws.role_arn short account", edit(7, "  role_arn: arn:aws:iam::1111:role/demo"), "7 aws.role_arn", /role ARN/],
    ["aws.endpoint not http", edit(7, "  endpoint: ftp://sts.example"), "7 aws.endpoint", /https/],
    ["aws.endpoint with a password", edit(7, "  endpoint: https://u:p@sts.example"), "7 aws.endpoint", /password/],
    // Issue 15, reproduction 5: plain http to anything but loopback would carry signed requests and App JWTs in the clear.
    ["aws.endpoint plain http to a private address", edit(7, "  endpoint: http://10.0.0.1"), "7 aws.endpoint", /must use https.*http:\/\/10\.0\.0\.1/],
    ["aws.endpoint plain http to a public host", edit(7, "  endpoint: http://attacker.example:8080"), "7 aws.endpoint", /must use https/],
    ["github.api_url plain http to a private address", edit(10, "  owner: acme\n  api_url: http://10.0.0.1/api/v3"), "11 github.api_url", /must use https/],
    ["github.api_url plain http to a public host", edit(10, "  owner: acme\n  api_url: http://attacker.example"), "11 github.api_url", /must use https/],
    ["github.api_url plain http to a name that starts like loopback", edit(10, "  owner: acme\n  api_url: http://127.0.0.1.attacker.example"), "11 github.api_url", /must use https/],
    ["github.api_url plain http to an IPv4-mapped loopback", edit(10, "  owner: acme\n  api_url: http://[::ffff:127.0.0.1]"), "11 github.api_url", /must use https/],
    ["aws.external_id too short", edit(7, `${BASE[6]}\n  external_id: a`), "8 aws.external_id", /2 to 1224/],
    ["aws.external_id bad character", edit(7, `${BASE[6]}\n  external_id: "a b"`), "8 aws.external_id", /letters, digits/],
    ["aws.external_id without a role", edit(7, "  external_id: abc"), "7 aws.external_id", /role_arn/],
    ["aws.session_policy not a mapping", edit(7, "  session_policy: allow-all"), "7 aws.session_policy", /mapping/],
    ["aws.session_policy without Version", edit(7, "  session_policy: { Statement: { Effect: Allow } }"), "7 aws.session_policy.Version", /required/],
    ["aws.session_policy bad Version", edit(7, "  session_policy: { Version: '2020-01-01', Statement: { Effect: Allow } }"), "7 aws.session_policy.Version", /2012-10-17/],
    ["aws.session_policy without Statement", edit(7, "  session_policy: { Version: '2012-10-17' }"), "7 aws.session_policy.Statement", /required/],
    ["aws.session_policy statement without Effect", edit(7, "  session_policy:\n    Version: '2012-10-17'\n    Statement:\n      - Action: '*'"), "10 aws.session_policy.Statement[0]", /Effect/],
    ["aws.session_policy unknown key", edit(7, "  session_policy: { Version: '2012-10-17', Statement: { Effect: Allow }, Extra: 1 }"), "7 aws.session_policy.Extra", /unknown key/],
    [
      "aws.session_policy over 2048 characters",
      edit(7, `  session_policy: { Version: '2012-10-17', Statement: { Effect: Allow, Action: '*', Resource: '${"r".repeat(2100)}' } }`),
      "7 aws.session_policy",
      /2048/,
    ],
    ["aws.policy_arns too many", edit(7, `  policy_arns: [${Array.from({ length: 11 }, (_, i) => `arn:aws:iam::aws:policy/P${i}`).join(", ")}]`), "7 aws.policy_arns", /0 to 10/],
    ["aws.policy_arns a role", edit(7, "  policy_arns:\n    - arn:aws:iam::aws:policy/ReadOnlyAccess\n    - arn:aws:iam::111122223333:role/x"), "9 aws.policy_arns[1]", /policy ARN/],
    ["aws.tags too many", edit(7, `  tags: { ${Array.from({ length: 51 }, (_, i) => `k${i}: v`).join(", ")} }`), "7 aws.tags", /0 to 50/],
    ["aws.tags key too long", edit(7, `  tags:\n    ${"k".repeat(129)}: v`), `8 aws.tags.${"k".repeat(129)}`, /1 to 128/],
    ["aws.tags value too long", edit(7, `  tags:\n    team: ${"v".repeat(257)}`), "8 aws.tags.team", /1 to 256|0 to 256/],
    ["aws.tags bad character", edit(7, "  tags:\n    team: 'a;b'"), "8 aws.tags.team", /session tag value/],
    ["aws.tags keys differing in case", edit(7, "  tags:\n    Team: a\n    team: b"), "9 aws.tags.team", /ignoring case/],
    ["github.app missing", edit(9, null), "8 github.app", /required/],
    ["github owner and installation_id", edit(10, "  owner: acme\n  installation_id: 42"), "11 github.installation_id", /not both/],
    ["github neither owner nor installation_id", edit(10, null), "8 github.owner", /installation_id/],
    ["github.installation_id zero", edit(10, "  installation_id: 0"), "10 github.installation_id", /between 1/],
    ["github.owner malformed", edit(10, "  owner: acme/web"), "10 github.owner", /login/],
    ["github.api_url not a URL", edit(10, "  owner: acme\n  api_url: github.example.com"), "11 github.api_url", /absolute/],
    ["github.repositories empty", edit(10, "  owner: acme\n  repositories: []"), "11 github.repositories", /1 to 500/],
    ["github.repositories with owner", edit(10, "  owner: acme\n  repositories: [acme/web]"), "11 github.repositories[0]", /without its owner/],
    ["github.repositories bad name", edit(10, "  owner: acme\n  repositories:\n    - web\n    - 'we b'"), "13 github.repositories[1]", /repository name/],
    ["github.repositories listed twice", edit(10, "  owner: acme\n  repositories: [web, WEB]"), "11 github.repositories[1]", /twice/],
    ["github.repositories name over 100", edit(10, `  owner: acme\n  repositories: [${"r".repeat(101)}]`), "11 github.repositories[0]", /1 to 100/],
    ["github.permissions missing", edit(11, null).replace("    contents: read\n", ""), "8 github.permissions", /required/],
    ["github.permissions empty", edit(11, "  permissions: {}").replace("    contents: read\n", ""), "11 github.permissions", /at least one/],
    ["github.permissions unknown name", edit(12, "    content: read"), "12 github.permissions.content", /did you mean contents/],
    ["github.permissions bad level", edit(12, "    contents: owner"), "12 github.permissions.contents", /read, write/],
    ["github.permissions metadata write", edit(12, "    metadata: write"), "12 github.permissions.metadata", /only be read/],
    ["github.permissions workflows read", edit(12, "    workflows: read"), "12 github.permissions.workflows", /only be write/],
    ["github.permissions admin where none", edit(12, "    issues: admin"), "12 github.permissions.issues", /read, write/],
    ["env empty", edit(14, null).replace("env:\n", "env: {}\n"), "13 env", /1 to 1000/],
    ["env bad name", edit(14, "  9LIVES: { secret: api }"), "14 env.9LIVES", /environment variable name/],
    ["env AWS_ name", edit(14, "  AWS_REGION: { secret: api }"), "14 env.AWS_REGION", /set by the broker/],
    ["env BROKER_ name", edit(14, "  BROKER_SESSION: { secret: api }"), "14 env.BROKER_SESSION", /set by the broker/],
    ["env GH_TOKEN", edit(14, "  GH_TOKEN: { secret: api }"), "14 env.GH_TOKEN", /set by the broker/],
    ["env PATH", edit(14, "  PATH: { secret: api }"), "14 env.PATH", /changes which programs run/],
    ["env LD_PRELOAD", edit(14, "  LD_PRELOAD: { secret: api }"), "14 env.LD_PRELOAD", /changes which programs run/],
    ["env BASH_ENV", edit(14, "  BASH_ENV: { secret: api }"), "14 env.BASH_ENV", /changes which programs run/],
    ["env NODE_OPTIONS", edit(14, "  NODE_OPTIONS: { secret: api }"), "14 env.NODE_OPTIONS", /changes which programs run/],
    ["env PYTHONPATH", edit(14, "  PYTHONPATH: { secret: api }"), "14 env.PYTHONPATH", /changes which programs run/],
    ["env GIT_SSH_COMMAND", edit(14, "  GIT_SSH_COMMAND: { secret: api }"), "14 env.GIT_SSH_COMMAND", /changes which programs run/],
    ["env https_proxy", edit(14, "  https_proxy: { secret: api }"), "14 env.https_proxy", /where they connect/],
    ["env value not a mapping", edit(14, "  API_KEY: api"), "14 env.API_KEY", /mapping/],
    ["env secret missing", edit(14, "  API_KEY: {}"), "14 env.API_KEY.secret", /required/],
    ["env secret bad name", edit(14, "  API_KEY: { secret: 'a b' }"), "14 env.API_KEY.secret", /secret name/],
  ];

  it.each(cases)("reports %s at its line and field", (_name, text, expected, problem) => {
    const { policy, problems } = parsePolicy("/p/demo.yaml", text);
    expect(policy).toBeUndefined();
    expect(problems.map((p) => `${p.line} ${p.field}`)).toEqual([expected]);
    expect(problems[0]?.problem).toMatch(problem);
  });

  it("reports unknown keys at every level, with a suggestion for near misses", () => {
    expect(where(edit(3, "max-ttl: 1h"))).toEqual(["3 max-ttl"]);
    expect(parsePolicy("/p/demo.yaml", edit(3, "max-ttl: 1h")).problems[0]?.problem).toMatch(/did you mean max_ttl/);
    expect(where(edit(7, "  role: x"))).toEqual(["7 aws.role"]);
    expect(where(edit(10, "  owner: acme\n  org: acme"))).toEqual(["11 github.org"]);
    expect(where(edit(14, "  API_KEY: { secret: api, default: x }"))).toEqual(["14 env.API_KEY.default"]);
    expect(parsePolicy("/p/demo.yaml", edit(7, "  zzz: 1")).problems[0]?.problem).toMatch(/expected one of source, region/);
  });

  it("reports YAML syntax errors with their line", () => {
    expect(where(edit(12, "    contents: [read"))).toEqual(["13 (yaml)"]);
    expect(where("task: demo\nenv:\n  A: { secret: a }\n  A: { secret: b }\n")).toEqual(["4 (yaml)"]);
    expect(where("task: demo\n\tenv: x\n")).toEqual(["2 (yaml)"]);
    expect(parsePolicy("/p/demo.yaml", "task: demo\n---\ntask: demo\n").problems[0]?.field).toBe("(yaml)");
  });

  it("reports an empty file or a file that is not a mapping", () => {
    expect(where("")).toEqual(["1 (policy)"]);
    expect(where("# only a comment\n")).toEqual(["1 (policy)"]);
    expect(where("- task: demo\n")).toEqual(["1 (policy)"]);
  });

  it("follows aliases and refuses too many of them", () => {
    const ok = "task: demo\nx-secret: &s api\n";
    expect(where(ok)).toContain("2 x-secret");
    const aliased = "task: demo\nenv:\n  A: &e { secret: api }\n  B: *e\n";
    expect(parsePolicy("/p/demo.yaml", aliased).policy?.env).toEqual({ A: { secret: "api" }, B: { secret: "api" } });
    const many = `task: demo\ngithub:\n  app: a\n  owner: o\n  repositories: [&r web, ${Array.from({ length: 150 }, () => "*r").join(", ")}]\n  permissions: { contents: read }\n`;
    expect(parsePolicy("/p/demo.yaml", many).problems.some((p) => /aliases/.test(p.problem))).toBe(true);
  });

  it("formats a problem as file:line: field: problem", () => {
    expect(formatProblem({ file: "p/a.yaml", line: 3, field: "aws.region", problem: "is required" })).toBe("p/a.yaml:3: aws.region: is required");
  });

  it("never throws on arbitrary text, and stays fast", () => {
    const yamlish = fc.string({ unit: fc.constantFrom(..."task: demo\n -{}[],:&*!|>'\"#%@`?aws github env\t"), maxLength: 200 });
    const started = Date.now();
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), yamlish), (text) => {
        const { policy, problems } = parsePolicy("/p/demo.yaml", text);
        expect(policy === undefined ? problems.length > 0 : problems.length === 0).toBe(true);
        for (const p of problems) expect(p.line).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 3000 },
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("never throws on mutations of a valid policy", () => {
    const base = edit(7, `${BASE[6]}\n  session_policy: { Version: '2012-10-17', Statement: [{ Effect: Allow, Action: '*' }] }\n  tags: { team: data }`);
    fc.assert(
      fc.property(fc.nat(base.length), fc.nat(20), fc.string({ maxLength: 12 }), (at, cut, insert) => {
        const text = base.slice(0, at) + insert + base.slice(at + cut);
        const { policy, problems } = parsePolicy("/p/demo.yaml", text);
        expect(policy !== undefined || problems.length > 0).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
