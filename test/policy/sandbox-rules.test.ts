import { describe, expect, it } from "vitest";
import { passEnvProblem, sandboxPathProblem } from "../../src/policy/sandbox-rules.js";
import { formatProblem, parsePolicy } from "../../src/policy/validate-policy.js";

/** A valid policy; `sandbox:` starts on line 3, its entries below. */
const HEAD = "task: demo\nenv: { API_KEY: { secret: api } }\n";

function parse(sandbox: string) {
  return parsePolicy("/p/demo.yaml", `${HEAD}sandbox:\n${sandbox}\n`);
}

/** `line field: problem` of each problem. */
function problems(sandbox: string): string[] {
  return parse(sandbox).problems.map((p) => `${p.line} ${p.field}: ${p.problem}`);
}

describe("sandbox:", () => {
  it("defaults to empty lists when absent", () => {
    const { policy, problems: found } = parsePolicy("/p/demo.yaml", HEAD);
    expect(found).toEqual([]);
    expect(policy?.sandbox).toEqual({ write: [], hide: [], passEnv: [] });
  });

  it("accepts an empty mapping and each key alone", () => {
    expect(parsePolicy("/p/demo.yaml", `${HEAD}sandbox: {}\n`).policy?.sandbox).toEqual({ write: [], hide: [], passEnv: [] });
    expect(parse("  write: []").policy?.sandbox).toEqual({ write: [], hide: [], passEnv: [] });
    expect(parse("  hide: [~/.config/other-tool]").policy?.sandbox.hide).toEqual(["~/.config/other-tool"]);
  });

  it("reads write, hide and pass_env as written, ~/ unexpanded", () => {
    const { policy, problems: found } = parse(
      [
        '  write: [ "~/.cache/my-agent", "/var/tmp/agent" ]',
        '  hide: [ "~/.config/other-tool", /srv/secrets/ ]',
        '  pass_env: [ "ANTHROPIC_BASE_URL", "npm_config_*", "DBUS_SESSION_BUS_ADDRESS", "*_PROXY", LD_LIBRARY_PATH ]',
      ].join("\n"),
    );
    expect(found.map(formatProblem)).toEqual([]);
    expect(policy?.sandbox).toEqual({
      write: ["~/.cache/my-agent", "/var/tmp/agent"],
      hide: ["~/.config/other-tool", "/srv/secrets/"],
      passEnv: ["ANTHROPIC_BASE_URL", "npm_config_*", "DBUS_SESSION_BUS_ADDRESS", "*_PROXY", "LD_LIBRARY_PATH"],
    });
    expect(Object.isFrozen(policy?.sandbox.write)).toBe(true);
  });

  const cases: Array<[string, string, string, RegExp]> = [
    ["not a mapping", "  - ~/x", "3 sandbox", /mapping/],
    ["an unknown key", "  read: [~/x]", "4 sandbox.read", /unknown key/],
    ["a near miss", "  pass-env: [FOO]", "4 sandbox.pass-env", /did you mean pass_env/],
    ["write not a list", "  write: ~/x", "4 sandbox.write", /must be a list/],
    ["a relative path", "  write: [cache/agent]", "4 sandbox.write[0]", /absolute path or start with ~\/, found "cache\/agent"/],
    ["~user", "  write: [~bob/cache]", "4 sandbox.write[0]", /absolute path or start with ~\//],
    ["~ itself", '  write: ["~"]', "4 sandbox.write[0]", /whole home directory/],
    ["~/ itself", "  hide: [~/]", "4 sandbox.hide[0]", /whole home directory/],
    ["~/. itself", "  hide: [~/./]", "4 sandbox.hide[0]", /whole home directory/],
    ["/ itself", "  hide: [/]", "4 sandbox.hide[0]", /whole file system/],
    ["// itself", "  hide: [//]", "4 sandbox.hide[0]", /whole file system/],
    ["a .. segment", "  write: [~/.cache/../.ssh]", "4 sandbox.write[0]", /\.\. segments/],
    ["a trailing ..", "  hide: [/srv/..]", "4 sandbox.hide[0]", /\.\. segments/],
    ["a NUL", '  hide: ["/srv/a\\0b"]', "4 sandbox.hide[0]", /NUL/],
    ["a number", "  hide: [42]", "4 sandbox.hide[0]", /must be text/],
    ["a path over 1024", `  hide: [/${"a".repeat(1024)}]`, "4 sandbox.hide[0]", /1 to 1024/],
    ["an empty path", '  hide: [""]', "4 sandbox.hide[0]", /absolute path/],
    ["65 paths", `  hide: [${Array.from({ length: 65 }, (_, i) => `/p${i}`).join(", ")}]`, "4 sandbox.hide", /0 to 64/],
    ["a path twice", "  write: [~/.cache/a, ~/.cache/a/]", "4 sandbox.write[1]", /twice/],
    ["write /usr", "  write: [/usr]", "4 sandbox.write[0]", /system directory \(\/usr\)/],
    ["write /etc/", "  write: [/etc/]", "4 sandbox.write[0]", /system directory \(\/etc\)/],
    ["write /bin", "  write: [/bin]", "4 sandbox.write[0]", /system directory/],
    ["write /lib64", "  write: [/lib64]", "4 sandbox.write[0]", /system directory/],
    ["write /libexec", "  write: [/libexec/]", "4 sandbox.write[0]", /system directory/],
    ["write ~ unquoted (YAML null)", "  write: [~]", "4 sandbox.write[0]", /must be text.*found nothing/],
    ["write /sbin", "  write: [/sbin]", "4 sandbox.write[0]", /system directory/],
    ["write /boot", "  write: [//boot/.]", "4 sandbox.write[0]", /system directory/],
    ["write /proc", "  write: [/proc]", "4 sandbox.write[0]", /\/proc, \/sys or \/dev/],
    ["write under /sys", "  write: [/sys/fs/cgroup]", "4 sandbox.write[0]", /\/proc, \/sys or \/dev/],
    ["write under /dev", "  write: [/dev/shm]", "4 sandbox.write[0]", /\/proc, \/sys or \/dev/],
    ["pass_env a bare *", '  pass_env: ["*"]', "4 sandbox.pass_env[0]", /every variable.*list the names/],
    ["pass_env **", '  pass_env: ["**"]', "4 sandbox.pass_env[0]", /every variable/],
    ["pass_env BROKER_STORE_PASSPHRASE", "  pass_env: [BROKER_STORE_PASSPHRASE]", "4 sandbox.pass_env[0]", /broker's own/],
    ["pass_env BROKER_SOCKET", "  pass_env: [BROKER_SOCKET]", "4 sandbox.pass_env[0]", /broker's own/],
    ["pass_env BROKER_*", '  pass_env: ["BROKER_*"]', "4 sandbox.pass_env[0]", /broker's own/],
    ["pass_env broker_socket", "  pass_env: [broker_socket]", "4 sandbox.pass_env[0]", /broker's own/],
    ["pass_env a bad name", "  pass_env: [9LIVES]", "4 sandbox.pass_env[0]", /environment variable name.*\*/],
    ["pass_env an unquoted glob", "  pass_env: [*_PROXY]", "4 sandbox.pass_env[0]", /alias; quote it: "\*_PROXY"/],
    ["pass_env a dash", "  pass_env: [MY-VAR]", "4 sandbox.pass_env[0]", /environment variable name/],
    ["pass_env twice", "  pass_env: [FOO, FOO]", "4 sandbox.pass_env[1]", /twice/],
    ["pass_env 65 names", `  pass_env: [${Array.from({ length: 65 }, (_, i) => `V${i}`).join(", ")}]`, "4 sandbox.pass_env", /0 to 64/],
  ];

  it.each(cases)("reports %s at its line and field", (_name, sandbox, expected, problem) => {
    const { policy, problems: found } = parse(sandbox);
    expect(policy).toBeUndefined();
    expect(found.map((p) => `${p.line} ${p.field}`)).toEqual([expected]);
    expect(found[0]?.problem).toMatch(problem);
  });

  it("reports every bad entry, each on its own line", () => {
    expect(problems("  write:\n    - ~/ok\n    - rel\n    - /usr\n  pass_env:\n    - '*'").map((line) => line.split(":")[0])).toEqual([
      "6 sandbox.write[1]",
      "7 sandbox.write[2]",
      "9 sandbox.pass_env[0]",
    ]);
  });

  it("lets write name paths below system directories it cannot name whole", () => {
    expect(parse("  write: [/usr/local/share/agent, /lib/agent, /devices, /etcetera, /var/lib/agent]").problems).toEqual([]);
  });

  it("does not count sandbox as granting anything", () => {
    expect(parsePolicy("/p/demo.yaml", "task: demo\nsandbox: { write: [~/.cache/x] }\n").problems[0]?.problem).toMatch(/grants nothing/);
  });
});

describe("sandboxPathProblem and passEnvProblem", () => {
  it("accept what they should", () => {
    for (const path of ["/a", "~/a", "~/a/b/", "/a/./b", "/.hidden", "~/..."]) expect([path, sandboxPathProblem(path)]).toEqual([path, undefined]);
    for (const name of ["A", "_x", "npm_config_*", "*_TOKEN_URL", "A*B*", "BROKERS", "LD_PRELOAD", "DBUS_*"]) expect([name, passEnvProblem(name)]).toEqual([name, undefined]);
  });
});
