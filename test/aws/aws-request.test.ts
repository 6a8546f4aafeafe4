/**
 * What the broker asks STS for (as the stand-in recorded it), how a request may narrow the TTL
 * and never widen it, what ending a session does to credentials STS cannot revoke, and that no
 * secret value reaches the daemon's log or the audit file.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionView } from "../../src/client/broker-client.js";
import { awsPolicy, EXTERNAL_ID, ROLE_ARN, sessionName, startAwsFixture, type AwsFixture } from "../helpers/aws-fixture.js";

const TASK = "report";
const SESSION_POLICY = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: ["s3:GetObject"], Resource: "arn:aws:s3:::reports/*" }],
};
const POLICY_ARNS = ["arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::111122223333:policy/reports-extra"];
const awsLines =
  `  external_id: ${EXTERNAL_ID}\n` +
  `  session_policy:\n    Version: "2012-10-17"\n    Statement:\n      - Effect: Allow\n        Action: [ "s3:GetObject" ]\n        Resource: "arn:aws:s3:::reports/*"\n` +
  `  policy_arns: [ "${POLICY_ARNS[0]}", "${POLICY_ARNS[1]}" ]\n` +
  `  tags: { team: data, cost-center: "4711" }\n`;

describe("what the broker asks STS for, and what ending a session does", () => {
  let f: AwsFixture;
  /** Every credential value seen in this file, for the leak check at the end. */
  const secrets: string[] = [];
  beforeAll(async () => {
    f = await startAwsFixture((endpoint) => ({ [TASK]: awsPolicy(TASK, endpoint, { ttl: "1h", maxTtl: "2h", aws: awsLines }) }));
  });
  afterAll(async () => {
    await f?.cleanup();
  });

  async function mint(flags: string[] = []): Promise<SessionView> {
    const result = await f.daemon.cli(["mint", "--task", TASK, "--format", "json", ...flags]);
    expect(result.code, result.stderr).toBe(0);
    const session = JSON.parse(result.stdout) as SessionView;
    const aws = session.credentials?.aws;
    if (aws) secrets.push(aws.secretAccessKey, aws.sessionToken);
    return session;
  }
  const revoke = async (id: string) => expect((await f.daemon.cli(["revoke", id])).code).toBe(0);
  const assumeCalls = () => f.stub.calls.filter((c) => c.action === "AssumeRole");
  const seconds = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 1000);

  it("sends the policy's role, session policy, policy ARNs, tags, source identity, external id, name and duration", async () => {
    const session = await mint();
    const call = assumeCalls().at(-1)!;
    expect(call).toMatchObject({ outcome: "ok", accessKeyId: f.rootKey.accessKeyId, region: "us-east-1" });
    expect(call.params).toMatchObject({
      RoleArn: ROLE_ARN,
      RoleSessionName: sessionName(TASK, session.id),
      DurationSeconds: 3600,
      PolicyArns: POLICY_ARNS,
      ExternalId: EXTERNAL_ID,
      SourceIdentity: `broker-${TASK}`,
    });
    expect(JSON.parse(call.params.Policy!)).toEqual(SESSION_POLICY);
    expect(call.params.Tags).toEqual(expect.arrayContaining([{ Key: "team", Value: "data" }, { Key: "cost-center", Value: "4711" }]));
    expect(call.params.Tags).toHaveLength(2);
    expect(seconds(session.createdAt, session.credentials!.aws!.expiration)).toBeGreaterThanOrEqual(3598);
    await revoke(session.id);
  });

  it("a shorter --ttl asks STS for that duration and the session ends then", async () => {
    const session = await mint(["--ttl", "20m"]);
    expect(assumeCalls().at(-1)!.params).toMatchObject({ RoleSessionName: sessionName(TASK, session.id), DurationSeconds: 1200 });
    expect(seconds(session.createdAt, session.expiresAt)).toBe(1200);
    expect(Math.abs(seconds(session.expiresAt, session.credentials!.aws!.expiration))).toBeLessThanOrEqual(2);
    await revoke(session.id);
  });

  it("a --ttl under STS's 15-minute floor still ends the session at its TTL", async () => {
    // STS issues nothing shorter than 900 s; the session (and its files) end at the TTL asked for.
    const session = await mint(["--ttl", "5m"]);
    expect(assumeCalls().at(-1)!.params.DurationSeconds).toBe(900);
    expect(seconds(session.createdAt, session.expiresAt)).toBe(300);
    await revoke(session.id);
  });

  it("a --ttl beyond max_ttl is denied with exit 3 and STS is never called", async () => {
    const before = f.stub.calls.length;
    const result = await f.daemon.cli(["mint", "--task", TASK, "--ttl", "3h"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/max_ttl/);
    expect(result.stdout).toBe("");
    expect(f.stub.calls.length).toBe(before);
    expect(await f.daemon.client.listSessions()).toEqual([]);
    expect(f.audit().filter((e) => e.event === "deny" && e.task === TASK).at(-1)).toMatchObject({ code: "ERR_POLICY_DENIED" });
  });

  it("ending a run's session records the AWS lease as not-revocable with its expiry, and removes the sandbox files", async () => {
    // Unconfined, so that BROKER_SANDBOX_DIR is the host's path (in the box it is /run/broker, which the host lacks anyway).
    const result = await f.daemon.cli(["run", "--no-sandbox", "--task", TASK, "--sandbox-tmp", "--", "sh", "-c", 'echo "$BROKER_SESSION $BROKER_SANDBOX_DIR"; ls "$BROKER_SANDBOX_DIR/aws"']);
    expect(result.code, result.stderr).toBe(0);
    const [session = "", dir = ""] = result.stdout.split("\n")[0]!.split(" ");
    expect(result.stdout).toContain("config\ncredentials\n");
    expect(existsSync(dir)).toBe(false);
    const events = f.audit().filter((e) => e.session === session);
    const minted = events.find((e) => e.event === "mint" && e.provider === "aws");
    expect(minted?.credential).toMatch(/^ASIA/);
    const revoked = events.find((e) => e.event === "revoke" && e.provider === "aws");
    expect(revoked).toMatchObject({ outcome: "not-revocable", credential: minted!.credential, validUntil: minted!.validUntil });
    expect(Date.parse(String(revoked!.validUntil))).toBeGreaterThan(Date.now());
    expect(events.at(-1)).toMatchObject({ event: "session.close" });
  });

  it("`broker revoke` of a minted session removes its files from --sandbox DIR and keeps DIR", async () => {
    const dir = join(f.root, "agent-sandbox");
    mkdirSync(dir, { mode: 0o700 });
    const session = await mint(["--sandbox", dir]);
    expect(readdirSync(dir).sort()).toEqual(["aws", "env", "session.json"]);
    expect(readdirSync(join(dir, "aws")).sort()).toEqual(["config", "credentials"]);
    await revoke(session.id);
    expect(readdirSync(dir)).toEqual([]);
    const revoked = f.audit().find((e) => e.event === "revoke" && e.session === session.id);
    expect(revoked).toMatchObject({ outcome: "not-revocable", credential: session.credentials!.aws!.accessKeyId, validUntil: session.credentials!.aws!.expiration });
  });

  it("no secret value is in the daemon's log or the audit file", async () => {
    // The error path too: what AWS says is repeated, and here it quotes the secret key.
    f.stub.fault({ status: 403, code: "AccessDenied", message: `not authorized (key ${f.rootKey.secretAccessKey})` });
    const denied = await f.daemon.cli(["mint", "--task", TASK]);
    expect(denied.code).toBe(5);
    expect(denied.stderr).toContain("AccessDenied");
    expect(denied.stderr).not.toContain(f.rootKey.secretAccessKey);
    const all = [f.rootKey.secretAccessKey, ...secrets];
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    const stderr = f.daemon.stderr();
    const audit = f.auditText();
    expect(audit).toContain('"event":"mint"');
    for (const secret of all) {
      expect(stderr.includes(secret), "a secret is in the daemon's stderr").toBe(false);
      expect(audit.includes(secret), "a secret is in the audit log").toBe(false);
    }
  });
});
