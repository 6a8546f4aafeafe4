/**
 * fast-check generators of malformed policy files. Each starts from a valid policy for its file
 * name (a control property checks that) and gets at least one definite defect: a structural one
 * (unknown keys, wrong types, bad durations, names, ARNs, regions, URLs, permissions, env names,
 * missing or conflicting fields) and/or a textual one (YAML syntax errors, duplicate keys, alias
 * bombs, deep nesting, huge values, control characters, random bytes).
 */
import fc from "fast-check";
import { stringify } from "yaml";

type Obj = Record<string, unknown>;
const unicode = (maxLength = 30) => fc.string({ unit: "binary", maxLength });
const junk = (maxLength = 30) => fc.oneof(fc.string({ maxLength }), unicode(maxLength));

/** A valid policy for task `name`, with some of aws/github/env (at least one). */
export const validPolicy = (name: string): fc.Arbitrary<Obj> =>
  fc
    .record({ aws: fc.boolean(), github: fc.boolean(), env: fc.boolean(), description: fc.boolean() })
    .map((has) => (has.aws || has.github || has.env ? has : { ...has, env: true }))
    .map((has) => ({
      task: name,
      ...(has.description ? { description: "a policy under test" } : {}),
      ttl: "15m",
      max_ttl: "1h",
      max_sessions: 8,
      ...(has.aws ? { aws: { source: "aws-root", role_arn: "arn:aws:iam::111122223333:role/report-reader", region: "us-east-1", tags: { team: "data" } } } : {}),
      ...(has.github ? { github: { app: "gh-app", owner: "acme", repositories: ["reports"], permissions: { contents: "read" } } } : {}),
      ...(has.env ? { env: { OPENAI_API_KEY: { secret: "openai" } } } : {}),
    }));

const section = (o: Obj, key: "aws" | "github" | "env", fresh: Obj): Obj => ((o[key] ??= fresh) as Obj);
const AWS = { source: "aws-root", region: "us-east-1" };
const GITHUB = { app: "gh-app", owner: "acme", permissions: { contents: "read" } };

/** Each returns a mutation that makes any valid policy invalid. */
const keyJunk = fc.oneof(junk(20), fc.constantFrom("a\nb", "c\rd", "e\u0000f", "g\u2028h", "\t"));
const structural: fc.Arbitrary<(o: Obj) => void>[] = [
  keyJunk.map((k) => (o) => void (o[`x_${k}`] = 1)),
  fc.tuple(fc.constantFrom("aws", "github") as fc.Arbitrary<"aws" | "github">, keyJunk).map(([s, k]) => (o) => void (section(o, s, s === "aws" ? { ...AWS } : { ...GITHUB })[`x_${k}`] = true)),
  fc.oneof(fc.constantFrom("Report", "../etc/passwd", "", "a".repeat(70), "-lead", "répört"), fc.constantFrom(42, null, true), fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/).map((s) => `zz${s}`)).map((t) => (o) => void (o.task = t)),
  fc.constantFrom("-5m", "forever", 0, -1, "8d", "1h-", "", "15 minutes", [1], { a: 1 }, true, Infinity, "1e3").map((t) => (o) => void (o.ttl = t)),
  fc.constant((o: Obj) => Object.assign(o, { ttl: "2h", max_ttl: "1h" })),
  fc.constantFrom(0, 10_001, 1.5, "many", -3, null, [8]).map((n) => (o) => void (o.max_sessions = n)),
  fc.constantFrom<[string, unknown]>(
    ["region", "moon-1"], ["region", "US-EAST-1"], ["role_arn", "arn:aws:iam::123:role/x"], ["role_arn", "arn:aws:s3:::bucket"], ["endpoint", "ftp://sts.example"],
    ["endpoint", "not a url"], ["external_id", "a"], ["tags", { "aws:reserved": "x" }], ["policy_arns", ["nope"]], ["source", ""], ["source", 7],
    ["session_policy", { Version: "2008-10-17", Statement: [] }], ["session_policy", "allow everything"], ["region", null],
  ).map(([k, v]) => (o) => void (section(o, "aws", { ...AWS })[k] = v)),
  fc.constantFrom<[string, unknown]>(
    ["permissions", { contents: "root" }], ["permissions", { contentz: "read" }], ["permissions", {}], ["repositories", []], ["repositories", ["bad/name"]],
    ["repositories", "reports"], ["owner", "-bad-"], ["api_url", "javascript:alert(1)"], ["installation_id", -1], ["app", ["gh-app"]], ["permissions", null],
  ).map(([k, v]) => (o) => void (section(o, "github", { ...GITHUB })[k] = v)),
  fc.constantFrom<unknown>({ "lower-case": { secret: "s" } }, { AWS_SECRET_ACCESS_KEY: { secret: "s" } }, { X: "plain" }, { X: { secret: 42 } }, [], {}, { X: { secret: "s", extra: 1 } }, { "1BAD": { secret: "s" } })
    .map((e) => (o) => void (o.env = e)),
  fc.constant((o: Obj) => void (delete o.aws, delete o.github, delete o.env)),
  fc.constant((o: Obj) => void delete o.task),
  fc.constant((o: Obj) => Object.assign(o, { max_ttl: "13h", aws: o.aws ?? { ...AWS } })),
  fc.constant((o: Obj) => Object.assign(o, { github: { app: "gh-app", permissions: { contents: "read" } } })),
];

