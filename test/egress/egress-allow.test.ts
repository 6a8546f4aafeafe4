import { describe, expect, it } from "vitest";
import type { EgressPlan } from "../../src/egress/egress-allow.js";
import { egressDecider, egressHint, normaliseHost } from "../../src/egress/egress-allow.js";
import { parseEgressEntry } from "../../src/policy/egress-rules.js";
import type { EgressRule } from "../../src/policy/types.js";

/** Rules as a policy would hold them, from their YAML spelling. */
function rules(...entries: string[]): EgressRule[] {
  return entries.map((entry) => {
    const parsed = parseEgressEntry(entry);
    if (!("rule" in parsed)) throw new Error(`${entry}: ${parsed.problem}`);
    return parsed.rule;
  });
}

/** `host:port` → "exact" | "allowed" | "refused", for compact tables. */
function verdicts(plan: EgressPlan, targets: Array<[string, number]>): Record<string, string> {
  const decide = egressDecider(plan);
  return Object.fromEntries(
    targets.map(([host, port]) => {
      const { allowed, exact } = decide(host, port);
      return [`${host}:${port}`, allowed ? (exact ? "exact" : "allowed") : exact ? "refused but exact?!" : "refused"];
    }),
  );
}

const GITHUB = { apiUrl: "https://api.github.com" };
const AWS = { region: "us-east-1" };

describe("egressDecider with an explicit egress list", () => {
  const cases: Array<[string, string[], Array<[string, number, string]>]> = [
    [
      "a host without a port: 443 and 80 only, exactly",
      ["api.anthropic.com"],
      [
        ["api.anthropic.com", 443, "exact"],
        ["api.anthropic.com", 80, "exact"],
        ["api.anthropic.com", 8443, "refused"],
        ["anthropic.com", 443, "refused"],
        ["x.api.anthropic.com", 443, "refused"],
        ["api.anthropic.com.evil.example", 443, "refused"],
      ],
    ],
    [
      "a host with a port: that port only",
      ["registry.npmjs.org:443", "127.0.0.2:8443"],
      [
        ["registry.npmjs.org", 443, "exact"],
        ["registry.npmjs.org", 80, "refused"],
        ["127.0.0.2", 8443, "exact"],
        ["127.0.0.2", 443, "refused"],
        ["127.0.0.3", 8443, "refused"],
      ],
    ],
    [
      "the same host with and without a port adds up",
      ["a.example", "a.example:8080"],
      [
        ["a.example", 443, "exact"],
        ["a.example", 80, "exact"],
        ["a.example", 8080, "exact"],
        ["a.example", 8443, "refused"],
      ],
    ],
    [
      "*.domain: subdomains at any depth, never the apex, never exact",
      ["*.githubusercontent.com"],
      [
        ["raw.githubusercontent.com", 443, "allowed"],
        ["a.b.githubusercontent.com", 80, "allowed"],
        ["githubusercontent.com", 443, "refused"],
        ["evilgithubusercontent.com", 443, "refused"],
        ["raw.githubusercontent.com", 22, "refused"],
        ["raw.githubusercontent.com.evil.example", 443, "refused"],
      ],
    ],
    [
      "*.domain with a port",
      ["*.example.com:8443"],
      [
        ["a.example.com", 8443, "allowed"],
        ["a.example.com", 443, "refused"],
        ["example.com", 8443, "refused"],
      ],
    ],
    [
      "a suffix and the apex named exactly",
      ["*.example.com", "example.com"],
      [
        ["example.com", 443, "exact"],
        ["www.example.com", 443, "allowed"],
      ],
    ],
    [
      "*: anything, on any port, never exact",
      ["*"],
      [
        ["evil.example", 443, "allowed"],
        ["evil.example", 22, "allowed"],
        ["127.0.0.1", 5432, "allowed"],
        ["::1", 1, "allowed"],
      ],
    ],
    [
      "* with a named host: the named one stays exact",
      ["*", "127.0.0.2:5432"],
      [
        ["127.0.0.2", 5432, "exact"],
        ["127.0.0.2", 5433, "allowed"],
        ["10.0.0.1", 443, "allowed"],
      ],
    ],
    [
      "IP literals: v4 and v6, bracketed or bare",
      ["10.1.2.3", "[::1]:8443", "fd00:ec2::254"],
      [
        ["10.1.2.3", 443, "exact"],
        ["10.1.2.3", 8443, "refused"],
        ["::1", 8443, "exact"],
        ["::1", 443, "refused"],
        ["fd00:ec2::254", 80, "exact"],
        ["fd00:ec2:0::254", 80, "exact"],
        ["10.1.2.4", 443, "refused"],
      ],
    ],
  ];

  it.each(cases)("%s", (_name, entries, targets) => {
    const got = verdicts({ egress: rules(...entries) }, targets.map(([host, port]) => [host, port]));
    expect(got).toEqual(Object.fromEntries(targets.map(([host, port, verdict]) => [`${host}:${port}`, verdict])));
  });

  it("allows nothing from an empty list", () => {
    expect(verdicts({ egress: [] }, [["api.github.com", 443], ["a.example", 80]])).toEqual({ "api.github.com:443": "refused", "a.example:80": "refused" });
  });

  it("does not add the credential hosts implicitly, but always the policy's api_url and endpoint", () => {
    const plan: EgressPlan = { egress: rules("api.anthropic.com"), github: GITHUB, aws: { ...AWS, endpoint: "http://127.0.0.2:4566" } };
    expect(
      verdicts(plan, [
        ["api.anthropic.com", 443],
        ["github.com", 443],
        ["codeload.github.com", 443],
        ["objects.githubusercontent.com", 443],
        ["sts.us-east-1.amazonaws.com", 443],
        ["api.github.com", 443],
        ["api.github.com", 80],
        ["127.0.0.2", 4566],
        ["127.0.0.2", 443],
      ]),
    ).toEqual({
      "api.anthropic.com:443": "exact",
      "github.com:443": "refused",
      "codeload.github.com:443": "refused",
      "objects.githubusercontent.com:443": "refused",
      "sts.us-east-1.amazonaws.com:443": "refused",
      "api.github.com:443": "exact",
      "api.github.com:80": "refused",
      "127.0.0.2:4566": "exact",
      "127.0.0.2:443": "refused",
    });
  });
});

