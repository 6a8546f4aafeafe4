/**
 * STS misbehaving at mint: the broker retries what is worth retrying a bounded number of times,
 * says what AWS said (exit 5), leaves no session and no file behind, and keeps serving.
 */
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { awsPolicy, EXTERNAL_ID, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";
import type { StsErrorFault, StsFaultKind } from "../stubs/sts-stub.js";

const TASK = "report";

describe("STS failures at mint", () => {
  let f: AwsFixture;
  let sandbox: string;
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({
      [TASK]: awsPolicy(TASK, endpoint, { aws: `  external_id: ${EXTERNAL_ID}\n` }),
      // A role the stand-in's account does not let the root key assume.
      "stranger": awsPolicy("stranger", endpoint, { roleArn: "arn:aws:iam::111122223333:role/not-for-you" }),
    }));
    sandbox = join(f.root, "sandbox");
    mkdirSync(sandbox, { mode: 0o700 });
  });
  afterAll(async () => {
    await f?.cleanup();
  });
  beforeEach(() => f.stub.clearFaults());

  /** Mints with the fault in place for every call; returns the CLI's answer and how many calls STS saw. */
  async function mintThrough(kind: StsFaultKind | StsErrorFault, task = TASK) {
    f.stub.fault(kind, { times: Infinity });
    const before = f.stub.calls.length;
    const result = await f.daemon.cli(["mint", "--task", task, "--sandbox", sandbox], { timeoutMs: 25_000 });
    f.stub.clearFaults();
    return { ...result, calls: f.stub.calls.slice(before) };
  }

  /** Nothing left behind, the secret kept out of the message, and the next mint works. */
  async function expectCleanAndServing(stderr: string) {
    expect(stderr).not.toContain(f.rootKey.secretAccessKey);
    expect(await f.daemon.client.listSessions()).toEqual([]);
    expect(readdirSync(sandbox)).toEqual([]);
    const next = await f.daemon.cli(["mint", "--task", TASK, "--sandbox", sandbox, "--format", "json"]);
    expect(next.code, next.stderr).toBe(0);
    const { id } = JSON.parse(next.stdout) as { id: string };
    expect(readdirSync(sandbox).length).toBeGreaterThan(0);
    expect((await f.daemon.cli(["revoke", id])).code).toBe(0);
    expect(readdirSync(sandbox)).toEqual([]);
  }

  it.each([
    ["throttling", "throttle", "AWS STS AssumeRole failed: Throttling: Rate exceeded (3 attempts)"],
    ["HTTP 500", "500", "AWS STS AssumeRole failed: InternalFailure: "],
    ["a dropped connection", "drop", "could not reach AWS STS at "],
  ] as const)("retries %s three times, then fails with exit 5 naming the cause", async (_name, kind, said) => {
    const result = await mintThrough(kind);
    expect(result.code, result.stderr).toBe(5);
    expect(result.stderr).toContain(said);
    expect(result.stderr).toContain("(3 attempts) [ERR_UPSTREAM_AWS]");
    expect(result.stdout).toBe("");
    expect(result.calls).toHaveLength(3);
    expect(result.calls.every((c) => c.action === "AssumeRole")).toBe(true);
    await expectCleanAndServing(result.stderr);
  });

  it("gives up on an STS that never answers after bounded attempts within the deadline", { timeout: 30_000 }, async () => {
    const started = Date.now();
    const result = await mintThrough("hang");
    const took = Date.now() - started;
    expect(result.code, result.stderr).toBe(5);
    expect(result.stderr).toMatch(/did not answer within 3s \(3 attempts\) \[ERR_UPSTREAM_TIMEOUT\]/);
    expect(result.calls).toHaveLength(3);
    expect(took).toBeLessThan(12_000);
    await expectCleanAndServing(result.stderr);
  });

  it("does not retry a 200 answer that is not STS's, and says so", async () => {
    const result = await mintThrough("garbage");
    expect(result.code, result.stderr).toBe(5);
    expect(result.stderr).toContain("answered HTTP 200 with something that is not an STS response (1 attempt) [ERR_UPSTREAM_AWS]");
    expect(result.calls).toHaveLength(1);
    await expectCleanAndServing(result.stderr);
  });

  it("surfaces AWS's AccessDenied code and message without retrying", async () => {
    const before = f.stub.calls.length;
    const result = await f.daemon.cli(["mint", "--task", "stranger", "--sandbox", sandbox]);
    expect(result.code, result.stderr).toBe(5);
    expect(result.stderr).toContain("AccessDenied");
    expect(result.stderr).toContain("User: arn:aws:iam::123456789012:user/broker-root is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/not-for-you");
    expect(f.stub.calls.slice(before).map((c) => c.outcome)).toEqual(["AccessDenied"]);
    expect(f.audit().filter((e) => e.event === "mint" && e.task === "stranger").at(-1)).toMatchObject({ outcome: "failed", code: "ERR_UPSTREAM_AWS" });
    await expectCleanAndServing(result.stderr);
  });

  it("an injected 403 AccessDenied is passed on as AWS worded it", async () => {
    const result = await mintThrough({ status: 403, code: "AccessDenied", message: "Not authorized to perform sts:SetSourceIdentity" });
    expect(result.code).toBe(5);
    expect(result.stderr).toContain("AccessDenied: Not authorized to perform sts:SetSourceIdentity");
    expect(result.calls).toHaveLength(1);
    await expectCleanAndServing(result.stderr);
  });
});
