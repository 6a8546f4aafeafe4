import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { SessionWithCredentials } from "../../src/sinks/child-env.js";
import { formatDotenv, formatShellExports, loadEnvFile, parseDotenv, resolveEnvEntries } from "../../src/sinks/env-file.js";

const session: SessionWithCredentials = {
  id: "0b1c2d3e-session",
  task: "report",
  expiresAt: "2030-01-01T00:00:00.000Z",
  credentials: {
    aws: {
      accessKeyId: "ASIAEXAMPLEKEY123456",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      sessionToken: "FwoGZXIvYXdzEXAMPLETOKEN==",
      expiration: "2030-01-01T00:00:00Z",
      region: "eu-west-1",
    },
    env: { OPENAI_API_KEY: "sk-openai-example-value" },
  },
};
const SECRETS = ["ASIAEXAMPLEKEY123456", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLETOKEN==", "sk-openai-example-value"];

const parse = (text: string): Record<string, string> => Object.fromEntries(parseDotenv(text).map((e) => [e.key, e.value]));

describe("parseDotenv", () => {
  it("reads the common dotenv forms", () => {
    const text = [
      "# a comment",
      "",
      "PLAIN=value",
      "export EXPORTED=yes",
      "  SPACED = around  ",
      "INLINE=value # comment",
      "HASH=a#b",
      "SINGLE='literal $X \\n # not a comment'",
      'DOUBLE="line1\\nline2 \\"q\\" \\\\ \\t"',
      'MULTI="first',
      'second"',
      "EMPTY=",
      "CRLF=windows\r",
      "EQUALS=a=b=c",
      "DUP=first",
      "DUP=second",
    ].join("\n");
    expect(parse(text)).toEqual({
      PLAIN: "value",
      EXPORTED: "yes",
      SPACED: "around",
      INLINE: "value",
      HASH: "a#b",
      SINGLE: "literal $X \\n # not a comment",
      DOUBLE: 'line1\nline2 "q" \\ \t',
      MULTI: "first\nsecond",
      EMPTY: "",
      CRLF: "windows",
      EQUALS: "a=b=c",
      DUP: "second",
    });
  });

  it("reports line numbers and never the offending text", () => {
    const leaked = "sk-literal-secret-value";
    for (const [text, line] of [
      [`A=1\n${leaked}\n`, 2],
      [`A=1\nB="${leaked}\n`, 2],
      [`A=1\n\nC='${leaked}' trailing\n`, 3],
      [`bad key=${leaked}`, 1],
    ] as const) {
      let caught: unknown;
      try {
        parseDotenv(text, "my.env");
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: "ERR_USAGE" });
      expect((caught as Error).message).toContain(`my.env:${line}:`);
      expect((caught as Error).message).not.toContain(leaked);
    }
  });
});

describe("resolveEnvEntries", () => {
  it("resolves broker:// references against the session and passes other values through", () => {
    const entries = parseDotenv(
      [
        "A=broker://aws/access_key_id",
        "B='broker://aws/secret_access_key'",
        'C="broker://aws/session_token"',
        "D=broker://env/OPENAI_API_KEY",
        "E=https://example.com/broker://x",
        "F=plain",
      ].join("\n"),
    );
    expect(resolveEnvEntries(entries, session)).toEqual({
      A: session.credentials.aws?.accessKeyId,
      B: session.credentials.aws?.secretAccessKey,
      C: session.credentials.aws?.sessionToken,
      D: "sk-openai-example-value",
      E: "https://example.com/broker://x",
      F: "plain",
    });
  });

  it.each([
    ["a provider the session lacks", "TOKEN=broker://github/token"],
    ["an env entry the session lacks", "TOKEN=broker://env/MISSING"],
    ["an unknown aws field", "TOKEN=broker://aws/region"],
    ["an unknown provider", "TOKEN=broker://vault/x"],
    ["a prototype name", "TOKEN=broker://aws/constructor"],
  ])("refuses %s, naming the key and the reference but no secret", (_what, line) => {
    let caught: unknown;
    try {
      resolveEnvEntries(parseDotenv(`OK=broker://aws/access_key_id\n${line}\n`), session, "agent.env");
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: "ERR_ENV_REFERENCE" });
    const message = (caught as Error).message;
    expect(message).toContain("agent.env:2: TOKEN");
    expect(message).toContain(line.slice("TOKEN=".length));
    for (const secret of SECRETS) expect(message).not.toContain(secret);
  });

  it("loads a file from disk", async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), "broker-env-file-"));
    try {
      fs.writeFileSync(join(dir, "agent.env"), "export KEY=broker://env/OPENAI_API_KEY\nMODE=fast\n");
      await expect(loadEnvFile(join(dir, "agent.env"), session)).resolves.toEqual({ KEY: "sk-openai-example-value", MODE: "fast" });
      await expect(loadEnvFile(join(dir, "missing.env"), session)).rejects.toMatchObject({ code: "ERR_USAGE" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

const tricky = ["", "plain", "with space", " lead", "trail ", "it's", 'say "hi"', "a#b", "#x", "line\nbreak", "cr\r", "back\\slash\\n", "`tick`", "$HOME", "mixed ' and \" and \n", "\u00e9t\u00e9 \u{1f600}"];

describe("formatDotenv", () => {
  it("quotes only values that need it", () => {
    expect(formatDotenv({ A: "abc", B: "store --file=/s/git/credentials", C: "a b#c", D: "" })).toBe(
      "A=abc\nB='store --file=/s/git/credentials'\nC='a b#c'\nD=\n",
    );
  });

  it("reads back exactly through the dotenv parser", () => {
    const vars = Object.fromEntries(tricky.map((v, i) => [`K${i}`, v]));
    expect(parse(formatDotenv(vars))).toEqual(vars);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom(...tricky)), { maxLength: 8 }), (values) => {
        const generated = Object.fromEntries(values.map((v, i) => [`V_${i}`, v]));
        expect(parse(formatDotenv(generated))).toEqual(generated);
      }),
      { numRuns: 200 },
    );
  });
});

describe("formatShellExports", () => {
  it("prints export K='V' lines that a POSIX shell reads back exactly", () => {
    const vars = Object.fromEntries(tricky.map((v, i) => [`K${i}`, v]));
    const script = `${formatShellExports(vars)}node -e 'process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => /^K[0-9]+$/.test(k)))))'`;
    const out = execFileSync("sh", ["-c", script], { env: { PATH: process.env.PATH } }).toString();
    expect(JSON.parse(out)).toEqual(vars);
    expect(formatShellExports({ A: "it's" })).toBe("export A='it'\\''s'\n");
  });
});
