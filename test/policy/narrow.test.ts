import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors.js";
import { levelsFor, levelWithin, PERMISSION_NAMES } from "../../src/policy/github-permissions.js";
import { narrowRequest, parseRequestedPermissions, parseRequestedRepositories } from "../../src/policy/narrow.js";
import type { PermissionLevel, Policy, RequestScope } from "../../src/policy/types.js";
import { parsePolicy } from "../../src/policy/validate-policy.js";

const POLICY_YAML = `task: pr-bot
github:
  app: gh-app
  owner: acme
  repositories: [website, docs]
  permissions: { contents: write, pull_requests: write }
env:
  API_KEY: { secret: api }
`;

function policy(overrides: Partial<Policy> = {}): Policy {
  return {
    task: "pr-bot",
    ttlSeconds: 900,
    maxTtlSeconds: 3600,
    maxSessions: 16,
    github: {
      app: "gh-app",
      apiUrl: "https://api.github.com",
      owner: "acme",
      repositories: ["website", "docs"],
      permissions: { contents: "write", pull_requests: "write", issues: "read" },
    },
    env: { API_KEY: { secret: "api" } },
    sandbox: { write: [], hide: [], passEnv: [] },
    file: "/etc/broker/policies/pr-bot.yaml",
    ...overrides,
  };
}

