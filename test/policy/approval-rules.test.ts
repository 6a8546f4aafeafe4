/** The `approval:` section: what it accepts, the lines it refuses with their fix, and which requests it makes wait. */
import { describe, expect, it } from "vitest";
import { approvalReasons } from "../../src/approval/plan-summary.js";
import { narrowRequest } from "../../src/policy/narrow.js";
import { formatProblem, parsePolicy } from "../../src/policy/validate-policy.js";

const HEAD = "task: demo\ngithub:\n  app: gh\n  owner: acme\n  repositories: [reports, website]\n  permissions: { contents: write, issues: read }\n";
const parse = (approval: string) => parsePolicy("/p/demo.yaml", `${HEAD}approval:\n${approval}`);
const problems = (approval: string) => parse(approval).problems.map(formatProblem);

describe("approval: in a policy", () => {
  it("reads required, when, timeout and reuse, with defaults 5m and 0", () => {
    expect(parse("  required: true\n").policy?.approval).toEqual({ required: true, timeoutSeconds: 300, reuseSeconds: 0 });
    expect(parse("  when: { github_write: true, ttl_over: 30m, repositories: [website] }\n  timeout: 1s\n  reuse: 10m\n").policy?.approval).toEqual({
      required: false,
      when: { githubWrite: true, ttlOverSeconds: 1800, repositories: ["website"] },
      timeoutSeconds: 1,
      reuseSeconds: 600,
    });
    expect(parsePolicy("/p/demo.yaml", HEAD).policy).not.toHaveProperty("approval");
  });

  it("refuses what would ask in no case, unknown keys and bad values, at their lines", () => {
    expect(problems("  timeout: 1m\n")).toEqual([expect.stringMatching(/^\/p\/demo\.yaml:7: approval: asks for approval in no case: add required: true, or when:/)]);
    expect(problems("  required: yes please\n")[0]).toMatch(/:8: approval\.required: must be true or false/);
    expect(problems("  required: true\n  timout: 1m\n")[0]).toMatch(/approval\.timout/);
    expect(problems("  required: true\n  timeout: 2d\n")[0]).toMatch(/approval\.timeout: must be at most 1d|approval\.timeout: must be at most 24h/);
    expect(problems("  when: { repositories: [\"../x\"] }\n")[0]).toMatch(/approval\.when\.repositories\[0\]/);
    expect(problems("  required: true\n  when: { github_write: true }\n")[0]).toMatch(/drop when:/);
  });

  it("asks when a condition holds for the narrowed request, and only then", () => {
    const policy = parse("  when: { github_write: true, ttl_over: 30m, repositories: [website] }\n").policy!;
    const reasons = (request: Parameters<typeof narrowRequest>[1]) => approvalReasons(policy.approval, narrowRequest(policy, request));
    expect(reasons({})).toEqual(["github_write", "repositories"]);
    expect(reasons({ scope: { github: { repositories: ["reports"], permissions: { contents: "read" } } } })).toEqual([]);
    expect(reasons({ ttlSeconds: 3600, scope: { github: { repositories: ["reports"], permissions: { contents: "read" } } } })).toEqual(["ttl_over"]);
    expect(reasons({ scope: { github: { repositories: ["Website"], permissions: { issues: "read" } } } })).toEqual(["repositories"]);
  });
});