describe("egressDecider without an egress list (the task's own credential hosts)", () => {
  it("allows nothing for a task with only env secrets", () => {
    expect(verdicts({}, [["api.openai.com", 443], ["github.com", 443]])).toEqual({ "api.openai.com:443": "refused", "github.com:443": "refused" });
  });

  it("allows github.com's API, web and content hosts", () => {
    expect(
      verdicts({ github: GITHUB }, [
        ["api.github.com", 443],
        ["api.github.com", 80],
        ["github.com", 443],
        ["github.com", 80],
        ["github.com", 22],
        ["codeload.github.com", 443],
        ["uploads.github.com", 443],
        ["objects.githubusercontent.com", 443],
        ["githubusercontent.com", 443],
        ["registry.npmjs.org", 443],
        ["sts.amazonaws.com", 443],
      ]),
    ).toEqual({
      "api.github.com:443": "exact",
      "api.github.com:80": "allowed", // by *.github.com, so not exact
      "github.com:443": "allowed",
      "github.com:80": "allowed",
      "github.com:22": "refused",
      "codeload.github.com:443": "allowed",
      "uploads.github.com:443": "allowed",
      "objects.githubusercontent.com:443": "allowed",
      "githubusercontent.com:443": "refused",
      "registry.npmjs.org:443": "refused",
      "sts.amazonaws.com:443": "refused",
    });
  });

  it("allows a GitHub Enterprise Server host on its own, exactly, and not github.com", () => {
    expect(
      verdicts({ github: { apiUrl: "https://ghe.acme.example/api/v3" } }, [
        ["ghe.acme.example", 443],
        ["ghe.acme.example", 80],
        ["github.com", 443],
        ["api.github.com", 443],
        ["x.ghe.acme.example", 443],
      ]),
    ).toEqual({
      "ghe.acme.example:443": "exact",
      "ghe.acme.example:80": "exact",
      "github.com:443": "refused",
      "api.github.com:443": "refused",
      "x.ghe.acme.example:443": "refused",
    });
  });

  it("allows a GHE.com tenant's API and web hosts", () => {
    expect(verdicts({ github: { apiUrl: "https://api.acme.ghe.com" } }, [["api.acme.ghe.com", 443], ["acme.ghe.com", 443], ["other.ghe.com", 443]])).toEqual({
      "api.acme.ghe.com:443": "exact",
      "acme.ghe.com:443": "allowed",
      "other.ghe.com:443": "refused",
    });
  });

  it("allows a stand-in api_url on its explicit port, exactly", () => {
    expect(verdicts({ github: { apiUrl: "http://127.0.0.2:8787" } }, [["127.0.0.2", 8787], ["127.0.0.2", 80], ["127.0.0.2", 443], ["github.com", 443]])).toEqual({
      "127.0.0.2:8787": "exact",
      "127.0.0.2:80": "refused",
      "127.0.0.2:443": "refused",
      "github.com:443": "refused",
    });
    expect(verdicts({ github: { apiUrl: "http://[::1]:8787/api/v3" } }, [["::1", 8787], ["::1", 8788]])).toEqual({ "::1:8787": "exact", "::1:8788": "refused" });
  });

  it("gives an api_url without a port its scheme's port", () => {
    expect(verdicts({ aws: { ...AWS, endpoint: "http://127.0.0.2" } }, [["127.0.0.2", 80], ["127.0.0.2", 443], ["127.0.0.2", 8080]])).toEqual({
      "127.0.0.2:80": "exact",
      "127.0.0.2:443": "refused",
      "127.0.0.2:8080": "refused",
    });
    expect(verdicts({ egress: [], aws: { ...AWS, endpoint: "https://sts.example" } }, [["sts.example", 443], ["sts.example", 80]])).toEqual({
      "sts.example:443": "exact",
      "sts.example:80": "refused",
    });
  });

  it("allows *.amazonaws.com for aws, plus the endpoint exactly", () => {
    expect(
      verdicts({ aws: { ...AWS, endpoint: "http://127.0.0.2:4566" } }, [
        ["sts.us-east-1.amazonaws.com", 443],
        ["s3.amazonaws.com", 80],
        ["amazonaws.com", 443],
        ["sts.cn-north-1.amazonaws.com.cn", 443],
        ["127.0.0.2", 4566],
        ["127.0.0.2", 4567],
        ["api.github.com", 443],
      ]),
    ).toEqual({
      "sts.us-east-1.amazonaws.com:443": "allowed",
      "s3.amazonaws.com:80": "allowed",
      "amazonaws.com:443": "refused",
      "sts.cn-north-1.amazonaws.com.cn:443": "refused",
      "127.0.0.2:4566": "exact",
      "127.0.0.2:4567": "refused",
      "api.github.com:443": "refused",
    });
    expect(verdicts({ aws: { region: "cn-north-1" } }, [["sts.cn-north-1.amazonaws.com.cn", 443]])).toEqual({ "sts.cn-north-1.amazonaws.com.cn:443": "allowed" });
  });

  it("combines github and aws", () => {
    expect(verdicts({ github: GITHUB, aws: AWS }, [["github.com", 443], ["sts.amazonaws.com", 443], ["evil.example", 443]])).toEqual({
      "github.com:443": "allowed",
      "sts.amazonaws.com:443": "allowed",
      "evil.example:443": "refused",
    });
  });

  it("ignores an api_url it cannot parse rather than throwing", () => {
    expect(verdicts({ github: { apiUrl: "not a url" } }, [["github.com", 443]])).toEqual({ "github.com:443": "refused" });
  });
});

