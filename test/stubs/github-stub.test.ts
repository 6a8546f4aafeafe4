/** The GitHub stand-in must be able to fail: it refuses what GitHub refuses, with GitHub's answers. */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JWT_MESSAGES } from "./github-stub-jwt.js";
import { MESSAGES } from "./github-stub-routes.js";
import { createBareRepo, ROUTES, runGit, startGithubStub, type GithubStub } from "./github-stub.js";

const APP_ID = 31337;
const appKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const otherKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });

function jwt(claims: Record<string, unknown>, key: KeyObject = appKeys.privateKey): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const signed = `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}`;
  return `${signed}.${sign("sha256", Buffer.from(signed), key).toString("base64url")}`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const goodJwt = () => jwt({ iat: nowSeconds() - 30, exp: nowSeconds() + 540, iss: String(APP_ID) });

let stub: GithubStub;
let root: string;

async function api(method: string, path: string, auth?: string, body?: unknown) {
  const response = await fetch(`${stub.url}${path}`, {
    method,
    headers: { ...(auth ? { authorization: auth } : {}), ...(body ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

async function mintToken(body: unknown, installationId = 42): Promise<string> {
  const answer = await api("POST", `/app/installations/${installationId}/access_tokens`, `Bearer ${goodJwt()}`, body);
  expect(answer.status).toBe(201);
  return answer.json!.token as string;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "github-stub-"));
  for (const repo of ["reports", "website"]) createBareRepo(join(root, "git"), "acme", repo);
  stub = await startGithubStub({
    appId: APP_ID,
    publicKey: appKeys.publicKey,
    gitRoot: join(root, "git"),
    installations: [
      {
        id: 42,
        account: { login: "acme", type: "Organization" },
        repositories: ["reports", "website"],
        permissions: { contents: "write", metadata: "read", issues: "read" },
      },
      { id: 77, account: { login: "alice", type: "User" }, repositories: ["dotfiles"], permissions: { contents: "read", metadata: "read" } },
    ],
  });
});

afterAll(async () => {
  await stub?.close();
  rmSync(root, { recursive: true, force: true });
});

describe("app JWT checks", () => {
  it("accepts the app's JWT with iss as a string or a number", async () => {
    expect((await api("GET", "/app", `Bearer ${goodJwt()}`)).status).toBe(200);
    const numeric = jwt({ iat: nowSeconds() - 30, exp: nowSeconds() + 540, iss: APP_ID });
    expect((await api("GET", "/app", `Bearer ${numeric}`)).json).toMatchObject({ id: APP_ID });
  });

  it("refuses a JWT signed by another key", async () => {
    const forged = jwt({ iat: nowSeconds() - 30, exp: nowSeconds() + 540, iss: String(APP_ID) }, otherKeys.privateKey);
    const answer = await api("GET", "/app/installations", `Bearer ${forged}`);
    expect(answer.status).toBe(401);
    expect(answer.json?.message).toBe(JWT_MESSAGES.undecodable);
  });

  it("refuses an expired JWT, a wrong issuer, a future iat and a lifetime over 10 minutes", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ iat: nowSeconds() - 700, exp: nowSeconds() - 100, iss: APP_ID }, JWT_MESSAGES.expired],
      [{ iat: nowSeconds() - 30, exp: nowSeconds() + 540, iss: APP_ID + 1 }, JWT_MESSAGES.undecodable],
      [{ iat: nowSeconds() - 30, exp: nowSeconds() + 540, iss: "not-an-app" }, JWT_MESSAGES.issuerNotInteger],
      [{ iat: nowSeconds() + 120, exp: nowSeconds() + 600, iss: APP_ID }, JWT_MESSAGES.iat],
      [{ iat: nowSeconds() - 30, exp: nowSeconds() + 900, iss: APP_ID }, JWT_MESSAGES.tooFar],
    ];
    for (const [claims, message] of cases) {
      const answer = await api("GET", "/orgs/acme/installation", `Bearer ${jwt(claims)}`);
      expect([answer.status, answer.json?.message]).toEqual([401, message]);
    }
  });

  it("judges time by its own, shiftable clock and says so in its Date header", async () => {
    stub.clockSkewSeconds = -3600;
    try {
      const answer = await api("GET", "/app", `Bearer ${goodJwt()}`);
      expect([answer.status, answer.json?.message]).toEqual([401, JWT_MESSAGES.iat]);
      const dateSkew = Date.parse(answer.headers.get("date")!) - Date.now();
      expect(Math.abs(dateSkew + 3_600_000)).toBeLessThan(5_000);
    } finally {
      stub.clockSkewSeconds = 0;
    }
  });
});

