/**
 * Git smart HTTP for the GitHub stand-in: `git http-backend` run as CGI over
 * `<root>/<owner>/<repo>.git`, behind GitHub's rules for installation tokens: HTTP Basic with a live
 * token that covers the repository (else 401 + `WWW-Authenticate`, so git asks its credential
 * helper), and pushes only with `contents: write`.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { LEVEL_RANK, type StubState } from "./github-stub-state.js";

/** `/{owner}/{repo}.git/info/refs`, `/{owner}/{repo}.git/git-upload-pack`, `…/git-receive-pack` (`.git` optional). */
export const GIT_PATH = /^\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;

export function gitRouteName(method: string, rest: string): string {
  return `${method} /{owner}/{repo}.git/${rest}`;
}

/** An environment for git that ignores the operator's and the system's git config. */
export function isolatedGitEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null", LANG: "C" };
}

export function serveGit(req: IncomingMessage, res: ServerResponse, state: StubState, gitRoot: string, match: RegExpExecArray, query: string): void {
  const [, owner = "", repo = "", rest = ""] = match;
  const service = rest === "info/refs" ? new URLSearchParams(query).get("service") : rest;
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  const password = basic ? Buffer.from(basic[1]!, "base64").toString("utf8").split(":").slice(1).join(":") : "";
  const token = password ? state.liveToken(password) : undefined;
  const covers = token && token.owner.toLowerCase() === owner.toLowerCase() && token.repositories.some((r) => r.toLowerCase() === repo.toLowerCase());
  if (!covers) {
    res.writeHead(401, { "www-authenticate": 'Basic realm="GitHub"', "content-type": "text/plain" });
    res.end("Invalid username or token.\n");
    return;
  }
  if (service === "git-receive-pack" && (LEVEL_RANK[token.permissions.contents ?? ""] ?? 0) < LEVEL_RANK.write!) {
    res.writeHead(403, { "content-type": "text/plain" });
    res.end(`Write access to repository not granted.\n`);
    return;
  }
  const repoDir = `${owner}/${repo}.git`;
  if (!existsSync(join(gitRoot, repoDir))) {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("Repository not found.\n");
    return;
  }
  runHttpBackend(req, res, gitRoot, `/${repoDir}/${rest}`, query);
}

function runHttpBackend(req: IncomingMessage, res: ServerResponse, gitRoot: string, pathInfo: string, query: string): void {
  const header = (name: string) => (typeof req.headers[name] === "string" ? (req.headers[name] as string) : "");
  const env: NodeJS.ProcessEnv = {
    ...isolatedGitEnv(gitRoot),
    GIT_PROJECT_ROOT: gitRoot,
    GIT_HTTP_EXPORT_ALL: "1",
    REQUEST_METHOD: req.method ?? "GET",
    QUERY_STRING: query,
    PATH_INFO: pathInfo,
    CONTENT_TYPE: header("content-type"),
    // http-backend enables receive-pack only for an authenticated REMOTE_USER.
    REMOTE_USER: "x-access-token",
    REMOTE_ADDR: "127.0.0.1",
    HTTP_CONTENT_ENCODING: header("content-encoding"),
    HTTP_GIT_PROTOCOL: header("git-protocol"),
    ...(req.headers["content-length"] ? { CONTENT_LENGTH: header("content-length") } : {}),
  };
  const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "ignore"] });
  req.pipe(child.stdin);
  child.stdin.on("error", () => undefined);

  let pending: Buffer = Buffer.alloc(0);
  let headersSent = false;
  child.stdout.on("data", (chunk: Buffer) => {
    if (headersSent) {
      res.write(chunk);
      return;
    }
    pending = Buffer.concat([pending, chunk]);
    const text = pending.toString("latin1");
    const end = /\r?\n\r?\n/.exec(text);
    if (!end) return;
    const { status, headers } = parseCgiHeaders(text.slice(0, end.index));
    res.writeHead(status, headers);
    headersSent = true;
    const body = pending.subarray(end.index + end[0].length);
    if (body.length > 0) res.write(body);
  });
  child.on("close", (code) => {
    if (!headersSent) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`git http-backend failed (${code})\n`);
    } else {
      res.end();
    }
  });
  child.on("error", () => {
    if (!res.headersSent) res.writeHead(500).end("cannot run git http-backend\n");
  });
}

function parseCgiHeaders(block: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 200;
    else headers[name] = value;
  }
  return { status, headers };
}

/** Creates `<root>/<owner>/<repo>.git`, bare, with one commit on `main` holding README.md; returns its path. */
export function createBareRepo(root: string, owner: string, repo: string, readme = `# ${repo}\n`): string {
  const dir = join(root, owner, `${repo}.git`);
  mkdirSync(dir, { recursive: true });
  const env = {
    ...isolatedGitEnv(root),
    GIT_AUTHOR_NAME: "stub",
    GIT_AUTHOR_EMAIL: "stub@example.invalid",
    GIT_COMMITTER_NAME: "stub",
    GIT_COMMITTER_EMAIL: "stub@example.invalid",
  };
  const git = (args: string[], input?: string) => execFileSync("git", args, { cwd: dir, env, input, encoding: "utf8" }).trim();
  git(["init", "--quiet", "--bare"]);
  git(["symbolic-ref", "HEAD", "refs/heads/main"]);
  const blob = git(["hash-object", "-w", "--stdin"], readme);
  const tree = git(["mktree"], `100644 blob ${blob}\tREADME.md\n`);
  const commit = git(["commit-tree", tree, "-m", "initial commit"]);
  git(["update-ref", "refs/heads/main", commit]);
  return dir;
}

export interface GitClientOptions {
  cwd: string;
  /** A temp HOME, so the operator's git config is never read. */
  home: string;
  /** Handed to git by a credential helper through the environment, never in argv. */
  token?: string;
}

/**
 * Runs the real git client against the stub; the token reaches git only via `credential.helper` and
 * the environment. Asynchronous on purpose: the stub answers from this same process.
 */
export function runGit(args: string[], options: GitClientOptions): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const helper = `!f() { test "$1" = get && printf 'username=x-access-token\\npassword=%s\\n' "$STUB_GIT_TOKEN"; }; f`;
  const child = spawn("git", ["-c", "credential.helper=", "-c", `credential.helper=${helper}`, ...args], {
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...isolatedGitEnv(options.home),
      GIT_TERMINAL_PROMPT: "0",
      GIT_AUTHOR_NAME: "agent",
      GIT_AUTHOR_EMAIL: "agent@example.invalid",
      GIT_COMMITTER_NAME: "agent",
      GIT_COMMITTER_EMAIL: "agent@example.invalid",
      ...(options.token ? { STUB_GIT_TOKEN: options.token } : {}),
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
