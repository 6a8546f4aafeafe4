import { describe, expect, it } from "vitest";
import { type SessionWithCredentials, buildChildEnv, isScrubbed, sessionEnvVars } from "../../src/sinks/child-env.js";

const session: SessionWithCredentials = {
  id: "5f0c-session",
  task: "report",
  expiresAt: "2030-01-01T00:00:00.000Z",
  credentials: {
    aws: {
      accessKeyId: "ASIASESSIONKEY",
      secretAccessKey: "session-secret",
      sessionToken: "session-token",
      expiration: "2030-01-01T00:15:00Z",
      region: "us-east-1",
    },
    github: {
      token: "ghs_sessiontoken",
      expiresAt: "2030-01-01T01:00:00Z",
      host: "github.com",
      scheme: "https",
      repositories: ["reports"],
      permissions: { contents: "read" },
    },
    env: { OPENAI_API_KEY: "sk-session" },
  },
};

const operator = {
  PATH: "/usr/bin:/bin",
  HOME: "/home/op",
  AWS_ACCESS_KEY_ID: "AKIAOPERATOR",
  AWS_SECRET_ACCESS_KEY: "operator-secret",
  AWS_SESSION_TOKEN: "operator-token",
  AWS_SECURITY_TOKEN: "operator-legacy",
  AWS_PROFILE: "admin",
  AWS_DEFAULT_PROFILE: "admin",
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/x",
  AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.23/v1/credentials",
  AWS_CONTAINER_AUTHORIZATION_TOKEN: "operator-container",
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/var/run/token",
  AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/web-identity",
  AWS_ROLE_ARN: "arn:aws:iam::1:role/admin",
  AWS_REGION: "ap-south-1",
  GH_TOKEN: "gho_operator",
  GITHUB_TOKEN: "gho_operator",
  GH_ENTERPRISE_TOKEN: "ghe_operator",
  GITHUB_ENTERPRISE_TOKEN: "ghe_operator",
  BROKER_SOCKET: "/run/broker.sock",
  UNSET: undefined,
};
const OPERATOR_SECRETS = ["AKIAOPERATOR", "operator-secret", "operator-token", "operator-legacy", "operator-container", "gho_operator", "ghe_operator", "admin"];

describe("buildChildEnv", () => {
  it("removes the operator's credentials and sets the session's", () => {
    const env = buildChildEnv(operator, session, { sandboxDir: "/host/sandbox" });
    expect(env).toEqual({
      PATH: "/usr/bin:/bin",
      HOME: "/home/op",
      BROKER_SESSION: "5f0c-session",
      BROKER_TASK: "report",
      BROKER_SANDBOX_DIR: "/host/sandbox",
      AWS_ACCESS_KEY_ID: "ASIASESSIONKEY",
      AWS_SECRET_ACCESS_KEY: "session-secret",
      AWS_SESSION_TOKEN: "session-token",
      AWS_CREDENTIAL_EXPIRATION: "2030-01-01T00:15:00Z",
      AWS_REGION: "us-east-1",
      AWS_DEFAULT_REGION: "us-east-1",
      GH_TOKEN: "ghs_sessiontoken",
      GITHUB_TOKEN: "ghs_sessiontoken",
      OPENAI_API_KEY: "sk-session",
    });
  });

  it("with --no-env sets only BROKER_* and still removes the operator's credentials", () => {
    const env = buildChildEnv(operator, session, { noEnv: true });
    // AWS_REGION is a setting, not a credential: docs/interface.md leaves it inherited.
    expect(env).toEqual({ PATH: "/usr/bin:/bin", HOME: "/home/op", AWS_REGION: "ap-south-1", BROKER_SESSION: "5f0c-session", BROKER_TASK: "report" });
  });

  it("with --keep-socket keeps BROKER_SOCKET", () => {
    expect(buildChildEnv(operator, session, { keepSocket: true }).BROKER_SOCKET).toBe("/run/broker.sock");
    expect(isScrubbed("BROKER_SOCKET")).toBe(true);
  });

  it("with --aws-endpoint points the SDKs at the endpoint instead of static keys", () => {
    const env = buildChildEnv(operator, session, { awsEndpoint: { url: "http://127.0.0.1:4567/creds", token: "endpoint-token" } });
    expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe("http://127.0.0.1:4567/creds");
    expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN).toBe("endpoint-token");
    expect(env.AWS_REGION).toBe("us-east-1");
    expect(env.AWS_DEFAULT_REGION).toBe("us-east-1");
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]) {
      expect(env).not.toHaveProperty(name);
    }
    expect(env.GH_TOKEN).toBe("ghs_sessiontoken");
  });

  it("leaves no operator credential behind for a task without aws or github", () => {
    const envOnly = { ...session, credentials: { env: {} } };
    const env = buildChildEnv(operator, envOnly);
    for (const value of Object.values(env)) for (const secret of OPERATOR_SECRETS) expect(value).not.toContain(secret);
    expect(Object.keys(env).filter((k) => k.startsWith("AWS_") || k.startsWith("GH") || k.startsWith("GITHUB"))).toEqual(["AWS_REGION"]);
  });

  it("refuses a session env entry that would hide the session id, or set PATH", () => {
    for (const env of [{ BROKER_SESSION: "other" }, { PATH: "/elsewhere" }] as Record<string, string>[]) {
      const sneaky = { ...session, credentials: { env } };
      expect(() => buildChildEnv({}, sneaky)).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_ENV" }));
      expect(() => sessionEnvVars(sneaky)).toThrow(expect.objectContaining({ code: "ERR_UNSAFE_ENV" }));
    }
  });
});

