/**
 * STS credentials never outlive their session more than STS itself forces, and a session longer
 * than the role allows is served by fresh credentials within it. The stand-in's role has IAM's
 * default MaxSessionDuration (1 h); its recorded AssumeRole calls are the evidence.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsPolicy, EXTERNAL_ID, sessionName, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import { waitFor } from "../helpers/daemon.js";

const EXT = `  external_id: ${EXTERNAL_ID}\n`;

describe("the DurationSeconds the broker asks STS for", () => {
  let f: AwsFixture;
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({
      short: awsPolicy("short", endpoint, { ttl: "6s", aws: EXT }),
      job: awsPolicy("job", endpoint, { ttl: "20m", aws: EXT }),
      long: awsPolicy("long", endpoint, { ttl: "1h", maxTtl: "2h", aws: EXT }),
    }));
  });
  afterAll(async () => f?.cleanup());

  const assumeCalls = (session: string, task: string) => f.stub.calls.filter((c) => c.action === "AssumeRole" && c.params.RoleSessionName === sessionName(task, session));
  const mint = async (args: string[]) => {
    const result = await f.daemon.cli(["mint", ...args, "--format", "json"], { env: f.awsEnv() });
    expect(result.code, result.stderr).toBe(0);
    return { session: JSON.parse(result.stdout) as { id: string; expiresAt: string }, stderr: result.stderr };
  };
  const auditOf = (session: string, event: string) => f.audit().filter((e) => e.event === event && e.session === session);

  it("mints no credential whose only use is after the session's end, though STS's whole-second Expiration falls just before it", { timeout: 30_000 }, async () => {
    // The stand-in's keys live exactly the session's 6 s, truncated to whole seconds as STS does.
    f.stub.setCredentialLifetime(6);
    try {
      let session: { id: string; expiresAt: string } | undefined;
      for (let attempt = 0; attempt < 3 && !session; attempt++) {
        const opened = (await mint(["--task", "short"])).session;
        const validUntil = Date.parse(String(auditOf(opened.id, "mint")[0]!.validUntil));
        // Only a key that ends before the session tempts a refresh (a start just before a whole second may not).
        if (validUntil < Date.parse(opened.expiresAt)) session = opened;
      }
      expect(session, "a key that ends before its session").toBeDefined();
      await waitFor(() => auditOf(session!.id, "session.close").length > 0, 15_000, 100);
      expect(assumeCalls(session!.id, "short")).toHaveLength(1);
      expect(auditOf(session!.id, "refresh")).toEqual([]);
    } finally {
      f.stub.setCredentialLifetime(undefined);
    }
  });

  it("asks for no more than the session has left, and says so in the audit line, also on refresh", { timeout: 30_000 }, async () => {
    f.stub.setCredentialLifetime(6);
    try {
      const { session } = await mint(["--task", "job"]);
      const refreshed = await waitFor(() => auditOf(session.id, "refresh")[0], 15_000, 50);
      const [first, second] = assumeCalls(session.id, "job");
      expect(first!.params.DurationSeconds).toBe(1200);
      expect(second!.params.DurationSeconds).toBeGreaterThan(1180);
      expect(second!.params.DurationSeconds).toBeLessThan(1200);
      expect(auditOf(session.id, "mint")[0]).toMatchObject({ provider: "aws", durationSeconds: 1200, durationLimit: "session" });
      expect(refreshed).toMatchObject({ provider: "aws", outcome: "ok", durationSeconds: second!.params.DurationSeconds, durationLimit: "session" });
      await f.daemon.cli(["revoke", session.id]);
    } finally {
      f.stub.setCredentialLifetime(undefined);
    }
  });

  it("a session shorter than STS's 15-minute floor asks for 900 s and the audit line names the floor", async () => {
    const { session } = await mint(["--task", "job", "--ttl", "5m"]);
    expect(assumeCalls(session.id, "job")[0]!.params.DurationSeconds).toBe(900);
    expect(auditOf(session.id, "mint")[0]).toMatchObject({
      durationSeconds: 900,
      durationLimit: "sts-minimum",
      durationNote: "raised to STS's 15-minute minimum: valid about 10m past the session's end",
    });
    await f.daemon.cli(["revoke", session.id]);
  });

  it("--ttl 2h on a policy with max_ttl 2h works against a role of 1 h: DurationSeconds is capped at aws.max_duration", async () => {
    const { session } = await mint(["--task", "long", "--ttl", "2h"]);
    expect(Date.parse(session.expiresAt) - Date.now()).toBeGreaterThan(7_100_000);
    expect(assumeCalls(session.id, "long").map((c) => [c.params.DurationSeconds, c.outcome])).toEqual([[3600, "ok"]]);
    expect(auditOf(session.id, "mint")[0]).toMatchObject({ durationSeconds: 3600, durationLimit: "max_duration" });
    await f.daemon.cli(["revoke", session.id]);
  });

  it("a session longer than max_duration gets fresh credentials within it, each capped again", { timeout: 30_000 }, async () => {
    f.stub.setCredentialLifetime(6);
    try {
      const { session } = await mint(["--task", "long", "--ttl", "2h"]);
      const refreshed = await waitFor(() => auditOf(session.id, "refresh")[0], 15_000, 50);
      expect(refreshed).toMatchObject({ durationSeconds: 3600, durationLimit: "max_duration" });
      expect(assumeCalls(session.id, "long").map((c) => [c.params.DurationSeconds, c.outcome])).toEqual([[3600, "ok"], [3600, "ok"]]);
      await f.daemon.cli(["revoke", session.id]);
    } finally {
      f.stub.setCredentialLifetime(undefined);
    }
  });

  it("broker run --ttl 2h says at open that the AWS keys in its environment end first; --aws-endpoint does not need to", async () => {
    const script = ["-e", "process.exit(process.env.AWS_ACCESS_KEY_ID || process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI ? 0 : 9)"];
    const inEnv = await f.daemon.cli(["run", "--no-sandbox", "--task", "long", "--ttl", "2h", "--", process.execPath, ...script], { env: f.awsEnv() });
    expect(inEnv.code, inEnv.stderr).toBe(0);
    expect(inEnv.stderr).toMatch(/^broker: warning: the AWS_\* keys in the environment expire in 1h, 1h before the session ends; take them from --aws-endpoint.*--ttl 59m or less/m);
    const endpoint = await f.daemon.cli(["run", "--no-sandbox", "--aws-endpoint", "--task", "long", "--ttl", "2h", "--", process.execPath, ...script], { env: f.awsEnv() });
    expect(endpoint.code, endpoint.stderr).toBe(0);
    expect(endpoint.stderr).not.toContain("broker: warning: the AWS_");
  });
});
