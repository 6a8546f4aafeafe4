import { describe, expect, it } from "vitest";
import { canonicalIPv6, parseEgressEntry } from "../../src/policy/egress-rules.js";
import type { EgressRule } from "../../src/policy/types.js";
import { formatProblem, parsePolicy } from "../../src/policy/validate-policy.js";

/** A valid policy; `egress:` starts on line 3, its entries below. */
const HEAD = "task: demo\nenv: { API_KEY: { secret: api } }\n";

function parse(egress: string) {
  return parsePolicy("/p/demo.yaml", `${HEAD}egress:\n${egress}\n`);
}

describe("egress:", () => {
  it("is undefined when absent, and an empty list when empty (nothing allowed)", () => {
    expect(parsePolicy("/p/demo.yaml", HEAD).policy).not.toHaveProperty("egress");
    const empty = parsePolicy("/p/demo.yaml", `${HEAD}egress: []\n`);
    expect(empty.problems).toEqual([]);
    expect(empty.policy?.egress).toEqual([]);
  });

  it("reads the example list into rules", () => {
    const { policy, problems } = parse(
      [
        "  - api.anthropic.com",
        "  - registry.npmjs.org:443",
        '  - "*.githubusercontent.com"',
        "  - 127.0.0.2:8443",
        '  - "[::1]:8443"',
        '  - "::1"',
        '  - "*"',
      ].join("\n"),
    );
    expect(problems.map(formatProblem)).toEqual([]);
    expect(policy?.egress).toEqual([
      { kind: "host", host: "api.anthropic.com" },
      { kind: "host", host: "registry.npmjs.org", port: 443 },
      { kind: "suffix", suffix: ".githubusercontent.com" },
      { kind: "host", host: "127.0.0.2", port: 8443 },
      { kind: "host", host: "::1", port: 8443 },
      { kind: "host", host: "::1" },
      { kind: "any" },
    ]);
  });

  it("reports a bad entry at its own line and index", () => {
    const { policy, problems } = parse("  - ok.example\n  - bad_host.example\n  - '*:443'");
    expect(policy).toBeUndefined();
    expect(problems.map((p) => `${p.line} ${p.field}`)).toEqual(["5 egress[1]", "6 egress[2]"]);
  });

  it("reports entries that normalise to the same rule as listed twice", () => {
    const { problems } = parse("  - Example.COM\n  - example.com.");
    expect(problems.map((p) => `${p.line} ${p.field}: ${p.problem}`)).toEqual(["5 egress[1]: is listed twice"]);
    expect(parse("  - example.com\n  - example.com:443").problems).toEqual([]);
  });

  it("refuses a mapping, a number and an unquoted wildcard", () => {
    expect(parsePolicy("/p/demo.yaml", `${HEAD}egress: { host: a.example }\n`).problems[0]?.problem).toMatch(/must be a list/);
    expect(parse("  - 8443").problems[0]?.problem).toMatch(/must be text.*quote it/);
    expect(parse("  - *.example.com").problems.map((p) => `${p.line} ${p.field}: ${p.problem}`)).toEqual([
      '4 egress[0]: starts with *, which YAML reads as an alias; quote it: "*.example.com"',
    ]);
    expect(parse("  - &h a.example:8443\n  - b.example\n  - *h").problems.map(formatProblem)).toEqual(["/p/demo.yaml:6: egress[2]: is listed twice"]);
  });

  it("counts egress alone as a grant (a box that needs only the network)", () => {
    expect(parsePolicy("/p/demo.yaml", "task: demo\negress: ['registry.npmjs.org']\n").problems).toEqual([]);
  });
});

