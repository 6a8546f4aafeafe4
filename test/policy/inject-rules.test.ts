/** The injection keys: github/aws `inject`, `env.NAME.inject`, `on_leak`, and the hosts they add. */
import { describe, expect, it } from "vitest";
import { injectedHosts } from "../../src/policy/injected-hosts.js";
import { formatProblem, parsePolicy } from "../../src/policy/validate-policy.js";

const FILE = "/p/demo.yaml";

/** A policy whose env entry is `API_KEY: { secret: api, inject: INJECT }` on line 3. */
function withInject(inject: string, extra = ""): string {
  return `task: demo\nenv:\n  API_KEY: { secret: api, inject: ${inject} }\n${extra}`;
}

function problems(text: string): string[] {
  return parsePolicy(FILE, text).problems.map(formatProblem);
}

describe("injection keys in a policy", () => {
  it("reads github.inject, aws.inject and on_leak", () => {
    const text = [
      "task: demo",
      "github: { app: a, owner: acme, permissions: { contents: read }, inject: true }",
      "aws: { source: s, region: us-east-1, inject: true }",
      "on_leak: deny",
    ].join("\n");
    const { policy, problems: found } = parsePolicy(FILE, text);
    expect(found).toEqual([]);
    expect(policy).toMatchObject({ github: { inject: true }, aws: { inject: true }, onLeak: "deny" });
    expect(parsePolicy(FILE, "task: demo\ngithub: { app: a, owner: acme, permissions: { contents: read }, inject: false }\n").policy?.github?.inject).toBeUndefined();
    expect(parsePolicy(FILE, withInject("{ host: a.example, header: X-Key }")).policy?.onLeak).toBeUndefined();
  });

  it("reads an env injection into a header, with hosts normalised and the header lower case", () => {
    const { policy, problems: found } = parsePolicy(FILE, withInject('{ host: API.OpenAI.com, header: Authorization, format: "Bearer {value}" }'));
    expect(found).toEqual([]);
    expect(policy?.env.API_KEY).toEqual({
      secret: "api",
      inject: { hosts: [{ kind: "host", host: "api.openai.com" }], header: "authorization", format: "Bearer {value}" },
    });
  });

  it("reads a query injection on a list of hosts, with ports and a wildcard, and placeholder: shaped", () => {
    const { policy, problems: found } = parsePolicy(FILE, withInject('{ host: [a.example, "*.b.example", "127.0.0.2:8443"], query: api_key, placeholder: shaped }'));
    expect(found).toEqual([]);
    expect(policy?.env.API_KEY?.inject).toEqual({
      hosts: [
        { kind: "host", host: "a.example" },
        { kind: "suffix", suffix: ".b.example" },
        { kind: "host", host: "127.0.0.2", port: 8443 },
      ],
      query: "api_key",
      format: "{value}",
      placeholder: "shaped",
    });
    expect(parsePolicy(FILE, withInject("{ host: a.example, query: k, placeholder: random }")).policy?.env.API_KEY?.inject?.placeholder).toBeUndefined();
  });

  const invalid: Array<[string, string, RegExp]> = [
    ["no host", "{ header: X-Key }", /3: env\.API_KEY\.inject\.host: is required/],
    ["host *", '{ host: "*", header: X-Key }', /inject\.host: may not be "\*"/],
    ["host unquoted *.domain", "{ host: *.a.example, header: X-Key }", /quote it/],
    ["host a URL", "{ host: https://a.example, header: X-Key }", /inject\.host: /],
    ["host with a bad port", "{ host: a.example:0, header: X-Key }", /inject\.host: has port/],
    ["a bad host in a list", "{ host: [a.example, 'b c'], header: X-Key }", /inject\.host\[1\]: must not contain spaces/],
    ["an empty host list", "{ host: [], header: X-Key }", /inject\.host: must list 1 to 100/],
    ["neither header nor query", "{ host: a.example }", /env\.API_KEY\.inject: needs header: NAME or query: NAME/],
    ["both header and query", "{ host: a.example, header: X-Key, query: key }", /env\.API_KEY\.inject: gives both header and query/],
    ["header not a token", '{ host: a.example, header: "X Key" }', /inject\.header: must be a header name/],
    ["header Host", "{ host: a.example, header: Host }", /inject\.header: may not be Host/],
    ["header Content-Length", "{ host: a.example, header: content-length }", /may not be content-length/],
    ["header Transfer-Encoding", "{ host: a.example, header: Transfer-Encoding }", /may not be Transfer-Encoding/],
    ["header Connection", "{ host: a.example, header: Connection }", /may not be Connection/],
    ["header Proxy-Authorization", "{ host: a.example, header: Proxy-Authorization }", /may not be Proxy-Authorization/],
    ["query with &", '{ host: a.example, query: "a&b" }', /inject\.query: must be a query parameter name/],
    ["format without {value}", '{ host: a.example, header: X-Key, format: "Bearer" }', /inject\.format: must contain \{value\} exactly once.*0 times/],
    ["format with {value} twice", '{ host: a.example, header: X-Key, format: "{value}{value}" }', /found it 2 times/],
    ["format with a newline", '{ host: a.example, header: X-Key, format: "{value}\\r\\nX: y" }', /inject\.format: may hold only visible ASCII/],
    ["placeholder unknown", "{ host: a.example, header: X-Key, placeholder: short }", /inject\.placeholder: must be shaped or random/],
    ["unknown key", "{ host: a.example, header: X-Key, hosts: b.example }", /inject\.hosts: unknown key; did you mean host/],
    ["inject not a mapping", "yes", /inject: must be a mapping/],
  ];
  it.each(invalid)("reports %s at its line and field", (_, inject, expected) => {
    const found = problems(withInject(inject));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(expected);
    expect(found[0]).toMatch(/^\/p\/demo\.yaml:3: /);
  });

  it.each([
    ["on_leak: stop", "on_leak", /must be end or deny/],
    ["github: { app: a, owner: acme, permissions: { contents: read }, inject: yes please }", "github.inject", /must be true or false/],
    ["aws: { source: s, region: us-east-1, inject: 'true' }", "aws.inject", /must be true or false/],
  ])("reports %s", (line, field, expected) => {
    const found = problems(withInject("{ host: a.example, header: X-Key }", `${line}\n`));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(`:4: ${field}: `);
    expect(found[0]).toMatch(expected);
  });
});

