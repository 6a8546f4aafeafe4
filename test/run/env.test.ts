import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/tmp.js";
import { PRINT_ENV, decodeEnv, nodeCmd, randomValue, startRunFixture, type RunFixture } from "./run-fixture.js";

/** The operator's own credentials, which must never reach CMD. */
const operator: Record<string, string> = {
  AWS_ACCESS_KEY_ID: `AKIA${randomValue("op").slice(3, 19).toUpperCase()}`,
  AWS_SECRET_ACCESS_KEY: randomValue("op-secret"),
  AWS_SESSION_TOKEN: randomValue("op-session"),
  AWS_SECURITY_TOKEN: randomValue("op-security"),
  AWS_PROFILE: randomValue("op-profile"),
  AWS_DEFAULT_PROFILE: randomValue("op-default-profile"),
  AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://169.254.170.23/${randomValue("op-uri")}`,
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: `/${randomValue("op-rel")}`,
  AWS_CONTAINER_AUTHORIZATION_TOKEN: randomValue("op-container"),
  AWS_WEB_IDENTITY_TOKEN_FILE: `/tmp/${randomValue("op-web-identity")}`,
  AWS_ROLE_ARN: `arn:aws:iam::111122223333:role/${randomValue("op-role")}`,
  GH_TOKEN: randomValue("ghp_op"),
  GITHUB_TOKEN: randomValue("ghp_op2"),
  GH_ENTERPRISE_TOKEN: randomValue("ghe_op"),
  GITHUB_ENTERPRISE_TOKEN: randomValue("ghe_op2"),
};

