import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isBrokerError } from "../../src/errors.js";
import { loadPolicies, MAX_POLICY_BYTES } from "../../src/policy/load-policies.js";
import { formatProblem } from "../../src/policy/validate-policy.js";

const ENV_POLICY = (task: string) => `task: ${task}\nenv:\n  API_KEY: { secret: api }\n`;

describe("loadPolicies", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "broker-policies-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("loads the example policies shipped in policies/ without a problem", async () => {
    const { policies, problems } = await loadPolicies(resolve("policies"));
    expect(problems.map(formatProblem)).toEqual([]);
    expect([...policies.keys()].sort()).toEqual(["deploy", "openai", "pr-bot", "repo-reader", "report"]);
    expect(policies.get("report")?.file).toBe(resolve("policies/report.yaml"));
  });

  it("reads .yaml and .yml files and ignores dotfiles and other files", async () => {
    writeFileSync(join(dir, "alpha.yaml"), ENV_POLICY("alpha"));
    writeFileSync(join(dir, "beta.yml"), ENV_POLICY("beta"));
    writeFileSync(join(dir, ".hidden.yaml"), "not: [valid");
    writeFileSync(join(dir, "notes.txt"), "not: [valid");
    writeFileSync(join(dir, "alpha.yaml~"), "not: [valid");
    writeFileSync(join(dir, "schema.json"), "{}");
    const { policies, problems } = await loadPolicies(dir);
    expect(problems).toEqual([]);
    expect([...policies.keys()].sort()).toEqual(["alpha", "beta"]);
  });

  it("collects the problems of every file, each with its file and line", async () => {
    writeFileSync(join(dir, "good.yaml"), ENV_POLICY("good"));
    writeFileSync(join(dir, "bad.yaml"), "task: bad\nenv:\n  API_KEY: { secret: api }\n  AWS_REGION: { secret: r }\n");
    writeFileSync(join(dir, "broken.yaml"), "task: broken\nenv: [\n");
    const { policies, problems } = await loadPolicies(dir);
    expect([...policies.keys()]).toEqual(["good"]);
    expect(problems.map((p) => `${p.file}:${p.line}: ${p.field}`)).toEqual([
      `${join(dir, "bad.yaml")}:4: env.AWS_REGION`,
      `${join(dir, "broken.yaml")}:3: (yaml)`,
    ]);
  });

  it("reports two files defining the same task", async () => {
    writeFileSync(join(dir, "dup.yaml"), ENV_POLICY("dup"));
    writeFileSync(join(dir, "dup.yml"), `# the same task again\n${ENV_POLICY("dup")}`);
    const { policies, problems } = await loadPolicies(dir);
    expect(policies.size).toBe(1);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: join(dir, "dup.yml"), line: 2, field: "task" });
    expect(problems[0]?.problem).toContain(join(dir, "dup.yaml"));
  });

  it("refuses a file over the size cap instead of parsing it", async () => {
    writeFileSync(join(dir, "huge.yaml"), `${ENV_POLICY("huge")}# ${"x".repeat(MAX_POLICY_BYTES)}\n`);
    const { policies, problems } = await loadPolicies(dir);
    expect(policies.size).toBe(0);
    expect(problems).toEqual([expect.objectContaining({ file: join(dir, "huge.yaml"), line: 1, problem: expect.stringMatching(/256 KiB/) })]);
  });

  it("refuses text that is not UTF-8 and entries that are not files", async () => {
    writeFileSync(join(dir, "latin1.yaml"), Buffer.from([0x74, 0x61, 0x73, 0x6b, 0x3a, 0x20, 0xe9, 0x0a]));
    mkdirSync(join(dir, "folder.yaml"));
    const { problems } = await loadPolicies(dir);
    expect(problems.map((p) => `${p.file}: ${p.problem}`)).toEqual([
      `${join(dir, "folder.yaml")}: is not a regular file`,
      `${join(dir, "latin1.yaml")}: is not valid UTF-8 text`,
    ]);
  });

  it("treats an empty directory as no policies", async () => {
    expect(await loadPolicies(dir)).toEqual({ policies: new Map(), problems: [] });
  });

  it("fails clearly, with the fix, when the directory does not exist", async () => {
    const missing = join(dir, "nope");
    const error = await loadPolicies(missing).catch((e: unknown) => e);
    expect(isBrokerError(error)).toBe(true);
    expect(error).toMatchObject({ code: "ERR_POLICY_INVALID" });
    expect((error as Error).message).toContain(missing);
    expect((error as { fix?: string }).fix).toMatch(/mkdir -p .*--policies/);
  });

  it("fails clearly when the path is a file", async () => {
    writeFileSync(join(dir, "file"), "");
    await expect(loadPolicies(join(dir, "file"))).rejects.toMatchObject({ code: "ERR_POLICY_INVALID" });
  });
});
