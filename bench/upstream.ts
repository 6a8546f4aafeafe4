/**
 * 3. Broker overhead per upstream mint: opening a session of a task that mints from the STS (or
 * GitHub) stand-in, minus a direct @aws-sdk/client-sts (or @octokit/auth-app) call to the same
 * stand-in, interleaved in the same run. Sessions are closed outside the timed part.
 */
import { open, rm } from "node:fs/promises";
import { join } from "node:path";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { createAppAuth } from "@octokit/auth-app";
import { request } from "@octokit/request";
import type { BenchRoot } from "./fixture.js";
import { call, keepAliveAgent, openSession } from "./http-load.js";
import type { Report } from "./report.js";
import { versus } from "./report.js";
import { interleave, median, since } from "./stats.js";
import { INSTALLATION_ID, REGION, ROLE_ARN, type StandIns } from "./stand-ins.js";
import { TASK } from "./tasks.js";

const SECTION = "3 upstream";

export async function benchUpstream(root: BenchRoot, standIns: StandIns, report: Report, rounds: number): Promise<void> {
  const agent = keepAliveAgent(1);
  const opened: string[] = [];
  const closeOpened = async () => {
    for (const id of opened.splice(0)) await call(agent, root.socket, "DELETE", `/v1/sessions/${id}`);
  };
  const brokerOpen = (task: string) => async () => {
    opened.push((await openSession(agent, root.socket, { task })).id);
  };

  // Direct calls as an application would make them: one client, reused.
  const sts = new STSClient({ region: REGION, endpoint: standIns.stsUrl, credentials: standIns.awsKey, maxAttempts: 1 });
  let n = 0;
  const stsDirect = async () => {
    const out = await sts.send(new AssumeRoleCommand({ RoleArn: ROLE_ARN, RoleSessionName: `bench-direct-${n++}`, DurationSeconds: 900 }));
    if (!out.Credentials?.SessionToken) throw new Error("the STS stand-in answered without credentials");
  };
  const auth = createAppAuth({ appId: standIns.app.appId, privateKey: standIns.app.privateKey, request: request.defaults({ baseUrl: standIns.githubUrl }) });
  const githubDirect = async () => {
    // refresh: true — a fresh token each time, as the broker mints one per session (no cache).
    const token = await auth({ type: "installation", installationId: INSTALLATION_ID, repositoryNames: ["reports"], permissions: { contents: "read" }, refresh: true });
    if (!token.token) throw new Error("the GitHub stand-in answered without a token");
  };

  const cases = [
    { name: "STS AssumeRole", task: TASK.sts, direct: stsDirect, directName: "@aws-sdk/client-sts AssumeRole" },
    { name: "GitHub installation token", task: TASK.github, direct: githubDirect, directName: "@octokit/auth-app installation auth" },
  ];
  for (const c of cases) {
    const open = brokerOpen(c.task);
    // Sessions stay open until the end of the case (max_sessions allows it): closing is not timed.
    const times = await interleave({ direct: c.direct, broker: open }, rounds, 3);
    await closeOpened();
    const brokerMs = median(times.broker);
    const directMs = median(times.direct);
    report.add(
      versus({ section: SECTION, measure: `session open, ${c.name} (stand-in)`, value: brokerMs, unit: "ms", against: { measure: c.directName, value: directMs, unit: "ms" }, detail: { broker: times.broker, direct: times.direct } }),
    );
    const overhead = brokerMs - directMs;
    report.add({ section: SECTION, measure: `broker overhead per ${c.name} mint`, value: overhead, unit: "ms", target: "≤ 2 ms", met: overhead <= 2 });
  }
  sts.destroy();
  agent.destroy();
  // A revocable lease (the GitHub token) is fsynced into the journal before it is handed out; the
  // disk's fsync time is part of that mint's overhead. Measured as the daemon meets it: other files
  // (the audit log) have unsynced appends too, which ext4's ordered mode flushes along.
  const fsync = await fsyncMs(root.stateDir, 40);
  report.add({ section: SECTION, measure: "fdatasync of a journal append, state dir (context)", value: fsync, unit: "ms" });
}

async function fsyncMs(dir: string, rounds: number): Promise<number> {
  const path = join(dir, "fsync-probe");
  const beside = join(dir, "fsync-probe-audit");
  const [file, other] = [await open(path, "a", 0o600), await open(beside, "a", 0o600)];
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      await other.write(`${"a".repeat(599)}\n`);
      await file.write(`${"x".repeat(199)}\n`);
      const start = performance.now();
      await file.datasync();
      times.push(since(start));
    }
  } finally {
    await Promise.all([file.close(), other.close()]);
    await Promise.all([rm(path, { force: true }), rm(beside, { force: true })]);
  }
  return median(times);
}