describe("parseEgressEntry", () => {
  const good: Array<[string, EgressRule]> = [
    ["api.anthropic.com", { kind: "host", host: "api.anthropic.com" }],
    ["API.Anthropic.COM", { kind: "host", host: "api.anthropic.com" }],
    ["api.anthropic.com.", { kind: "host", host: "api.anthropic.com" }],
    ["localhost", { kind: "host", host: "localhost" }],
    ["xn--bcher-kva.example", { kind: "host", host: "xn--bcher-kva.example" }],
    ["registry.npmjs.org:443", { kind: "host", host: "registry.npmjs.org", port: 443 }],
    ["example.com.:8080", { kind: "host", host: "example.com", port: 8080 }],
    ["a.example:1", { kind: "host", host: "a.example", port: 1 }],
    ["a.example:65535", { kind: "host", host: "a.example", port: 65535 }],
    ["*.githubusercontent.com", { kind: "suffix", suffix: ".githubusercontent.com" }],
    ["*.Example.COM.", { kind: "suffix", suffix: ".example.com" }],
    ["*.example.com:8443", { kind: "suffix", suffix: ".example.com", port: 8443 }],
    ["*", { kind: "any" }],
    ["127.0.0.2", { kind: "host", host: "127.0.0.2" }],
    ["127.0.0.2:8443", { kind: "host", host: "127.0.0.2", port: 8443 }],
    ["10.1.2.3.", { kind: "host", host: "10.1.2.3" }],
    ["::1", { kind: "host", host: "::1" }],
    ["[::1]", { kind: "host", host: "::1" }],
    ["[::1]:8443", { kind: "host", host: "::1", port: 8443 }],
    ["[0:0:0:0:0:0:0:1]:80", { kind: "host", host: "::1", port: 80 }],
    ["FD00:EC2::254", { kind: "host", host: "fd00:ec2::254" }],
    ["::ffff:127.0.0.1", { kind: "host", host: "::ffff:7f00:1" }],
  ];
  it.each(good)("reads %s", (entry, rule) => {
    expect(parseEgressEntry(entry)).toEqual({ rule });
  });

  const bad: Array<[string, RegExp]> = [
    ["", /has no host; expected a host name/],
    [":443", /has no host/],
    ["a.example:", /port ""; a port is a number from 1 to 65535/],
    ["a.example:0", /port "0"/],
    ["a.example:65536", /port "65536"/],
    ["a.example:080", /port "080"/],
    ["a.example:https", /port "https"/],
    ["*:443", /"\*" already allows every host.*write "\*" alone/],
    ["*:*", /"\*" alone/],
    ["*.", /\* only/],
    ["**.example.com", /\* only as "\*" alone or as the whole first label/],
    ["a.*.example.com", /\* only/],
    ["*example.com", /\* only/],
    ["api.*", /\* only/],
    ["bad_host.example", /"bad_host", which is not a DNS label/],
    ["a..example", /empty label/],
    [".example.com", /empty label/],
    [`${"a".repeat(64)}.example`, /not a DNS label \(1 to 63/],
    [`${"a.".repeat(127)}example`, /longer than 253/],
    ["exa mple.com", /spaces/],
    ["https://api.example.com", /not an IPv6 address|port/],
    ["api.example.com/v1", /not a DNS label/],
    ["user@api.example.com", /not a DNS label/],
    ["127.1", /looks like an IPv4 address/],
    ["256.1.1.1", /looks like an IPv4 address/],
    ["1.2.3.4.5", /looks like an IPv4 address/],
    ["::1:8443:x", /not an IPv6 address; with a port, write one in brackets/],
    ["[::1", /not "\[IPv6\]"/],
    ["[example.com]:443", /"\[example.com\]", which is not an IPv6 address/],
    ["[127.0.0.1]", /not an IPv6 address/],
    ["[::1]:0", /port "0"/],
    ["[::1]8443", /not "\[IPv6\]"/],
    ["fe80::1%eth0", /not an IPv6 address/],
  ];
  it.each(bad)("refuses %j, saying what is wrong", (entry, problem) => {
    const parsed = parseEgressEntry(entry);
    expect(parsed).toHaveProperty("problem");
    expect("problem" in parsed ? parsed.problem : "").toMatch(problem);
  });

  it("canonicalises IPv6 spellings", () => {
    expect(canonicalIPv6("0000:0000::0001")).toBe("::1");
    expect(canonicalIPv6("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
  });
});
