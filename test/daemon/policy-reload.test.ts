/**
 * Issue 15, reproduction 5: a policy rewritten to send the GitHub App's JWT elsewhere, then SIGHUP.
 * The reload (what SIGHUP calls) refuses a plain-http upstream off loopback, and logs a change of a
 * task's upstream URL. Nothing here connects anywhere.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Logger } from "../../src/daemon/logger.js";
import { loadPolicyHolder } from "../../src/daemon/policy-holder.js";
import { tempDir } from "../helpers/tmp.js";

const policy = (apiUrl: string, endpoint?: string) =>
  [
    "task: deploy",
    "github:",
    "  app: gh-app",
    `  api_url: ${apiUrl}`,
    "  owner: acme",
    "  permissions: { contents: read }",
    ...(endpoint ? ["aws:", "  source: aws-root", "  region: us-east-1", `  endpoint: ${endpoint}`] : []),
    "",
  ].join("\n");

describe("policy reload and upstream URLs", () => {
  let dir: { path: string; cleanup: () => void };
  let lines: Array<{ level: string; msg: string; fields: Record<string, unknown> }>;
  const logger: Logger = { log: (level, msg, fields = {}) => lines.push({ level, msg, fields }) };
  const write = (text: string) => writeFileSync(join(dir.path, "deploy.yaml"), text);

  beforeEach(() => {
    dir = tempDir("broker-reload-");
    lines = [];
  });
  afterEach(() => dir.cleanup());

  it.each(["http://attacker.example", "http://10.0.0.1/api/v3", "http://169.254.169.254"])("refuses a reload that points api_url at %s, and keeps the old set", async (url) => {
    write(policy("https://api.github.com"));
    const holder = await loadPolicyHolder(dir.path, logger);
    write(policy(url));
    expect(await holder.reload()).toBe(false);
    expect(holder.current().get("deploy")?.github?.apiUrl).toBe("https://api.github.com");
    const refused = lines.find((l) => l.msg.includes("refused"));
    expect(refused?.fields.problems).toEqual([expect.stringMatching(/deploy\.yaml:4: github\.api_url: must use https/)]);
  });

  it("refuses to start on such a policy", async () => {
    write(policy("https://api.github.com", "http://attacker.example"));
    await expect(loadPolicyHolder(dir.path, logger)).rejects.toMatchObject({ code: "ERR_POLICY_INVALID", message: expect.stringMatching(/aws\.endpoint: must use https/) });
  });

  it("logs a reload that changes a task's upstream URLs, naming the task and the old and new URL", async () => {
    write(policy("http://127.0.0.1:9001"));
    const holder = await loadPolicyHolder(dir.path, logger);
    write(policy("http://127.0.0.2:9002", "https://sts.example.test"));
    expect(await holder.reload()).toBe(true);
    const changes = lines.filter((l) => l.msg.includes("upstream URL")).map((l) => ({ level: l.level, ...l.fields }));
    expect(changes).toEqual([
      { level: "warn", dir: dir.path, task: "deploy", field: "aws.endpoint", old: null, new: "https://sts.example.test" },
      { level: "warn", dir: dir.path, task: "deploy", field: "github.api_url", old: "http://127.0.0.1:9001", new: "http://127.0.0.2:9002" },
    ]);
  });

  it("logs nothing about upstreams when they stay the same", async () => {
    write(policy("https://api.github.com"));
    const holder = await loadPolicyHolder(dir.path, logger);
    write(policy("https://api.github.com").replace("contents: read", "contents: write"));
    expect(await holder.reload()).toBe(true);
    expect(lines.filter((l) => l.msg.includes("upstream URL"))).toEqual([]);
  });
});