describe("injectedHosts", () => {
  const policy = (text: string) => {
    const { policy: read, problems: found } = parsePolicy(FILE, text);
    expect(found).toEqual([]);
    return read!;
  };

  it("gives GitHub's API and web hosts for github.com, and one host for any other api_url", () => {
    expect(injectedHosts(policy("task: demo\ngithub: { app: a, owner: acme, permissions: { contents: read }, inject: true }\n"))).toEqual([
      { kind: "host", host: "api.github.com", port: 443 },
      { kind: "host", host: "github.com", port: 443 },
    ]);
    expect(injectedHosts(policy("task: demo\ngithub: { app: a, owner: acme, api_url: 'https://127.0.0.2:8443', permissions: { contents: read }, inject: true }\n"))).toEqual([
      { kind: "host", host: "127.0.0.2", port: 8443 },
    ]);
    expect(injectedHosts(policy("task: demo\ngithub: { app: a, owner: acme, api_url: 'https://ghe.example/api/v3', permissions: { contents: read }, inject: true }\n"))).toEqual([
      { kind: "host", host: "ghe.example", port: 443 },
    ]);
  });

  it("gives *.amazonaws.com and the endpoint for aws, and each env entry's hosts; nothing without inject", () => {
    const text = [
      "task: demo",
      "aws: { source: s, region: eu-west-1, endpoint: 'https://sts.internal.example:9443', inject: true }",
      "github: { app: a, owner: acme, permissions: { contents: read } }",
      "env:",
      "  A: { secret: a, inject: { host: [a.example, '*.b.example'], header: X-Key } }",
      "  B: { secret: b }",
    ].join("\n");
    expect(injectedHosts(policy(text))).toEqual([
      { kind: "suffix", suffix: ".amazonaws.com", port: 443 },
      { kind: "host", host: "sts.internal.example", port: 9443 },
      { kind: "host", host: "a.example" },
      { kind: "suffix", suffix: ".b.example" },
    ]);
    expect(injectedHosts(policy("task: demo\nenv: { A: { secret: a } }\n"))).toEqual([]);
  });
});