/** Every regular file under dir whose content contains needle. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

describe("broker run: the environment CMD gets", () => {
  let f: RunFixture;
  const tmp = tempDir("broker-run-env-");
  beforeAll(async () => {
    f = await startRunFixture();
  });
  afterAll(async () => {
    await f.cleanup();
    tmp.cleanup();
  });

  it("scrubs the operator's AWS and GitHub credentials and sets the session's", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--", ...PRINT_ENV], { env: { ...operator, OPERATOR_PLAIN: "kept" } });
    expect(result.code, result.stderr).toBe(0);
    const env = decodeEnv(result.stdout);
    for (const [name, value] of Object.entries(operator)) {
      expect(env[name], name).toBeUndefined();
      expect(Object.values(env).some((v) => v.includes(value)), `${name}'s value leaked`).toBe(false);
    }
    expect(env.DEMO_TOKEN).toBe(f.demo);
    expect(env.OTHER_KEY).toBe(f.other);
    expect(env.BROKER_TASK).toBe("agent");
    // Only the allowlist is inherited: a plain variable of the operator's is not.
    expect(env.OPERATOR_PLAIN).toBeUndefined();
    expect(env.PATH).toBe(process.env.PATH);
    // The box's own socket, never the operator's.
    expect(env.BROKER_SOCKET).toBe("/run/broker-session/session.sock");
    expect(env.BROKER_SANDBOX_DIR).toBeUndefined();
    // BROKER_SESSION names the session the daemon opened for this run.
    const audit = readFileSync(join(f.d.stateDir, "audit.jsonl"), "utf8");
    const opened = audit.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { event: string; session: string; task: string });
    expect(opened.some((l) => l.event === "session.open" && l.session === env.BROKER_SESSION && l.task === "agent")).toBe(true);
    expect(await f.d.client.listSessions()).toEqual([]);
  });

  it("inherits what --pass-env names, but never a BROKER_* variable or the operator's credentials", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--pass-env", "OPERATOR_*", "--pass-env", "*TOKEN*", "--", ...PRINT_ENV], {
      env: { ...operator, OPERATOR_PLAIN: "kept", OPERATOR_OTHER: "also" },
    });
    expect(result.code, result.stderr).toBe(0);
    const env = decodeEnv(result.stdout);
    expect(env).toMatchObject({ OPERATOR_PLAIN: "kept", OPERATOR_OTHER: "also" });
    for (const name of ["GH_TOKEN", "GITHUB_TOKEN", "AWS_SESSION_TOKEN", "BROKER_STORE_PASSPHRASE"]) expect(env[name], name).toBeUndefined();
  });

  it("with --no-sandbox --keep-socket hands CMD the session's own socket, not the operator's", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--no-sandbox", "--keep-socket", "--", ...PRINT_ENV]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("--no-sandbox");
    const socket = decodeEnv(result.stdout).BROKER_SOCKET!;
    expect(socket).not.toBe(f.d.socket);
    expect(socket).toMatch(/\/session\.sock$/);
  });

  it("sets BROKER_SANDBOX_DIR to where CMD sees the sandbox: /run/broker in the box, the host path without it", async () => {
    const dir = tempDir("broker-run-sbx-");
    try {
      const boxed = await f.d.cli(["run", "--task", "agent", "--sandbox", dir.path, "--", ...PRINT_ENV]);
      expect(boxed.code, boxed.stderr).toBe(0);
      expect(decodeEnv(boxed.stdout).BROKER_SANDBOX_DIR).toBe("/run/broker");
      const open = await f.d.cli(["run", "--task", "agent", "--no-sandbox", "--sandbox", dir.path, "--sandbox-path", "/run/broker", "--", ...PRINT_ENV]);
      expect(open.code, open.stderr).toBe(0);
      expect(decodeEnv(open.stdout).BROKER_SANDBOX_DIR).toBe(dir.path);
    } finally {
      dir.cleanup();
    }
  });

  it("with --no-env gives BROKER_* but no credential value", async () => {
    const result = await f.d.cli(["run", "--task", "agent", "--no-env", "--", ...PRINT_ENV], { env: operator });
    expect(result.code, result.stderr).toBe(0);
    const env = decodeEnv(result.stdout);
    expect(env.BROKER_TASK).toBe("agent");
    expect(env.BROKER_SESSION).toMatch(/\S/);
    expect(env.DEMO_TOKEN).toBeUndefined();
    expect(env.OTHER_KEY).toBeUndefined();
    const values = Object.values(env).join("\n");
    for (const secret of [f.demo, f.other, ...Object.values(operator)]) expect(values).not.toContain(secret);
  });

  it("resolves broker://env/ references of --env-file in memory and passes plain values through", async () => {
    const file = join(tmp.path, "agent.env");
    const text = "# agent settings\nTOKEN_REF=broker://env/DEMO_TOKEN\nexport OTHER_REF=broker://env/OTHER_KEY\nPLAIN=hello world # a comment\nQUOTED='broker is a literal here'\n";
    writeFileSync(file, text);
    const before = statSync(file).mtimeMs;
    const result = await f.d.cli(["run", "--task", "agent", "--no-env", "--env-file", file, "--", ...PRINT_ENV]);
    expect(result.code, result.stderr).toBe(0);
    const env = decodeEnv(result.stdout);
    expect(env.TOKEN_REF).toBe(f.demo);
    expect(env.OTHER_REF).toBe(f.other);
    expect(env.PLAIN).toBe("hello world");
    expect(env.QUOTED).toBe("broker is a literal here");
    expect(env.DEMO_TOKEN).toBeUndefined(); // --no-env: only what the file asked for
    expect(readFileSync(file, "utf8")).toBe(text);
    expect(statSync(file).mtimeMs).toBe(before);
    for (const dir of [tmp.path, f.d.root]) {
      expect(filesContaining(dir, f.demo)).toEqual([]);
      expect(filesContaining(dir, f.other)).toEqual([]);
    }
  });

  it("fails with ERR_ENV_REFERENCE before CMD starts when a reference cannot be resolved, and ends the session", async () => {
    const file = join(tmp.path, "github.env");
    writeFileSync(file, "PLAIN=1\nGH_TOKEN=broker://github/token\n");
    const marker = join(tmp.path, "cmd-ran");
    // Unconfined, so that CMD could write the marker if it ran (the box's /tmp is its own).
    const result = await f.d.cli(["run", "--task", "agent", "--no-sandbox", "--env-file", file, "--", ...nodeCmd("require('fs').writeFileSync(process.argv[1], 'ran')", marker)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("ERR_ENV_REFERENCE");
    expect(result.stderr).toContain("github.env:2");
    expect(existsSync(marker)).toBe(false);
    // Ended by the time broker run has exited, not some time later.
    expect(await f.d.client.listSessions()).toEqual([]);
    const audit = readFileSync(join(f.d.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string });
    expect(audit.at(-1)?.event).toBe("session.close");
  });

  // Regression: Node (nodejs/node#54232) took `--env-file F` after the script path as its own option;
  // the CLI is launched as `node -- bin.js`, so broker reads the flag.
  it("refuses an unreadable --env-file before opening any session", async () => {
    const opened = (await f.d.client.health()).sessions;
    const result = await f.d.cli(["run", "--task", "agent", "--env-file", join(tmp.path, "missing.env"), "--", "true"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("ERR_USAGE");
    expect((await f.d.client.health()).sessions).toBe(opened);
  });
});