describe("installations and tokens", () => {
  it("finds organisations under /orgs, users under /users, repositories under /repos", async () => {
    const auth = `Bearer ${goodJwt()}`;
    expect((await api("GET", "/orgs/acme/installation", auth)).json).toMatchObject({ id: 42, account: { login: "acme", type: "Organization" } });
    expect((await api("GET", "/users/acme/installation", auth)).status).toBe(404);
    expect((await api("GET", "/users/alice/installation", auth)).json).toMatchObject({ id: 77 });
    expect((await api("GET", "/repos/acme/website/installation", auth)).json).toMatchObject({ id: 42 });
    expect((await api("GET", "/repos/acme/nope/installation", auth)).status).toBe(404);
  });

  it("issues tokens narrowed to names or ids, and refuses scope beyond the installation with 422", async () => {
    const auth = `Bearer ${goodJwt()}`;
    const tokens = (body: unknown, id = 42) => api("POST", `/app/installations/${id}/access_tokens`, auth, body);
    const answer = await tokens({ repositories: ["reports"], permissions: { contents: "read" } });
    expect(answer.status).toBe(201);
    expect(answer.json).toMatchObject({ permissions: { contents: "read" }, repository_selection: "selected", repositories: [{ name: "reports" }] });
    expect(answer.json!.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(answer.json!.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(stub.token(answer.json!.token as string)).toMatchObject({ repositories: ["reports"], permissions: { contents: "read" }, revokedAt: null });

    const reportsId = (answer.json!.repositories as Array<{ id: number }>)[0]!.id;
    const byId = await tokens({ repository_ids: [reportsId] });
    expect(stub.token(byId.json!.token as string)?.repositories).toEqual(["reports"]);

    const tooMany = await tokens({ repositories: ["reports", "secret"] });
    expect([tooMany.status, tooMany.json?.message]).toEqual([422, MESSAGES.repositoriesBeyond]);
    const tooStrong = await tokens({ permissions: { issues: "write" } });
    expect([tooStrong.status, tooStrong.json?.message]).toEqual([422, "The permissions requested are not granted to this installation."]);
    expect((await tokens({}, 9)).status).toBe(404);
  });

  it("revokes a token by DELETE /installation/token, after which it is refused", async () => {
    const token = await mintToken({});
    expect((await api("GET", "/installation/repositories", `token ${token}`)).json).toMatchObject({ total_count: 2 });
    expect((await api("DELETE", "/installation/token", `Bearer ${token}`)).status).toBe(204);
    expect(stub.token(token)?.revokedAt).not.toBeNull();
    expect((await api("DELETE", "/installation/token", `token ${token}`)).status).toBe(401);
    expect((await api("GET", "/installation/repositories", `token ${token}`)).status).toBe(401);
  });

  it("fails the next N calls of a route as told, then answers normally", async () => {
    stub.fail(ROUTES.app, { status: 429, headers: { "retry-after": "1" } }, 2);
    const first = await api("GET", "/app", `Bearer ${goodJwt()}`);
    expect([first.status, first.headers.get("retry-after")]).toEqual([429, "1"]);
    expect((await api("GET", "/app", `Bearer ${goodJwt()}`)).status).toBe(429);
    expect((await api("GET", "/app", `Bearer ${goodJwt()}`)).status).toBe(200);
    expect(stub.requestsTo(ROUTES.app).slice(-3).map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it("issues short-lived or long dotted tokens when told to", async () => {
    const other = await startGithubStub({
      appId: APP_ID,
      publicKey: appKeys.publicKey,
      tokenFormat: "stateless",
      tokenLifetimeSeconds: 1,
      installations: [{ id: 5, account: { login: "x", type: "User" }, repositories: ["r"], permissions: { metadata: "read" } }],
    });
    try {
      const headers = { authorization: `Bearer ${goodJwt()}` };
      const response = await fetch(`${other.url}/app/installations/5/access_tokens`, { method: "POST", headers });
      const { token, expires_at } = (await response.json()) as { token: string; expires_at: string };
      expect(token.length).toBeGreaterThan(500);
      expect(token).toContain(".");
      expect(Date.parse(expires_at) - Date.now()).toBeLessThanOrEqual(1_000);
      other.clockSkewSeconds = 2; // a second and more later, on GitHub's clock
      const late = await fetch(`${other.url}/installation/repositories`, { headers: { authorization: `token ${token}` } });
      expect(late.status).toBe(401);
    } finally {
      await other.close();
    }
  });
});

describe("git smart HTTP", () => {
  it("clones with a covering token, refuses other repositories, pushes only with contents: write", async () => {
    const home = join(root, "home");
    const work = mkdtempSync(join(root, "work-"));
    const readToken = await mintToken({ repositories: ["reports"], permissions: { contents: "read" } });
    const writeToken = await mintToken({ repositories: ["reports"], permissions: { contents: "write" } });

    const anonymous = await runGit(["clone", "--quiet", `${stub.url}/acme/reports.git`, "anon"], { cwd: work, home });
    expect(anonymous.status).not.toBe(0);
    expect(stub.requestsTo(ROUTES.gitInfoRefs).at(-1)?.status).toBe(401);

    const clone = await runGit(["clone", "--quiet", `${stub.url}/acme/reports.git`, "reports"], { cwd: work, home, token: readToken });
    expect(clone.stderr).toBe("");
    expect(clone.status).toBe(0);

    const outside = await runGit(["clone", "--quiet", `${stub.url}/acme/website.git`, "website"], { cwd: work, home, token: readToken });
    expect(outside.status).not.toBe(0);

    const repo = join(work, "reports");
    writeFileSync(join(repo, "change.txt"), "agent was here\n");
    expect((await runGit(["add", "change.txt"], { cwd: repo, home })).status).toBe(0);
    expect((await runGit(["commit", "--quiet", "-m", "change"], { cwd: repo, home })).status).toBe(0);
    const readPush = await runGit(["push", "--quiet", "origin", "main"], { cwd: repo, home, token: readToken });
    expect(readPush.status).not.toBe(0);
    expect(stub.requests.at(-1)?.status).toBe(403);

    const writePush = await runGit(["push", "--quiet", "origin", "main"], { cwd: repo, home, token: writeToken });
    expect(writePush.stderr).toBe("");
    expect(writePush.status).toBe(0);
    const check = await runGit(["ls-remote", `${stub.url}/acme/reports.git`, "refs/heads/main"], { cwd: work, home, token: readToken });
    const local = await runGit(["rev-parse", "HEAD"], { cwd: repo, home });
    expect(check.stdout.split("\t")[0]).toBe(local.stdout.trim());
  });
});
