/**
 * Real clients in the box `broker run` makes by default, against stand-ins on 127.0.0.2 that only
 * the session's egress proxy can reach (the policies' own api_url / endpoint hosts: no `egress:`
 * key needed): git clones and pushes with its token from `broker git-credential` on the session
 * socket; the AWS CLI signs with the session's role through the environment, the sandbox files,
 * `credential_process` and `--aws-endpoint`; a connection around the proxy does not get out.
 * Everything is judged from outside: the stand-ins' records, the audit log, exit codes, and what
 * the command printed.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assumedRoleArn, awsPolicy, EXTERNAL_ID, randomAwsKey, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { bwrapWorks, parseReport } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { waitFor, type TestDaemon } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { tempDir } from "../helpers/tmp.js";
import { ROUTES, runGit } from "../stubs/github-stub.js";

const has = (tool: string): boolean => spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
const boxes = bwrapWorks() && has("git") && has("curl");
const STAND_IN_HOST = "127.0.0.2";
/** The box's own loopback, where its proxy bridge listens. */
const PROXY_URL = /^http:\/\/127\.0\.0\.1:\d+$/;

type AuditLine = Record<string, unknown>;
function auditOf(d: TestDaemon): AuditLine[] {
  try {
    return readFileSync(join(d.stateDir, "audit.jsonl"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditLine);
  } catch {
    return [];
  }
}

/** The proxy's audit lines of a session (written as each connection ends: waited for). */
async function egressOf(d: TestDaemon, session: string): Promise<AuditLine[]> {
  return waitFor(() => {
    const lines = auditOf(d).filter((l) => l.event === "egress" && l.session === session);
    return lines.length > 0 ? lines : undefined;
  }, 5_000);
}

/** What the host's stand-in port is, from its URL. */
const portOf = (url: string): number => Number(new URL(url).port);

describe.skipIf(!boxes)("git in the box, through the egress proxy and the session socket", () => {
  let f: GithubFixture;
  const work = tempDir("broker-box-git-", "/var/tmp");
  // The operator's git config must not matter: passed on purpose (the box's environment is an allowlist).
  const gitEnv = { GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0" };
  const passGitEnv = Object.keys(gitEnv).flatMap((name) => ["--pass-env", name]);
  beforeAll(async () => {
    f = await startGithubFixture((api) => ({ "repo-writer": githubPolicy("repo-writer", api, "  repositories: [reports]\n  permissions: { contents: write }\n") }), {
      listenHost: STAND_IN_HOST,
    });
  });
  afterAll(async () => {
    await f?.cleanup();
    work.cleanup();
  });

  const run = (script: string) => f.daemon.cli(["run", "--task", "repo-writer", ...passGitEnv, "--", "sh", "-c", script], { cwd: work.path, env: gitEnv, timeoutMs: 60_000 });

  it("clones and pushes with the token `broker git-credential` fetches over the session socket", async () => {
    // No other credential source: the helper list is reset, and there is no sandbox dir.
    const git = `git -c credential.helper= -c 'credential.helper=!${process.execPath} ${CLI} git-credential'`;
    const script = `set -e
      echo "session=$BROKER_SESSION"
      echo "socket=$BROKER_SOCKET"
      echo "proxy=$http_proxy"
      ${git} clone -q ${f.stub.url}/acme/reports.git clone
      cd clone && echo from-the-box > boxed.txt && git add boxed.txt
      git -c user.name=a -c user.email=a@example.invalid commit -qm "from the box"
      ${git} push -q origin HEAD:main
      echo pushed=yes`;
    const tokensBefore = f.stub.tokens.length;
    const requestsBefore = f.stub.requests.length;
    const result = await run(script);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain("refused");
    const seen = parseReport(result.stdout);
    expect(seen.socket).toBe("/run/broker-session/session.sock");
    expect(seen.proxy).toMatch(PROXY_URL);
    expect(seen.pushed).toBe("yes");

    // The clone landed in the working directory (read-write in the box, seen here).
    expect(readFileSync(join(work.path, "clone", "README.md"), "utf8")).toContain("reports");
    expect(readFileSync(join(work.path, "clone", "boxed.txt"), "utf8")).toBe("from-the-box\n");
    // One token, the run's, with write access; revoked when the run ended.
    expect(f.stub.tokens.length).toBe(tokensBefore + 1);
    const token = f.stub.tokens.at(-1)!;
    expect(token.permissions).toEqual({ contents: "write" });
    expect(token.revokedAt).not.toBeNull();
    // The stand-in served git with that token (it answers 401 without a live one) and took the push.
    const packs = f.stub.requests.slice(requestsBefore).filter((r) => r.route === ROUTES.gitUploadPack || r.route === ROUTES.gitReceivePack);
    expect(packs.length).toBeGreaterThanOrEqual(2);
    expect(packs.every((r) => r.status === 200 && r.auth === "basic"), JSON.stringify(packs)).toBe(true);
    expect(packs[0]!.route).toBe(ROUTES.gitUploadPack);
    expect(packs.at(-1)!.route).toBe(ROUTES.gitReceivePack);
    const remote = await runGit(["ls-tree", "--name-only", "main"], { cwd: join(f.root, "repos", "acme", "reports.git"), home: f.gitHome });
    expect(remote.stdout).toContain("boxed.txt");
    // Every connection went through the session's proxy, to the stand-in only.
    const egress = await egressOf(f.daemon, seen.session!);
    expect(new Set(egress.map((l) => `${String(l.host)}:${String(l.port)} ${String(l.outcome)}`))).toEqual(new Set([`${STAND_IN_HOST}:${portOf(f.stub.url)} ok`]));
    expect(await f.daemon.client.listSessions()).toEqual([]);
  });

  it("a connection around the proxy (curl --noproxy '*') does not reach the stand-in; through the proxy it does", async () => {
    const script = `
      echo "session=$BROKER_SESSION"
      direct=0; curl --noproxy '*' -sS --max-time 5 -o /dev/null ${f.stub.url}/direct-probe 2>/dev/null || direct=$?
      echo "direct=$direct"
      echo "proxied=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' ${f.stub.url}/proxied-probe)"`;
    const result = await run(script);
    expect(result.code, result.stderr).toBe(0);
    const seen = parseReport(result.stdout);
    expect(seen.direct).toBe("7"); // curl: could not connect (the box's loopback has nothing on that port)
    expect(seen.proxied).toBe("404"); // the stand-in's own answer to an unknown path
    expect(f.stub.requests.filter((r) => r.path === "/direct-probe")).toEqual([]);
    expect(f.stub.requests.filter((r) => r.path === "/proxied-probe").map((r) => r.status)).toEqual([404]);
    const egress = await egressOf(f.daemon, seen.session!);
    expect(egress).toEqual([expect.objectContaining({ host: STAND_IN_HOST, port: portOf(f.stub.url), outcome: "ok" })]);
  });
});

describe.skipIf(!boxes || !has("aws"))("the AWS CLI in the box, through the egress proxy", () => {
  const TASK = "report";
  let f: AwsFixture;
  const work = tempDir("broker-box-aws-", "/var/tmp");
  const configFile = join(work.path, "aws-config");
  /** The operator's own keys: scrubbed, never what signs. */
  const decoy = randomAwsKey();
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({ [TASK]: awsPolicy(TASK, endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` }) }), { listenHost: STAND_IN_HOST });
    // In the working directory, which the box shows: credential_process asks the session socket.
    writeFileSync(configFile, `[default]\nregion = us-east-1\ncredential_process = ${process.execPath} ${CLI} credential-process\n`);
  });
  afterAll(async () => {
    await f?.cleanup();
    work.cleanup();
  });

  const aws = () => `aws --endpoint-url ${f.stub.url} --output json sts get-caller-identity`;
  /** awsEnv's guards (no metadata lookups, no retries, no pager), passed on purpose. */
  const passGuards = ["AWS_EC2_METADATA_DISABLED", "AWS_MAX_ATTEMPTS", "AWS_PAGER"].flatMap((name) => ["--pass-env", name]);
  const run = (flags: string[], script: string, env: NodeJS.ProcessEnv = {}) =>
    f.daemon.cli(["run", "--task", TASK, ...passGuards, ...flags, "--", "sh", "-c", `echo "session=$BROKER_SESSION"\necho "proxy=$HTTPS_PROXY $HTTP_PROXY"\n${script}`], {
      cwd: work.path,
      env: f.awsEnv({ AWS_ACCESS_KEY_ID: decoy.accessKeyId, AWS_SECRET_ACCESS_KEY: decoy.secretAccessKey, ...env }),
      timeoutMs: 60_000,
    });

  /** The script's `key=value` lines, then the CLI's JSON answer. */
  function parse(stdout: string): { seen: Record<string, string | undefined>; arn: string } {
    const start = stdout.indexOf("{");
    expect(start, stdout).toBeGreaterThanOrEqual(0);
    return { seen: parseReport(stdout.slice(0, start)), arn: (JSON.parse(stdout.slice(start)) as { Arn: string }).Arn };
  }

  const cases: { name: string; flags: string[]; script: () => string; env?: NodeJS.ProcessEnv; check?(seen: Record<string, string | undefined>): void }[] = [
    {
      name: "the session's keys in its environment",
      flags: [],
      script: () => `echo "envkey=\${AWS_ACCESS_KEY_ID:+set}"\nexec ${aws()}`,
      check: (seen) => expect(seen.envkey).toBe("set"),
    },
    {
      name: "the sandbox files alone (--sandbox-tmp --no-env, the files /run/broker/env names)",
      flags: ["--sandbox-tmp", "--no-env"],
      script: () =>
        'set -a; . "$BROKER_SANDBOX_DIR/env"; set +a\nunset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN\n' +
        `echo "dir=$BROKER_SANDBOX_DIR"\necho "files=$AWS_SHARED_CREDENTIALS_FILE $AWS_CONFIG_FILE"\necho "envkey=\${AWS_ACCESS_KEY_ID:-none}"\nexec ${aws()}`,
      check: (seen) => {
        expect(seen.dir).toBe("/run/broker");
        expect(seen.files).toBe("/run/broker/aws/credentials /run/broker/aws/config");
        expect(seen.envkey).toBe("none");
      },
    },
    {
      name: "credential_process (`broker credential-process` over the session socket) in a config file in the working directory",
      flags: ["--no-env", "--pass-env", "AWS_CONFIG_FILE"],
      env: { AWS_CONFIG_FILE: configFile },
      script: () => `echo "config=$AWS_CONFIG_FILE"\necho "envkey=\${AWS_ACCESS_KEY_ID:-none}"\nexec ${aws()}`,
      check: (seen) => {
        expect(seen.config).toBe(configFile);
        expect(seen.envkey).toBe("none");
      },
    },
    {
      name: "--aws-endpoint, bridged onto the box's loopback",
      flags: ["--aws-endpoint"],
      script: () => `echo "envkey=\${AWS_ACCESS_KEY_ID:-none}"\necho "uri=\${AWS_CONTAINER_CREDENTIALS_FULL_URI%%/aws-credentials/*}"\nexec ${aws()}`,
      check: (seen) => {
        expect(seen.envkey).toBe("none");
        expect(seen.uri).toMatch(PROXY_URL);
      },
    },
  ];

  it.each(cases.map((c) => [c.name, c] as const))("signs with the session's role through %s", async (_name, c) => {
    const callsBefore = f.stub.calls.length;
    const opensBefore = auditOf(f.daemon).filter((l) => l.event === "session.open").length;
    const result = await run(c.flags, c.script(), c.env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toContain("refused");
    const { seen, arn } = parse(result.stdout);
    const session = seen.session!;
    expect(seen.proxy).toMatch(/^http:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+$/);
    c.check?.(seen);
    expect(arn).toBe(assumedRoleArn(TASK, session));

    // One session (the run's: credential_process opened none), one AssumeRole, then the CLI's call signed with its key.
    expect(auditOf(f.daemon).filter((l) => l.event === "session.open").length).toBe(opensBefore + 1);
    const calls = f.stub.calls.slice(callsBefore);
    expect(calls.map((c) => [c.action, c.outcome])).toEqual([
      ["AssumeRole", "ok"],
      ["GetCallerIdentity", "ok"],
    ]);
    const minted = auditOf(f.daemon).find((l) => l.event === "mint" && l.session === session && l.provider === "aws")?.credential;
    expect(minted).toMatch(/^ASIA/);
    expect(calls[1]!.accessKeyId).toBe(minted);
    expect(calls[1]!.accessKeyId).not.toBe(decoy.accessKeyId);
    // The CLI's call went through the session's proxy (the daemon's own AssumeRole does not).
    const egress = await egressOf(f.daemon, session);
    expect(new Set(egress.map((l) => `${String(l.host)}:${String(l.port)} ${String(l.outcome)}`))).toEqual(new Set([`${STAND_IN_HOST}:${portOf(f.stub.url)} ok`]));
  });

  it("a direct connection to the STS stand-in (curl --noproxy '*') does not get out of the box", async () => {
    const callsBefore = f.stub.calls.length;
    const script = `direct=0; curl --noproxy '*' -sS --max-time 5 -o /dev/null ${f.stub.url}/ 2>/dev/null || direct=$?\necho "direct=$direct"\n` +
      `echo "proxied=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' ${f.stub.url}/)"`;
    const result = await run([], script);
    expect(result.code, result.stderr).toBe(0);
    const seen = parseReport(result.stdout);
    expect(seen.direct).toBe("7");
    expect(seen.proxied).toMatch(/^[1-5]\d\d$/); // whatever STS says to a bare GET: it was reached
    // The stand-in saw the daemon's AssumeRole and the proxied request, nothing else.
    expect(f.stub.calls.slice(callsBefore).map((c) => [c.method, c.action])).toEqual([
      ["POST", "AssumeRole"],
      ["GET", null],
    ]);
  });
});
