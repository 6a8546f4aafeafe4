/**
 * What a waiting request must not let happen, through the real CLI and daemon against the GitHub
 * stand-in: a caller killed while it waits withdraws its request (audited) and nothing is minted;
 * a command inside a session cannot approve through its session socket; the `when:` conditions
 * follow the narrowed request (write permissions, listed repositories).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrokerClient } from "../../src/client/broker-client.js";
import { bwrapWorks } from "../helpers/bwrap.js";
import { CLI } from "../helpers/cli.js";
import { waitFor } from "../helpers/daemon.js";
import { githubPolicy, startGithubFixture, type GithubFixture } from "../helpers/github-fixture.js";
import { startCli } from "../helpers/pending-cli.js";

describe("approval guards", () => {
  let f: GithubFixture;
  beforeAll(async () => {
    f = await startGithubFixture((api) => ({
      pusher: githubPolicy("pusher", api, "  repositories: [reports, website]\n  permissions: { contents: write, metadata: read }\napproval:\n  when: { github_write: true, repositories: [website] }\n  timeout: 1m\n"),
      reader: githubPolicy("reader", api, "  repositories: [reports]\n  permissions: { contents: read }\n"),
    }));
  });
  afterAll(async () => f?.cleanup());

  const audit = () => readFileSync(join(f.daemon.stateDir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);

  it("a caller killed while its request waits withdraws it: audited, nothing minted, nothing left to approve", async () => {
    const issued = f.stub.tokens.length;
    const mint = startCli(["mint", "--task", "pusher"], f.daemon.env);
    const id = await mint.pendingId();
    mint.child.kill("SIGKILL");
    await mint.result;
    const withdrawn = await waitFor(() => audit().find((l) => l.approval === id && l.event === "approval.withdraw"));
    expect(withdrawn.outcome).toBe("withdrawn");
    expect(await f.daemon.client.listApprovals()).toEqual([]);
    const approve = await f.daemon.cli(["approve", id, "--yes"]);
    expect(approve.code).toBe(1);
    expect(approve.stderr).toContain("[ERR_APPROVAL_NOT_FOUND]");
    expect(f.stub.tokens.length).toBe(issued);
    expect(await f.daemon.client.listSessions()).toEqual([]);
  });

  it("the session socket a boxed command reaches refuses the approval routes (403 ERR_SESSION_SCOPE)", async () => {
    const inside = await f.daemon.client.openSession({ task: "reader", confine: true });
    // From inside a session (BROKER_SESSION): the approver is told which one.
    const mint = startCli(["mint", "--task", "pusher"], { ...f.daemon.env, BROKER_SESSION: inside.id });
    const id = await mint.pendingId();
    const [pending] = await f.daemon.client.listApprovals();
    expect(pending?.parentSession).toBe(inside.id);
    const box = new BrokerClient(inside.confinement!.socket);
    await expect(box.approve(id, pending!.digest)).rejects.toMatchObject({ code: "ERR_SESSION_SCOPE" });
    await expect(box.listApprovals()).rejects.toMatchObject({ code: "ERR_SESSION_SCOPE" });
    await expect(box.deny(id)).rejects.toMatchObject({ code: "ERR_SESSION_SCOPE" });
    // Still waiting, and only the operator's socket decides it.
    expect((await f.daemon.client.listApprovals()).map((p) => p.id)).toEqual([id]);
    await f.daemon.client.deny(id);
    expect((await mint.result).code).toBe(3);
    await f.daemon.client.closeSession(inside.id);
  });

  it.skipIf(!bwrapWorks())("a command in a real box cannot approve a waiting request, with its CLI or straight at the operator's socket", async () => {
    const mint = startCli(["mint", "--task", "pusher"], f.daemon.env);
    const id = await mint.pendingId();
    const probe = `${process.execPath} ${CLI} approve ${id} --yes; echo "cli=$?"; ${process.execPath} ${CLI} --socket ${f.daemon.socket} approve ${id} --yes; echo "main=$?"`;
    const run = await f.daemon.cli(["run", "--task", "reader", "--", "sh", "-c", probe]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain("[ERR_SESSION_SCOPE]");
    expect(run.stdout).toMatch(/^cli=[1-9]/m);
    expect(run.stdout).toMatch(/^main=[1-9]/m);
    // Still waiting: only the operator decides it.
    expect((await f.daemon.client.listApprovals()).map((p) => p.id)).toEqual([id]);
    expect(audit().filter((l) => l.approval === id && l.event === "approve")).toEqual([]);
    await f.daemon.client.deny(id);
    expect((await mint.result).code).toBe(3);
  });

  it("an approval names the plan it was shown: another digest approves nothing", async () => {
    // A BROKER_SESSION that names no live session is not shown as one.
    const mint = startCli(["mint", "--task", "pusher"], { ...f.daemon.env, BROKER_SESSION: "made-up" });
    const id = await mint.pendingId();
    expect((await f.daemon.client.listApprovals())[0]?.parentSession).toBeNull();
    await expect(f.daemon.client.approve(id, "0".repeat(64))).rejects.toMatchObject({ code: "ERR_APPROVAL_NOT_FOUND" });
    await f.daemon.client.deny(id);
    expect((await mint.result).code).toBe(3);
  });

  it("when: conditions follow the narrowed request; an approved one gets its token", async () => {
    // Read only, one repository not listed: no approval asked.
    const plain = await f.daemon.cli(["mint", "--task", "pusher", "--repositories", "reports", "--permissions", "contents=read"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toContain("waiting for approval");
    // The listed repository, read only: asked, for that reason alone.
    const web = startCli(["mint", "--task", "pusher", "--repositories", "website", "--permissions", "contents=read"], f.daemon.env);
    const id = await web.pendingId();
    const [pending] = await f.daemon.client.listApprovals();
    expect(pending).toMatchObject({ id, summary: { repositories: ["website"], permissions: { contents: "read" }, reasons: ["repositories"] } });
    const before = f.stub.tokens.length;
    expect((await f.daemon.cli(["approve", id, "--yes"])).code).toBe(0);
    const result = await web.result;
    expect(result.code, result.stderr).toBe(0);
    expect(f.stub.tokens.length).toBe(before + 1);
    await f.daemon.cli(["revoke", "--all"]);
  });

  it("`broker run` waits too, and prints the approve line", async () => {
    const run = startCli(["run", "--task", "pusher", "--no-sandbox", "--", process.execPath, "-e", "process.stdout.write(process.env.GH_TOKEN ? 'has-token' : 'none')"], f.daemon.env);
    const id = await run.pendingId();
    expect((await f.daemon.cli(["approve", id, "--yes"])).code).toBe(0);
    const result = await run.result;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("has-token");
  });
});
