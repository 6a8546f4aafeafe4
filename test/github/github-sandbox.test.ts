/**
 * git inside a real agent sandbox (bubblewrap: private tmpfs HOME, no network, cleared
 * environment, the session directory read-only at /run/broker): the variables in
 * /run/broker/env make `git credential fill` answer from /run/broker/git/credentials, for the
 * session's GitHub host only.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bwrapWorks, inBrokerSandbox, parseReport as report } from "../helpers/bwrap.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";

// The test brings its own bwrap sandbox, as a wrapper would: broker run itself is --no-sandbox (bwrap does not nest).

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

describe.skipIf(!bwrapWorks())("git in a bubblewrap sandbox takes the session's token from /run/broker", () => {
  let f: GithubFixture;
  beforeAll(async () => {
    f = await startGithubFixture((api) => ({ "repo-reader": githubPolicy("repo-reader", api, "  repositories: [reports]\n  permissions: { contents: read }\n") }));
    // The operator's own git credentials, which the sandbox must not see.
    writeFileSync(join(f.daemon.env.HOME!, ".git-credentials"), `http://operator:operator-secret@${f.stub.host}\n`);
    writeFileSync(join(f.daemon.env.HOME!, ".gitconfig"), "[credential]\n\thelper = store\n");
  });
  afterAll(async () => {
    await f?.cleanup();
  });

  it("`git credential fill` prints the session's token for the stub's host and nothing for another", async () => {
    const script = `
      echo "home_entries=[$(ls -A "$HOME")]"
      set -a; . /run/broker/env 2> /tmp/source.err; set +a
      echo "source_errors=[$(cat /tmp/source.err)]"
      echo "helper=$GIT_CONFIG_COUNT $GIT_CONFIG_KEY_0 $GIT_CONFIG_VALUE_0"
      echo "mode=$(stat -c %a /run/broker/git/credentials)"
      printf 'protocol=http\\nhost=${f.stub.host}\\n\\n' | git credential fill > /tmp/fill
      echo "fill_status=$?"
      sed -n 's/^username=/username=/p' /tmp/fill
      echo "password_sha=$(sed -n 's/^password=//p' /tmp/fill | tr -d '\\n' | sha256sum | cut -d' ' -f1)"
      printf 'protocol=https\\nhost=github.com\\n\\n' | git credential fill > /tmp/other 2>/dev/null
      echo "other_status=$? other=[$(cat /tmp/other)]"
    `;
    const cmd = inBrokerSandbox({ at: "/run/broker", setenv: { GIT_TERMINAL_PROMPT: "0" } }, ["sh", "-c", script]);
    const result = await f.daemon.cli(["run", "--no-sandbox", "--task", "repo-reader", "--sandbox-tmp", "--sandbox-path", "/run/broker", "--no-env", "--", ...cmd], { timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    const seen = report(result.stdout);
    expect(seen.home_entries).toBe("[]");
    // The env file must read the same to sh as to a dotenv parser (values with spaces quoted).
    expect(seen.source_errors).toBe("[]");
    expect(seen.helper).toBe('1 credential.helper !f() { test "$1" != get || git credential-store --file=/run/broker/git/credentials get; }; f');
    expect(seen.mode).toBe("600");
    expect(seen.fill_status).toBe("0");
    expect(seen.username).toBe("x-access-token");
    const token = f.stub.tokens.at(-1)!;
    expect(seen.password_sha).toBe(sha256(token.token));
    expect(seen.password_sha).not.toBe(sha256("operator-secret"));
    // No credential for another host, and no prompt to fall back on.
    expect(seen.other_status).not.toBe("0");
    expect(result.stdout).toContain("other=[]");
    expect(token.revokedAt).not.toBeNull();
  });
});
