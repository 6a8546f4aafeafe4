import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { type SessionWithCredentials, sessionEnvVars } from "../../src/sinks/child-env.js";
import { parseDotenv } from "../../src/sinks/env-file.js";
import { SANDBOX_FILES, removeSandbox, renderSandboxFiles, writeSandbox } from "../../src/sinks/sandbox-files.js";

const github = {
  token: "ghs_sessiontoken123",
  expiresAt: "2030-01-01T01:00:00Z",
  host: "github.com",
  scheme: "https" as const,
  repositories: ["reports"],
  permissions: { contents: "read" },
};
const session: SessionWithCredentials = {
  id: "5f0c-session",
  task: "report",
  expiresAt: Date.parse("2030-01-01T00:30:00.000Z"),
  credentials: {
    aws: {
      accessKeyId: "ASIASESSIONKEY",
      secretAccessKey: "session/secret+key=",
      sessionToken: "session-token==",
      expiration: "2030-01-01T00:15:00Z",
      region: "us-east-1",
    },
    github,
    env: { OPENAI_API_KEY: "sk-session" },
  },
};
const SECRETS = ["ASIASESSIONKEY", "session/secret+key=", "session-token==", "ghs_sessiontoken123", "sk-session"];

/** A minimal INI reader: section → key → value. */
function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section: Record<string, string> | undefined;
  for (const line of text.split("\n").filter((l) => l.trim() !== "")) {
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) out[header[1] as string] = section = {};
    else {
      const [, key, value] = /^([a-z_]+) = (.*)$/.exec(line) ?? [];
      if (!section || key === undefined || value === undefined) throw new Error(`bad ini line: ${line}`);
      section[key] = value;
    }
  }
  return out;
}

/** What git itself answers for a host, given only the environment (no global config). */
function gitFill(env: Record<string, string>, host: string, protocol = "https"): Record<string, string> {
  const out = execFileSync("git", ["credential", "fill"], {
    input: `protocol=${protocol}\nhost=${host}\n\n`,
    env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent", GIT_CONFIG_NOSYSTEM: "1", GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false", ...env },
  }).toString();
  return Object.fromEntries(out.trim().split("\n").map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]));
}

