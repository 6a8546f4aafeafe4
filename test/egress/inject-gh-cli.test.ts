/**
 * `gh api` in the box with an injected GitHub token, against the GitHub stand-in as a GitHub
 * Enterprise Server (`https://github.test:PORT/api/v3`, TLS, on 127.0.0.2). gh is a Go program,
 * and Go never sends a loopback address or `localhost` through a proxy: only a host name takes
 * gh to the session's proxy. So the daemon runs under bwrap with an /etc/hosts of its own that
 * names github.test, the one place that name resolves (the box resolves nothing: its proxy does).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks } from "../helpers/bwrap.js";
import { waitFor } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { makeTestCa } from "../helpers/test-ca.js";
import { tempDir } from "../helpers/tmp.js";
import { ROUTES } from "../stubs/github-stub.js";
import { boxReport, occurrences } from "./inject-stand-in.js";

const HOST = "github.test";

describe.skipIf(!bwrapWorks())("gh api with an injected GitHub token", () => {
  const dir = tempDir("broker-inject-gh-cli-", "/var/tmp");
  const work = tempDir("broker-inject-gh-cli-work-", "/var/tmp");
  let f: GithubFixture;
  beforeAll(async () => {
    const ca = makeTestCa(dir.path, { dns: [HOST] });
    const hosts = join(dir.path, "hosts");
    writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.2 ${HOST}\n`);
    const wrap = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", hosts, "/etc/hosts", "--die-with-parent", "--"];
    const body = `  repositories: [reports]\n  permissions: { contents: read }\n  inject: true\n`;
    f = await startGithubFixture(
      (url) => ({ reader: githubPolicy("reader", url, body) }),
      { listenHost: "127.0.0.2", publicHost: HOST, apiPrefix: "/api/v3", tls: ca.server },
      { parent: "/var/tmp", env: { NODE_EXTRA_CA_CERTS: ca.certFile }, wrap },
    );
  }, 60_000);
  afterAll(async () => {
    await f?.cleanup();
    dir.cleanup();
    work.cleanup();
  });

  it("gh api lists the installation's repositories holding only a placeholder", async () => {
    const script = `set -e
      echo "placeholder_rev=$(printf %s "$GH_ENTERPRISE_TOKEN" | rev)"
      echo "session=$BROKER_SESSION"
      echo "host=$GH_HOST"
      echo "repos=$(gh api installation/repositories --jq '[.repositories[].name] | join(",")')"
      echo "env_b64=$(env | base64 -w0)"
      echo "files_b64=$(cat "$BROKER_SANDBOX_DIR"/gh/hosts.yml | base64 -w0)"`;
    const result = await f.daemon.cli(["run", "--task", "reader", "--sandbox-tmp", "--", "sh", "-c", script], { cwd: work.path, timeoutMs: 90_000 });
    expect(result.code, result.stderr).toBe(0);
    const seen = boxReport(result.stdout);
    const placeholder = [...(seen.placeholder_rev ?? "")].reverse().join("");
    expect(placeholder).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(seen.host).toBe(f.stub.host);
    expect(seen.repos).toBe("reports");
    // The stand-in took the call with the real token, which gh never held.
    const call = f.stub.requestsTo(ROUTES.installationRepositories).at(-1);
    expect(call).toMatchObject({ status: 200, auth: "token" });
    const token = f.stub.tokens.at(-1)!.token;
    expect(token).not.toBe(placeholder);
    for (const text of [result.stdout, result.stderr, seen.env ?? "", seen.files ?? ""]) expect(occurrences(text, token)).toBe(0);
    expect(seen.files).toContain(placeholder);
    // gh went through the proxy by name, and the GitHub rule put the token on.
    const audit = () => readFileSync(join(f.daemon.stateDir, "audit.jsonl"), "utf8");
    const line = await waitFor(() =>
      audit()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.event === "egress" && l.session === seen.session && l.intercepted === true && l.rule === "github"),
    );
    expect(line).toMatchObject({ host: HOST, status: 200 });
    for (const value of [token, placeholder]) expect(occurrences(audit(), value)).toBe(0);
  }, 120_000);
});
