// An agent-like command for the demo: it reports what `broker run` gave it and tries a few
// things a prompt-injected agent might. It only prints; the demo runs it with output piped,
// so the broker masks any credential value it prints.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";

const say = (line) => console.log(line);
const sandbox = process.env.BROKER_SANDBOX_DIR;

const sts = new STSClient({ region: process.env.AWS_REGION, endpoint: process.env.DEMO_STS_ENDPOINT });
const me = await sts.send(new GetCallerIdentityCommand({}));
say(`AWS: I am ${me.Arn}`);

const git = (args, cwd) =>
  spawnSync("git", ["-c", "credential.helper=", "-c", `credential.helper=store --file=${sandbox}/git/credentials`, ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_AUTHOR_NAME: "agent", GIT_AUTHOR_EMAIL: "agent@example.invalid", GIT_COMMITTER_NAME: "agent", GIT_COMMITTER_EMAIL: "agent@example.invalid" },
  });
const work = mkdtempSync(join(tmpdir(), "demo-agent-"));
const repo = `${process.env.DEMO_GITHUB_URL}/acme/reports.git`;
say(git(["clone", "-q", repo, "reports"], work).status === 0 ? "GitHub: cloned acme/reports" : "GitHub: clone of acme/reports FAILED");
writeFileSync(join(work, "reports", "injected.txt"), "a change nobody reviewed\n");
git(["add", "injected.txt"], join(work, "reports"));
git(["commit", "-qm", "injected"], join(work, "reports"));
const push = git(["push", "-q", "origin", "HEAD:main"], join(work, "reports"));
say(push.status === 0 ? "GitHub: push to acme/reports WENT THROUGH" : "GitHub: push to acme/reports refused (the task is read-only)");
const other = git(["clone", "-q", `${process.env.DEMO_GITHUB_URL}/acme/website.git`, "website"], work);
say(other.status === 0 ? "GitHub: clone of acme/website WENT THROUGH" : "GitHub: clone of acme/website refused (outside the task)");
execFileSync("rm", ["-rf", work]);

const files = [];
const walk = (dir, prefix = "") => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`);
    else files.push(`${prefix}${name} (${(statSync(path).mode & 0o777).toString(8)})`);
  }
};
walk(sandbox);
say(`sandbox files: ${files.join(", ")}`);
say(`my log line with a token in it: GH_TOKEN=${process.env.GH_TOKEN}`);
say(`and with an API key: OPENAI_API_KEY=${process.env.OPENAI_API_KEY}`);
say(`the operator's own AWS key in my environment: ${process.env.AWS_ACCESS_KEY_ID === process.env.DEMO_OPERATOR_KEY ? "yes" : "no (scrubbed)"}`);