describe("renderSandboxFiles", () => {
  it("renders AWS files as INI with a [default] section", () => {
    const files = renderSandboxFiles(session, "/sandbox");
    expect(parseIni(files["aws/credentials"] as string)).toEqual({
      default: { aws_access_key_id: "ASIASESSIONKEY", aws_secret_access_key: "session/secret+key=", aws_session_token: "session-token==" },
    });
    expect(parseIni(files["aws/config"] as string)).toEqual({ default: { region: "us-east-1" } });
  });

  it("renders a git-credential-store line that git reads back", () => {
    const files = renderSandboxFiles(session, "/sandbox");
    expect(files["git/credentials"]).toBe("https://x-access-token:ghs_sessiontoken123@github.com\n");
    const dir = fs.mkdtempSync(join(tmpdir(), "broker-git-"));
    try {
      const odd = { ...session, credentials: { env: {}, github: { ...github, token: "a b/c%d:e@f+g", host: "ghe.example.com:8443", scheme: "http" as const } } };
      const rendered = renderSandboxFiles(odd, dir)["git/credentials"] as string;
      expect(rendered).toBe("http://x-access-token:a%20b%2Fc%25d%3Ae%40f%2Bg@ghe.example.com:8443\n");
      fs.writeFileSync(join(dir, "credentials"), rendered);
      const answer = gitFill({ GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "credential.helper", GIT_CONFIG_VALUE_0: `store --file=${dir}/credentials` }, "ghe.example.com:8443", "http");
      expect(answer).toMatchObject({ username: "x-access-token", password: "a b/c%d:e@f+g" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("renders gh/hosts.yml as YAML keyed by host", () => {
    expect(parseYaml(renderSandboxFiles(session, "/sandbox")["gh/hosts.yml"] as string)).toEqual({
      "github.com": { oauth_token: "ghs_sessiontoken123", user: "x-access-token", git_protocol: "https" },
    });
    const ghes = { ...session, credentials: { env: {}, github: { ...github, host: "ghe.example.com:8443", token: "12345" } } };
    expect(parseYaml(renderSandboxFiles(ghes, "/s")["gh/hosts.yml"] as string)).toEqual({
      "ghe.example.com:8443": { oauth_token: "12345", user: "x-access-token", git_protocol: "https" },
    });
    // gh's git_protocol takes only https or ssh: an http stand-in gets no key rather than a false one.
    const http = { ...session, credentials: { env: {}, github: { ...github, host: "127.0.0.1:8123", scheme: "http" as const, token: "12345" } } };
    expect(parseYaml(renderSandboxFiles(http, "/s")["gh/hosts.yml"] as string)).toEqual({ "127.0.0.1:8123": { oauth_token: "12345", user: "x-access-token" } });
  });

  it("writes the whole environment to env, with paths under --sandbox-path", () => {
    const files = renderSandboxFiles(session, "/mnt/creds");
    const env = Object.fromEntries(parseDotenv(files.env as string).map((e) => [e.key, e.value]));
    expect(env).toEqual(sessionEnvVars(session, "/mnt/creds"));
    expect(env).toMatchObject({
      AWS_ACCESS_KEY_ID: "ASIASESSIONKEY",
      GH_TOKEN: "ghs_sessiontoken123",
      OPENAI_API_KEY: "sk-session",
      AWS_SHARED_CREDENTIALS_FILE: "/mnt/creds/aws/credentials",
      AWS_CONFIG_FILE: "/mnt/creds/aws/config",
      GH_CONFIG_DIR: "/mnt/creds/gh",
      GIT_CONFIG_VALUE_0: '!f() { test "$1" != get || git credential-store --file=/mnt/creds/git/credentials get; }; f',
    });
  });

  it("writes session.json without secrets", () => {
    const json = renderSandboxFiles(session, "/s")["session.json"] as string;
    expect(JSON.parse(json)).toEqual({ id: "5f0c-session", task: "report", expiresAt: "2030-01-01T00:30:00.000Z" });
    for (const secret of SECRETS) expect(json).not.toContain(secret);
  });

  it("writes no files for providers the session lacks", () => {
    const envOnly = { ...session, credentials: { env: { OPENAI_API_KEY: "sk-session" } } };
    expect(Object.keys(renderSandboxFiles(envOnly, "/s")).sort()).toEqual(["env", "session.json"]);
    expect(Object.keys(renderSandboxFiles(session, "/s")).sort()).toEqual([...SANDBOX_FILES].sort());
  });
});

describe("writeSandbox / removeSandbox", () => {
  let base: string;
  let dir: string;
  beforeEach(() => {
    base = fs.mkdtempSync(join(tmpdir(), "broker-sandbox-files-"));
    dir = join(base, "sandbox");
    fs.mkdirSync(dir, { mode: 0o700 });
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  it("writes 0600 files in 0700 subdirectories that git and the env file agree on", async () => {
    await writeSandbox(dir, renderSandboxFiles(session, dir));
    for (const rel of SANDBOX_FILES) expect(fs.statSync(join(dir, rel)).mode & 0o777, rel).toBe(0o600);
    for (const sub of ["aws", "git", "gh"]) expect(fs.statSync(join(dir, sub)).mode & 0o777, sub).toBe(0o700);
    const env = Object.fromEntries(parseDotenv(fs.readFileSync(join(dir, "env"), "utf8")).map((e) => [e.key, e.value]));
    const gitEnv = { GIT_CONFIG_COUNT: env.GIT_CONFIG_COUNT, GIT_CONFIG_KEY_0: env.GIT_CONFIG_KEY_0, GIT_CONFIG_VALUE_0: env.GIT_CONFIG_VALUE_0 } as Record<string, string>;
    expect(gitFill(gitEnv, "github.com").password).toBe("ghs_sessiontoken123");
  });

  it("rewrites files on refresh and removes them all at the end", async () => {
    const written = await writeSandbox(dir, renderSandboxFiles(session, dir));
    const refreshed = { ...session, credentials: { ...session.credentials, github: { ...github, token: "ghs_refreshed" } } };
    const rewritten = await writeSandbox(dir, renderSandboxFiles(refreshed, dir));
    expect(fs.readFileSync(join(dir, "git/credentials"), "utf8")).toContain("ghs_refreshed");
    expect(rewritten["git/credentials"]).not.toEqual(written["git/credentials"]);
    await removeSandbox(dir, Object.keys(rewritten), { written: rewritten });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("leaves symlinks planted in its place, and their targets, untouched", async () => {
    const outside = join(base, "outside");
    fs.writeFileSync(outside, "precious");
    await writeSandbox(dir, renderSandboxFiles(session, dir));
    fs.rmSync(join(dir, "env"));
    fs.symlinkSync(outside, join(dir, "env"));
    await removeSandbox(dir, SANDBOX_FILES);
    expect(fs.readFileSync(outside, "utf8")).toBe("precious");
    expect(fs.readdirSync(dir)).toEqual(["env"]);
  });

  it("removes a --sandbox-tmp directory with everything in it", async () => {
    await writeSandbox(dir, renderSandboxFiles(session, dir));
    fs.writeFileSync(join(dir, "agent-notes"), "x");
    await removeSandbox(dir, SANDBOX_FILES, { removeDir: true });
    expect(fs.existsSync(dir)).toBe(false);
  });
});