describe("sessionEnvVars", () => {
  it("matches the child's session variables, plus the file-pointing ones for a sandbox", () => {
    const child = buildChildEnv({}, session);
    expect(sessionEnvVars(session)).toEqual(child);
    const vars = sessionEnvVars(session, "/sandbox/");
    expect(vars).toEqual({
      ...child,
      BROKER_SANDBOX_DIR: "/sandbox/",
      AWS_SHARED_CREDENTIALS_FILE: "/sandbox/aws/credentials",
      AWS_CONFIG_FILE: "/sandbox/aws/config",
      GH_CONFIG_DIR: "/sandbox/gh",
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "credential.helper",
      GIT_CONFIG_VALUE_0: '!f() { test "$1" != get || git credential-store --file=/sandbox/git/credentials get; }; f',
    });
  });

  it("quotes a sandbox path that git's helper splitting would break", () => {
    expect(sessionEnvVars(session, "/my sandbox").GIT_CONFIG_VALUE_0).toBe(`!f() { test "$1" != get || git credential-store --file='/my sandbox/git/credentials' get; }; f`);
  });

  it("gives a GitHub Enterprise Server host the variables gh reads for it, and github.com none of them", () => {
    expect(buildChildEnv({}, session)).not.toHaveProperty("GH_HOST");
    expect(buildChildEnv({}, session)).not.toHaveProperty("GH_ENTERPRISE_TOKEN");
    const ghes = { ...session, credentials: { ...session.credentials, github: { ...session.credentials.github!, host: "ghe.example.com:8443" } } };
    const vars = sessionEnvVars(ghes);
    expect(vars).toMatchObject({ GH_TOKEN: "ghs_sessiontoken", GH_ENTERPRISE_TOKEN: "ghs_sessiontoken", GITHUB_ENTERPRISE_TOKEN: "ghs_sessiontoken", GH_HOST: "ghe.example.com:8443" });
    expect(buildChildEnv(operator, ghes)).toMatchObject({ GH_ENTERPRISE_TOKEN: "ghs_sessiontoken", GITHUB_ENTERPRISE_TOKEN: "ghs_sessiontoken", GH_HOST: "ghe.example.com:8443" });
  });

  it("with a sandbox path points the command at the files, after the git config entries it inherits", () => {
    const env = buildChildEnv({ GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "user.name", GIT_CONFIG_VALUE_0: "op" }, session, { sandboxDir: "/host/sb", sandboxPath: "/run/broker", noEnv: true });
    expect(env).toEqual({
      BROKER_SESSION: "5f0c-session",
      BROKER_TASK: "report",
      BROKER_SANDBOX_DIR: "/host/sb",
      AWS_SHARED_CREDENTIALS_FILE: "/run/broker/aws/credentials",
      AWS_CONFIG_FILE: "/run/broker/aws/config",
      GH_CONFIG_DIR: "/run/broker/gh",
      GIT_CONFIG_COUNT: "2",
      GIT_CONFIG_KEY_0: "user.name",
      GIT_CONFIG_VALUE_0: "op",
      GIT_CONFIG_KEY_1: "credential.helper",
      GIT_CONFIG_VALUE_1: sessionEnvVars(session, "/run/broker").GIT_CONFIG_VALUE_0,
    });
    // With --aws-endpoint a credentials file would shadow the endpoint in the SDKs' chain.
    const withEndpoint = buildChildEnv({}, session, { sandboxPath: "/run/broker", awsEndpoint: { url: "http://127.0.0.1:1/x", token: "t" } });
    expect(withEndpoint).not.toHaveProperty("AWS_SHARED_CREDENTIALS_FILE");
    expect(withEndpoint.AWS_CONFIG_FILE).toBe("/run/broker/aws/config");
  });

  it("points only at files of providers the session has", () => {
    const vars = sessionEnvVars({ ...session, credentials: { env: { A: "b" } } }, "/s");
    expect(vars).toEqual({ A: "b", BROKER_SESSION: "5f0c-session", BROKER_TASK: "report", BROKER_SANDBOX_DIR: "/s" });
  });
});