function denial(run: () => unknown): BrokerError {
  try {
    run();
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error("expected a BrokerError");
}

describe("narrowRequest", () => {
  it("gives the policy's defaults to a request that asks for nothing", () => {
    const plan = narrowRequest(policy(), {});
    expect(plan).toEqual({
      task: "pr-bot",
      ttlSeconds: 900,
      github: policy().github,
      env: { API_KEY: { secret: "api" } },
      sandbox: { write: [], hide: [], passEnv: [] },
    });
  });

  it("carries the policy's sandbox and egress into the plan, and leaves an absent egress absent", () => {
    const sandbox = { write: ["~/.cache/agent"], hide: ["~/.config/x"], passEnv: ["npm_config_*"] };
    const egress = [{ kind: "host" as const, host: "api.anthropic.com" }];
    const plan = narrowRequest(policy({ sandbox, egress }), {});
    expect(plan.sandbox).toBe(sandbox);
    expect(plan.egress).toBe(egress);
    expect(narrowRequest(policy({ egress: [] }), {}).egress).toEqual([]);
    expect(narrowRequest(policy(), {})).not.toHaveProperty("egress");
  });

  it("accepts a shorter TTL, and max_ttl itself", () => {
    expect(narrowRequest(policy(), { ttlSeconds: 60 }).ttlSeconds).toBe(60);
    expect(narrowRequest(policy(), { ttlSeconds: 3600 }).ttlSeconds).toBe(3600);
  });

  it("refuses a TTL above max_ttl, naming the limit, instead of cutting it", () => {
    const error = denial(() => narrowRequest(policy(), { ttlSeconds: 3601 }));
    expect(error.code).toBe("ERR_POLICY_DENIED");
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain("at most 1h");
    expect(error.message).toContain("1h1s");
    expect(error.fix).toContain("max_ttl");
  });

  it("refuses a TTL that is not a whole positive number of seconds", () => {
    for (const ttlSeconds of [0, -5, 1.5, Number.NaN]) {
      expect(denial(() => narrowRequest(policy(), { ttlSeconds })).code).toBe("ERR_BAD_REQUEST");
    }
  });

  it("accepts fewer repositories and lower permissions, and the plan carries exactly those", () => {
    const plan = narrowRequest(policy(), { scope: { github: { repositories: ["docs"], permissions: { contents: "read" } } } });
    expect(plan.github?.repositories).toEqual(["docs"]);
    expect(plan.github?.permissions).toEqual({ contents: "read" });
    expect(plan.github?.owner).toBe("acme");
  });

  it("matches repository names ignoring case, keeping the policy's spelling", () => {
    const plan = narrowRequest(policy(), { scope: { github: { repositories: ["Website", "website"] } } });
    expect(plan.github?.repositories).toEqual(["website"]);
  });

  it("refuses repositories beyond the policy, naming them", () => {
    const error = denial(() => narrowRequest(policy(), { scope: { github: { repositories: ["docs", "secrets", "infra"] } } }));
    expect(error.code).toBe("ERR_POLICY_DENIED");
    expect(error.message).toContain("repositories secrets, infra");
    expect(error.message).toContain("website, docs");
  });

  it("allows any repository names when the policy lists none", () => {
    const open = policy({ github: { ...policy().github!, repositories: undefined } });
    delete open.github!.repositories;
    expect(narrowRequest(open, {}).github?.repositories).toBeUndefined();
    expect(narrowRequest(open, { scope: { github: { repositories: ["anything"] } } }).github?.repositories).toEqual(["anything"]);
  });

  it("refuses higher or ungranted permissions, saying what was asked beyond the policy", () => {
    const error = denial(() =>
      narrowRequest(policy(), { scope: { github: { permissions: { contents: "read", issues: "write", administration: "write" } } } }),
    );
    expect(error.code).toBe("ERR_POLICY_DENIED");
    expect(error.message).toContain("issues=write (the policy grants issues=read)");
    expect(error.message).toContain("administration=write (the policy grants no administration)");
    expect(error.message).not.toContain("contents");
  });

  it("refuses a github scope on a task without github", () => {
    const envOnly = policy();
    delete envOnly.github;
    const error = denial(() => narrowRequest(envOnly, { scope: { github: { permissions: { contents: "read" } } } }));
    expect(error.code).toBe("ERR_POLICY_DENIED");
    expect(error.message).toContain("grants no GitHub access");
  });

  it("refuses malformed scopes rather than ignoring them", () => {
    const bad: unknown[] = [
      { aws: {} },
      { github: { owner: "other" } },
      { github: { repositories: [] } },
      { github: { repositories: ["acme/website"] } },
      { github: { permissions: {} } },
      { github: { permissions: { contents: "owner" } } },
      { github: { permissions: { not_a_permission: "read" } } },
    ];
    for (const scope of bad) {
      expect(denial(() => narrowRequest(policy(), { scope: scope as RequestScope })).code).toBe("ERR_BAD_REQUEST");
    }
  });

  it("gives plans only frozen parts of a parsed policy, so no session can change it for the next", () => {
    const { policy: p } = parsePolicy("/etc/broker/policies/pr-bot.yaml", POLICY_YAML);
    const plan = narrowRequest(p!, {});
    expect(() => (plan.github!.permissions.contents = "admin")).toThrow(TypeError);
    expect(() => (plan.env.API_KEY!.secret = "other")).toThrow(TypeError);
    expect(() => plan.github!.repositories!.push("other")).toThrow(TypeError);
    const narrowed = narrowRequest(p!, { scope: { github: { repositories: ["docs"], permissions: { contents: "read" } } } });
    expect(narrowed.github).toMatchObject({ repositories: ["docs"], permissions: { contents: "read" } });
    expect(p!.github).toMatchObject({ repositories: ["website", "docs"], permissions: { contents: "write", pull_requests: "write" } });
  });

  it("accepts only requests within the policy, and then gives exactly what was asked", () => {
    const levels: PermissionLevel[] = ["read", "write", "admin"];
    const names = ["contents", "issues", "pull_requests", "repository_projects", "checks"];
    const repoNames = ["a", "b", "c", "d"];
    const policies = fc.record({
      maxTtl: fc.integer({ min: 1, max: 86_400 }),
      repositories: fc.option(fc.uniqueArray(fc.constantFrom(...repoNames), { minLength: 1 }), { nil: undefined }),
      permissions: fc.dictionary(fc.constantFrom(...names), fc.constantFrom<PermissionLevel>("read", "write"), { minKeys: 1 }),
    });
    const requests = fc.record(
      {
        ttlSeconds: fc.integer({ min: 1, max: 100_000 }),
        repositories: fc.uniqueArray(fc.constantFrom(...repoNames), { minLength: 1 }),
        permissions: fc.dictionary(fc.constantFrom(...names), fc.constantFrom(...levels), { minKeys: 1 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(policies, requests, (shape, request) => {
        const github = { app: "gh", apiUrl: "https://api.github.com", owner: "acme", permissions: shape.permissions };
        const p = policy({
          maxTtlSeconds: shape.maxTtl,
          ttlSeconds: Math.min(900, shape.maxTtl),
          github: shape.repositories ? { ...github, repositories: shape.repositories } : github,
        });
        const { ttlSeconds, ...scope } = request;
        const granted = p.github!;
        const tooLong = ttlSeconds !== undefined && ttlSeconds > p.maxTtlSeconds;
        const invalid = Object.entries(scope.permissions ?? {}).some(([name, level]) => !levelsFor(name)?.includes(level));
        const wider =
          (scope.repositories ?? []).some((r) => granted.repositories && !granted.repositories.includes(r)) ||
          Object.entries(scope.permissions ?? {}).some(([name, level]) => !granted.permissions[name] || !levelWithin(level, granted.permissions[name]));
        const run = () => narrowRequest(p, { ...(ttlSeconds !== undefined ? { ttlSeconds } : {}), scope: { github: scope } });
        if (tooLong || invalid || wider) {
          // Refused, never cut: a denial when it asks for more, a bad request for a level GitHub does not offer.
          expect(denial(run).code).toBe(tooLong || !invalid ? "ERR_POLICY_DENIED" : "ERR_BAD_REQUEST");
          return;
        }
        const plan = run();
        expect(plan.ttlSeconds).toBeLessThanOrEqual(p.maxTtlSeconds);
        expect(plan.ttlSeconds).toBe(ttlSeconds ?? p.ttlSeconds);
        const repos = plan.github?.repositories;
        if (granted.repositories) expect(repos?.every((r) => granted.repositories!.includes(r)) ?? true).toBe(true);
        expect(repos).toEqual(scope.repositories ?? granted.repositories);
        for (const [name, level] of Object.entries(plan.github!.permissions)) {
          expect(granted.permissions[name]).toBeDefined();
          expect(levelWithin(level, granted.permissions[name]!)).toBe(true);
        }
        expect(plan.github?.permissions).toEqual(scope.permissions ?? granted.permissions);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("parseRequestedPermissions", () => {
  it("parses name=level pairs", () => {
    expect(parseRequestedPermissions("contents=read,issues=write")).toEqual({ contents: "read", issues: "write" });
    expect(parseRequestedPermissions(" contents = read , pull_requests=write ")).toEqual({ contents: "read", pull_requests: "write" });
  });

  it.each([
    ["", /empty/],
    ["contents", /name=level/],
    ["contents=read,", /empty/],
    ["contents=owner", /read, write/],
    ["content=read", /did you mean contents/],
    ["metadata=write", /only be read/],
    ["contents=read,contents=write", /twice/],
  ])("refuses %j with ERR_USAGE", (text, message) => {
    const error = denial(() => parseRequestedPermissions(text));
    expect(error.code).toBe("ERR_USAGE");
    expect(`${error.message} ${error.fix ?? ""}`).toMatch(message);
  });

  it("knows every permission the validator knows", () => {
    for (const name of PERMISSION_NAMES) expect(() => parseRequestedPermissions(`${name}=${name === "workflows" || name === "profile" ? "write" : "read"}`)).not.toThrow();
  });
});

describe("parseRequestedRepositories", () => {
  it("parses a comma-separated list", () => {
    expect(parseRequestedRepositories("website, docs")).toEqual(["website", "docs"]);
  });

  it.each([
    ["", /empty/],
    ["a,,b", /empty/],
    ["acme/website", /without its owner/],
    ["we b", /repository name/],
    ["a,A", /twice/],
  ])("refuses %j with ERR_USAGE", (text, message) => {
    const error = denial(() => parseRequestedRepositories(text));
    expect(error.code).toBe("ERR_USAGE");
    expect(error.message).toMatch(message);
  });
});
