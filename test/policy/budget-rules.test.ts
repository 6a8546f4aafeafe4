import { describe, expect, it } from "vitest";
import { formatProblem, parsePolicy } from "../../src/policy/validate-policy.js";

/** A valid policy with two providers (aws, env); `budget:` goes on line 7. */
const HEAD = "task: demo\naws:\n  source: aws-main\n  region: us-east-1\nenv: { API_KEY: { secret: api } }\nttl: 5m\n";
const parse = (tail: string) => parsePolicy("/p/demo.yaml", `${HEAD}${tail}\n`);
const problems = (tail: string) => parse(tail).problems.map(formatProblem);

describe("budget: and over_budget", () => {
  it("reads both limits and over_budget; absent means no budget and deny", () => {
    expect(parse("budget: { sessions_per_hour: 20, mints_per_hour: 60 }\nover_budget: approve").policy).toMatchObject({
      budget: { sessionsPerHour: 20, mintsPerHour: 60 },
      overBudget: "approve",
    });
    expect(parse("budget:\n  mints_per_hour: 2").policy?.budget).toEqual({ mintsPerHour: 2 });
    const plain = parse("").policy;
    expect(plain).not.toHaveProperty("budget");
    expect(plain).not.toHaveProperty("overBudget");
  });

  it.each([
    ["zero", "budget: { sessions_per_hour: 0 }", "/p/demo.yaml:7: budget.sessions_per_hour: must be between 1 and 100000, found 0"],
    ["a fraction", "budget: { mints_per_hour: 2.5 }", "/p/demo.yaml:7: budget.mints_per_hour: must be a whole number, found the number 2.5"],
    ["text", 'budget: { sessions_per_hour: "20" }', "budget.sessions_per_hour: must be a whole number"],
    ["an unknown key", "budget: { sessions_per_day: 20 }", "budget.sessions_per_day"],
    ["no limit at all", "budget: {}", "/p/demo.yaml:7: budget: sets no budget: add sessions_per_hour, mints_per_hour or both"],
    ["not a mapping", "budget: 20", "/p/demo.yaml:7: budget:"],
    ["fewer mints than a session makes", "budget: { mints_per_hour: 1 }", "mints_per_hour 1 is below the 2 credentials each session mints (aws, env); raise it to at least 2"],
    ["over_budget neither deny nor approve", "over_budget: allow", '/p/demo.yaml:7: over_budget: must be deny or approve, found "allow"'],
  ])("reports %s", (_name, tail, expected) => {
    const found = problems(tail);
    expect(found.length, found.join("\n")).toBeGreaterThan(0);
    expect(found.join("\n")).toContain(expected);
  });
});
