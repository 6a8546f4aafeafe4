import { generateKeyPairSync } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createBareRepo, startGithubStub, type GithubStub, type GithubStubOptions } from "../stubs/github-stub.js";
import { startTestDaemon, type TestDaemon, type TestDaemonOptions } from "./daemon.js";
import { tempDir } from "./tmp.js";

export const APP_ID = 4242;

export interface GithubFixture {
  stub: GithubStub;
  daemon: TestDaemon;
  /** A HOME for git clients, apart from the operator's. */
  gitHome: string;
  /** Holds `repos/<owner>/<repo>.git` and the git HOME. */
  root: string;
  cleanup(): Promise<void>;
}

export function githubPolicy(task: string, apiUrl: string, body: string): string {
  return `task: ${task}\nttl: 10m\nmax_ttl: 2h\ngithub:\n  app: gh-app\n  api_url: ${apiUrl}\n  owner: acme\n${body}`;
}

/**
 * A GitHub stand-in with one organisation (acme: reports, website, as bare git repositories) and a
 * daemon whose policies point at it, with the app's key (generated now) stored as `gh-app`.
 */
export async function startGithubFixture(
  policies: (apiUrl: string) => Record<string, string>,
  stubOptions: Partial<GithubStubOptions> = {},
  daemonOptions: Partial<TestDaemonOptions> = {},
): Promise<GithubFixture> {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const dir = tempDir("broker-github-");
  const gitRoot = join(dir.path, "repos");
  for (const repo of ["reports", "website"]) createBareRepo(gitRoot, "acme", repo);
  const gitHome = join(dir.path, "home");
  mkdirSync(gitHome);
  const stub = await startGithubStub({
    appId: APP_ID,
    publicKey: keys.publicKey,
    gitRoot,
    installations: [{ id: 42, account: { login: "acme", type: "Organization" }, repositories: ["reports", "website"], permissions: { contents: "write", metadata: "read", pull_requests: "write" } }],
    ...stubOptions,
  });
  const daemon = await startTestDaemon({ ...daemonOptions, policies: policies(stub.url) });
  const privateKey = keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const set = await daemon.cli(["secret", "set", "gh-app", "--type", "github-app"], { input: JSON.stringify({ appId: String(APP_ID), privateKey }) });
  if (set.code !== 0) throw new Error(`storing the app key failed: ${set.stderr}`);
  return {
    stub,
    daemon,
    gitHome,
    root: dir.path,
    async cleanup() {
      await daemon.cleanup();
      await stub.close();
      dir.cleanup();
    },
  };
}