/** Each turns valid YAML text into invalid text. */
const textual: fc.Arbitrary<(text: string, o: Obj) => string>[] = [
  fc.constant((t: string) => `${t}\ttask: broken\n`),
  fc.constant((t: string) => `${t}description: "unterminated\n`),
  fc.constant((t: string) => `${t}description: [a, b\n`),
  fc.constant((t: string) => `${t}: :\n`),
  fc.constant((t: string, o: Obj) => `${t}task: ${String(o.task)}\n`), // a duplicate key
  fc.constant((t: string) => `${t}---\ntask: second\n`),
  fc.constant((t: string) => t.replace(/^ttl:/m, " ttl:")),
  fc.integer({ min: 5, max: 12 }).map((width) => (t: string) => `${t}bomb0: &a0 [${Array(width).fill('"lol"').join(",")}]\n${Array.from({ length: 8 }, (_, i) => `bomb${i + 1}: &a${i + 1} [${Array(width).fill(`*a${i}`).join(",")}]`).join("\n")}\n`),
  fc.integer({ min: 100, max: 20_000 }).map((n) => (t: string) => `${t}description: ${"[".repeat(n)}${"]".repeat(n)}\n`),
  fc.integer({ min: 1_025, max: 300_000 }).map((n) => (t: string) => `${t.replace(/^description:.*\n/m, "")}description: ${"d".repeat(n)}\n`),
  fc.constantFrom("\u0000", "\u0007", "\u001b[31m", "\ufeff\ufeff", "\ud800").map((c) => (t: string) => `${t}description: "x${c}y"\nbogus${c}: 1\n`),
  fc.constant((t: string) => t.replace(/\n/g, "\r\n").concat("unknown_key: 1\r\n")),
  junk(200).map((garbage) => () => garbage),
  fc.constant(() => ""),
  fc.constant(() => "# only a comment\n"),
  fc.constant((t: string) => `- ${t.split("\n").join("\n  ")}`),
];

/** A malformed policy text for the file `<name>.yaml`. */
export const malformedPolicy = (name: string): fc.Arbitrary<string> =>
  fc
    .tuple(validPolicy(name), fc.array(fc.oneof(...structural), { minLength: 0, maxLength: 3 }), fc.option(fc.oneof(...textual), { nil: undefined }))
    .filter(([, mutations, text]) => mutations.length > 0 || text !== undefined)
    .map(([generated, mutations, text]) => {
      const policy = structuredClone(generated);
      for (const mutate of mutations) mutate(policy);
      const yaml = stringify(policy, { lineWidth: 0 });
      return text ? text(yaml, policy) : yaml;
    });

/** Bytes that are not UTF-8, for files read from disk. */
export const notUtf8: fc.Arbitrary<Buffer> = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.concat([Buffer.from("task: x\n"), Buffer.from([0xff, 0xfe]), Buffer.from(b)]));
