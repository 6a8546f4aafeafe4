import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { globMatcher, INHERITED_ENV, inheritedEnv } from "../../src/sandbox/env-allowlist.js";
import { SCRUBBED_VARIABLES } from "../../src/sinks/child-env.js";

/** An operator's shell: the harmless basics, and what must not reach the command. */
const OPERATOR = {
  PATH: "/usr/bin:/bin",
  HOME: "/home/op",
  USER: "op",
  TERM: "xterm-256color",
  LANG: "en_US.UTF-8",
  LC_ALL: "C.UTF-8",
  LC_CTYPE: "C.UTF-8",
  TMPDIR: "/tmp",
  COLUMNS: "120",
  SSH_AUTH_SOCK: "/run/user/1000/ssh-agent.sock",
  DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
  XDG_RUNTIME_DIR: "/run/user/1000",
  OPENAI_API_KEY: "sk-operator",
  FOO_TOKEN: "t0ken",
  BROKER_STORE_PASSPHRASE: "hunter2",
  BROKER_SOCKET: "/run/user/1000/broker/broker.sock",
  BROKER_SESSION: "s-outer",
  AWS_SECRET_ACCESS_KEY: "operator-secret",
  AWS_ACCESS_KEY_ID: "AKIAOPERATOR",
  AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.2/creds",
  GH_TOKEN: "ghp_operator",
  ANTHROPIC_BASE_URL: "https://api.anthropic.com",
  npm_config_cache: "/home/op/.npm",
  npm_config_registry: "https://registry.npmjs.org",
  my_npm_config_x: "no",
  UNSET: undefined,
};

const realPlatform = process.platform;
function asPlatform(platform: NodeJS.Platform): void {
  Object.defineProperty(process, "platform", { value: platform, configurable: true });
}
afterEach(() => asPlatform(realPlatform));

describe("inheritedEnv", () => {
  it("keeps only the allowlist and LC_*, dropping agents, buses, keys and the broker's own", () => {
    expect(inheritedEnv(OPERATOR, [])).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/op",
      USER: "op",
      TERM: "xterm-256color",
      LANG: "en_US.UTF-8",
      LC_ALL: "C.UTF-8",
      LC_CTYPE: "C.UTF-8",
      TMPDIR: "/tmp",
      COLUMNS: "120",
    });
  });

  it("keeps every allowlisted name", () => {
    const parent = Object.fromEntries(INHERITED_ENV.map((name) => [name, `v-${name}`]));
    expect(inheritedEnv(parent, [])).toEqual(parent);
    expect(INHERITED_ENV).toEqual(expect.arrayContaining(["PATH", "HOME", "SHELL", "TERM_PROGRAM", "NO_COLOR", "FORCE_COLOR", "LINES"]));
  });

  it("adds names and globs from --pass-env / sandbox.pass_env", () => {
    const env = inheritedEnv(OPERATOR, ["ANTHROPIC_BASE_URL", "npm_config_*", "DBUS_SESSION_BUS_ADDRESS"]);
    expect(env).toMatchObject({
      ANTHROPIC_BASE_URL: "https://api.anthropic.com",
      npm_config_cache: "/home/op/.npm",
      npm_config_registry: "https://registry.npmjs.org",
      DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
    });
    expect(env).not.toHaveProperty("my_npm_config_x");
    expect(env).not.toHaveProperty("OPENAI_API_KEY");
  });

  it("never passes BROKER_* or the operator's credential variables, even through a glob *", () => {
    const env = inheritedEnv(OPERATOR, ["*"]);
    for (const name of ["BROKER_STORE_PASSPHRASE", "BROKER_SOCKET", "BROKER_SESSION", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "GH_TOKEN"]) {
      expect(env).not.toHaveProperty(name);
    }
    expect(env).toMatchObject({ OPENAI_API_KEY: "sk-operator", SSH_AUTH_SOCK: "/run/user/1000/ssh-agent.sock" });
    expect(inheritedEnv(OPERATOR, ["BROKER_*", "AWS_*", "GH_TOKEN"])).not.toHaveProperty("BROKER_STORE_PASSPHRASE");
    const scrubbed = Object.fromEntries(SCRUBBED_VARIABLES.map((name) => [name, "x"]));
    expect(inheritedEnv(scrubbed, ["*", ...SCRUBBED_VARIABLES])).toEqual({});
  });

  it("skips unset variables and copies nothing it was not asked to", () => {
    expect(inheritedEnv({ UNSET: undefined, PATH: undefined }, ["UNSET"])).toEqual({});
    expect(inheritedEnv({}, ["*"])).toEqual({});
  });

  it("compares names case-insensitively on Windows, keeping the parent's spelling", () => {
    asPlatform("win32");
    const parent = { Path: "C:\\Windows", broker_store_passphrase: "hunter2", Broker_Socket: "\\\\.\\pipe\\b", aws_secret_access_key: "s", lc_all: "C", Anthropic_Base_Url: "u" };
    expect(inheritedEnv(parent, ["anthropic_base_url", "*"])).toEqual({ Path: "C:\\Windows", lc_all: "C", Anthropic_Base_Url: "u" });
    asPlatform("linux");
    expect(inheritedEnv({ Path: "x", lc_all: "C", broker_socket: "y" }, [])).toEqual({});
  });
});

describe("globMatcher", () => {
  it.each([
    [["npm_config_*"], "npm_config_cache", true],
    [["npm_config_*"], "npm_config_", true],
    [["npm_config_*"], "my_npm_config_cache", false],
    [["npm_config_*"], "NPM_CONFIG_CACHE", false],
    [["*_PROXY"], "HTTPS_PROXY", true],
    [["*_PROXY"], "HTTPS_PROXY_X", false],
    [["A*B*C"], "AxxBxxC", true],
    [["A*B*C"], "ABC", true],
    [["A*B*C"], "ACB", false],
    [["A**"], "A", true],
    [["FOO"], "FOO", true],
    [["FOO"], "FOOD", false],
    [["FOO"], "XFOO", false],
    [["a.b"], "axb", false],
    [["(x)+"], "(x)+", true],
    [[], "ANYTHING", false],
    [["X", "Y*"], "Yes", true],
    [["*"], "", true],
    [["?"], "a", false],
  ] as Array<[string[], string, boolean]>)("%j matches %s: %s", (patterns, name, expected) => {
    expect(globMatcher(patterns)(name)).toBe(expected);
  });

  it("agrees with a regular expression on random names and patterns", () => {
    const alphabet = fc.constantFrom("A", "B", "_", "*");
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 8 }), fc.string({ unit: fc.constantFrom("A", "B", "_"), maxLength: 10 }), (pattern, name) => {
        const regex = new RegExp(`^${pattern.replace(/\*/g, ".*")}$`);
        expect(globMatcher([pattern])(name)).toBe(regex.test(name));
      }),
      { numRuns: 2000 },
    );
  });

  it("stays fast on patterns that make regular expressions backtrack", () => {
    const started = Date.now();
    expect(globMatcher(["*A*A*A*A*A*A*A*A*A*A*B"])("A".repeat(5000))).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
