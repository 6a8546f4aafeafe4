import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";

const demoDirs = () => new Set(readdirSync(tmpdir()).filter((n) => n.startsWith("broker-demo-")));
const demoProcesses = () =>
  readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("broker-demo-");
      } catch {
        return false;
      }
    });

describe("npm run demo", () => {
  it("exits 0, shows the token revoked, and leaves no process, socket, file or keychain entry behind", () => {
    const before = demoDirs();
    const run = spawnSync("npm", ["run", "--silent", "demo"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain("GitHub: cloned acme/reports");
    expect(run.stdout).toContain("push to acme/reports refused");
    expect(run.stdout).toContain("GH_TOKEN=<concealed by broker>");
    // The box: each way around the broker refused, and nothing reached the unlisted host.
    expect(run.stdout).toContain("box: the keychain (secret-tool): unreachable");
    expect(run.stdout).toContain("box: broker mint --task demo-admin: refused (ERR_SESSION_SCOPE)");
    expect(run.stdout).toMatch(/box: the operator's \S+\/\.aws\/credentials: not there/);
    expect(run.stdout).toContain("refused by the egress proxy (HTTP 403)");
    expect(run.stdout).toContain("the paste site received: nothing");
    expect(run.stdout).toMatch(/egress proxy refused 1 host: 127\.0\.0\.3:\d+/);
    expect(run.stdout).toMatch(/revoked (before|\d+ ms after)/);
    expect(run.stdout).toContain("any secret in the agent's log, the daemon's log or the audit log: none");
    expect([...demoDirs()].filter((d) => !before.has(d))).toEqual([]);
    expect(demoProcesses()).toEqual([]);
    const keychain = spawnSync("secret-tool", ["search", "--all", "service", "broker"], { encoding: "utf8" });
    expect(`${keychain.stdout}${keychain.stderr}`).not.toMatch(/demo-(aws-root|gh-app|openai)-/);
  }, 150_000); // the demo itself may take up to spawnSync's 120 s on a loaded machine
});