describe("host normalisation", () => {
  it("compares hosts however the caller spells them", () => {
    const decide = egressDecider({ egress: rules("api.example.com", "[::1]:8443") });
    expect(decide("API.Example.COM.", 443)).toEqual({ allowed: true, exact: true });
    expect(decide("[::1]", 8443)).toEqual({ allowed: true, exact: true });
    expect(decide("0:0:0:0:0:0:0:1", 8443)).toEqual({ allowed: true, exact: true });
  });

  it("normaliseHost lowercases, drops a trailing dot and brackets, compresses IPv6", () => {
    expect(["A.B.", "[FD00:EC2:0::254]", "127.0.0.1", "not:an:ip:%"].map(normaliseHost)).toEqual(["a.b", "fd00:ec2::254", "127.0.0.1", "not:an:ip:%"]);
  });
});

describe("egressHint", () => {
  it.each([
    ["evil.example", 443, 'add "evil.example" to egress: in report.yaml'],
    ["evil.example", 80, 'add "evil.example" to egress: in report.yaml'],
    ["evil.example", 8443, 'add "evil.example:8443" to egress: in report.yaml'],
    ["127.0.0.2", 5432, 'add "127.0.0.2:5432" to egress: in report.yaml'],
    ["::1", 8443, 'add "[::1]:8443" to egress: in report.yaml'],
    ["::1", 443, 'add "::1" to egress: in report.yaml'],
  ])("%s:%i → %s", (host, port, hint) => {
    expect(egressHint("report", host, port)).toBe(hint);
  });

  it("suggests an entry the policy accepts, which then allows the target exactly", () => {
    for (const [host, port] of [["evil.example", 8443], ["::1", 8443], ["10.0.0.1", 443]] as const) {
      const entry = /add "(.*)" to egress/.exec(egressHint("t", host, port))?.[1] ?? "";
      expect(egressDecider({ egress: rules(entry) })(host, port)).toEqual({ allowed: true, exact: true });
    }
  });
});
