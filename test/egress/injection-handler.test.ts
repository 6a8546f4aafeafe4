/** The composed injection: substitution per rule, the GitHub repository limit, and every tripwire form. */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { InterceptedRequest, InterceptOutcome } from "../../src/egress/inject-types.js";
import { LeakError } from "../../src/egress/inject-types.js";
import { sessionInjection } from "../../src/egress/injection-handler.js";
import { makePlaceholders } from "../../src/egress/placeholders.js";
import { parsePolicy } from "../../src/policy/validate-policy.js";

const POLICY = [
  "task: demo",
  "github: { app: a, owner: acme, repositories: [web, api], permissions: { contents: write }, inject: true }",
  "env:",
  '  OPENAI_API_KEY: { secret: openai, inject: { host: api.openai.com, header: Authorization, format: "Bearer {value}" } }',
  "  MAPS_KEY: { secret: maps, inject: { host: [maps.example, '127.0.0.2:8443'], query: key } }",
].join("\n");

const b64 = (text: string) => Buffer.from(text).toString("base64");

function setup(apiUrl?: string) {
  const text = apiUrl ? POLICY.replace("owner: acme,", `owner: acme, api_url: '${apiUrl}',`) : POLICY;
  const { policy, problems } = parsePolicy("/p/demo.yaml", text);
  expect(problems).toEqual([]);
  // Made at run time, shaped like the real things: a GitHub token, an OpenAI key, a Maps key.
  const real = { github: `ghs_${randomBytes(18).toString("hex")}`, openai: `sk-real-${randomBytes(12).toString("hex")}`, maps: `AIza${randomBytes(11).toString("hex").slice(0, 21)}` };
  const ph = makePlaceholders({ github: true, env: { OPENAI_API_KEY: {}, MAPS_KEY: {} }, reals: Object.values(real) });
  const leaks: Array<{ credential: string; where: string; host: string }> = [];
  const injection = sessionInjection({
    plan: policy!,
    placeholders: ph,
    reals: { github: () => real.github, env: { OPENAI_API_KEY: () => real.openai, MAPS_KEY: () => real.maps } },
    onLeak: (leak) => leaks.push(leak),
  });
  const secrets = () => [ph.github!, ...Object.values(ph.env), ...Object.values(real)];
  return { injection, ph, real, leaks, secrets };
}

function request(host: string, path: string, headers: Record<string, string | string[]> = {}, body: Array<string | Buffer> = [], port = 443): InterceptedRequest {
  return { method: body.length ? "POST" : "GET", host, port, path, headers, body: Readable.from(body.map((c) => Buffer.from(c))), protocol: "http/1.1" };
}

async function drain(outcome: InterceptOutcome): Promise<{ text: string; error?: unknown }> {
  if (!outcome.ok) throw new Error(`refused: ${outcome.message}`);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of outcome.body) chunks.push(Buffer.from(chunk as Buffer));
    return { text: Buffer.concat(chunks).toString() };
  } catch (error) {
    return { text: Buffer.concat(chunks).toString(), error };
  }
}

function expectNoSecret(outcome: InterceptOutcome, secrets: string[]): void {
  const text = outcome.ok ? "" : outcome.message;
  for (const secret of secrets) expect(text.includes(secret)).toBe(false);
}

describe("generic substitution", () => {
  it("puts the real value in the rule's header in the policy's format, read fresh each request", async () => {
    const { injection, ph, real } = setup();
    const first = await injection.handle(request("api.openai.com", "/v1/chat", { authorization: `Bearer ${ph.env.OPENAI_API_KEY}` }));
    expect(first).toMatchObject({ ok: true, headers: { authorization: `Bearer ${real.openai}` }, rule: "env:OPENAI_API_KEY" });
    real.openai = "sk-real-openai-rotated-999999999";
    const second = await injection.handle(request("api.openai.com", "/v1/chat", { authorization: `Bearer ${ph.env.OPENAI_API_KEY}` }));
    expect(second).toMatchObject({ ok: true, headers: { authorization: `Bearer ${real.openai}` } });
    expect(first.ok && second.ok && first.fingerprint !== second.fingerprint).toBe(true);
  });

  it("swaps the placeholder inside Basic auth and re-encodes it", async () => {
    const { injection, ph, real } = setup();
    const outcome = await injection.handle(request("api.openai.com", "/", { authorization: `Basic ${b64(`me:${ph.env.OPENAI_API_KEY}`)}` }));
    expect(outcome).toMatchObject({ ok: true, headers: { authorization: `Basic ${b64(`me:${real.openai}`)}` } });
  });

  it("puts the real value in the rule's query parameter, leaving the others as sent", async () => {
    const { injection, ph, real } = setup();
    const outcome = await injection.handle(request("127.0.0.2", `/geo?q=a%20b&key=${ph.env.MAPS_KEY}&x=1`, {}, [], 8443));
    expect(outcome).toMatchObject({ ok: true, path: `/geo?q=a%20b&key=${encodeURIComponent(real.maps)}&x=1`, rule: "env:MAPS_KEY" });
    // Port matters: the same host on 443 has no rule, so the placeholder there is a leak.
    expect(await injection.handle(request("127.0.0.2", `/geo?key=${ph.env.MAPS_KEY}`))).toMatchObject({ ok: false, leak: { credential: "env:MAPS_KEY", where: "host" } });
  });

  it("refuses the placeholder in its own header but not in the format, without calling it a leak", async () => {
    const { injection, ph, secrets } = setup();
    const outcome = await injection.handle(request("api.openai.com", "/", { authorization: `Token ${ph.env.OPENAI_API_KEY}` }));
    expect(outcome).toMatchObject({ ok: false, status: 403 });
    expect(!outcome.ok && outcome.leak).toBeUndefined();
    expectNoSecret(outcome, secrets());
  });

  it("passes a request without the placeholder unchanged", async () => {
    const { injection } = setup();
    const outcome = await injection.handle(request("api.openai.com", "/v1/models", { accept: "*/*" }, ["hello"]));
    expect(outcome).toMatchObject({ ok: true, path: "/v1/models", headers: { accept: "*/*" }, rule: null });
    expect((await drain(outcome)).text).toBe("hello");
  });
});

describe("GitHub substitution", () => {
  it("puts the token in place of token/Bearer on the API host", async () => {
    const { injection, ph, real } = setup();
    for (const scheme of ["token", "Bearer"]) {
      const outcome = await injection.handle(request("api.github.com", "/repos/acme/web", { authorization: `${scheme} ${ph.github}` }));
      expect(outcome).toMatchObject({ ok: true, headers: { authorization: `${scheme} ${real.github}` }, rule: "github" });
    }
  });

  it("puts the token in git's Basic credential on smart-HTTP paths of the task's repositories, whatever user git sends", async () => {
    const { injection, ph, real } = setup();
    const paths = ["/acme/web.git/info/refs?service=git-upload-pack", "/acme/web/git-upload-pack", "/acme/API.git/git-receive-pack", "/acme/web.git/info/lfs/objects/batch"];
    for (const user of ["x-access-token", "git"]) {
      for (const path of paths) {
        const outcome = await injection.handle(request("github.com", path, { authorization: `Basic ${b64(`${user}:${ph.github}`)}` }));
        expect(outcome).toMatchObject({ ok: true, headers: { authorization: `Basic ${b64(`x-access-token:${real.github}`)}` } });
      }
    }
  });

  it("refuses another repository, another owner, and other web paths, naming the repository and the policy, not as a leak", async () => {
    const { injection, ph, leaks, secrets } = setup();
    const auth = { authorization: `Basic ${b64(`x-access-token:${ph.github}`)}` };
    const cases: Array<[string, RegExp]> = [
      ["/acme/secrets.git/git-receive-pack", /acme\/secrets is not one of the repositories task demo may use.*demo\.yaml/],
      ["/evil/web.git/info/refs?service=git-receive-pack", /evil\/web is not a repository of acme/],
      ["/acme/%2e%2e/git-upload-pack", /not a repository path/],
      ["/acme/web/archive/main.zip", /only with git over HTTPS/],
    ];
    for (const [path, message] of cases) {
      const outcome = await injection.handle(request("github.com", path, auth));
      expect(outcome).toMatchObject({ ok: false, status: 403 });
      expect(!outcome.ok && outcome.message).toMatch(message);
      expect(!outcome.ok && outcome.leak).toBeUndefined();
      expectNoSecret(outcome, secrets());
    }
    expect(leaks).toEqual([]);
  });

  it("uses one host for API and git with a custom api_url", async () => {
    const { injection, ph, real } = setup("https://127.0.0.2:9443");
    expect(injection.intercepts("127.0.0.2", 9443)).toBe(true);
    expect(injection.intercepts("api.github.com", 443)).toBe(false);
    expect(await injection.handle(request("127.0.0.2", "/repos/acme/web", { authorization: `token ${ph.github}` }, [], 9443))).toMatchObject({ ok: true, headers: { authorization: `token ${real.github}` } });
    const git = { authorization: `Basic ${b64(`x:${ph.github}`)}` };
    expect(await injection.handle(request("127.0.0.2", "/acme/web.git/info/refs", git, [], 9443))).toMatchObject({ ok: true });
    expect(await injection.handle(request("127.0.0.2", "/acme/other.git/info/refs", git, [], 9443))).toMatchObject({ ok: false, status: 403 });
  });
});

describe("intercepts", () => {
  it("is true for the rules' hosts on their ports (443 without one) only", () => {
    const { injection } = setup();
    expect(["api.github.com:443", "github.com:443", "api.openai.com:443", "maps.example:443", "127.0.0.2:8443"].every((t) => injection.intercepts(t.split(":")[0]!, Number(t.split(":")[1])))).toBe(true);
    expect(injection.intercepts("api.openai.com", 80)).toBe(false);
    expect(injection.intercepts("API.OPENAI.COM.", 443)).toBe(true);
    expect(injection.intercepts("evil.example", 443)).toBe(false);
  });
});

describe("the tripwire", () => {
  type Case = [string, (s: ReturnType<typeof setup>) => InterceptedRequest, { credential: string; where: string }];
  const cases: Case[] = [
    ["a GitHub placeholder sent to the OpenAI host", ({ ph }) => request("api.openai.com", "/", { authorization: `Bearer ${ph.github}` }), { credential: "github", where: "host" }],
    ["a placeholder in the path", ({ ph }) => request("api.openai.com", `/v1/${ph.env.OPENAI_API_KEY}`), { credential: "env:OPENAI_API_KEY", where: "path" }],
    ["a percent-encoded placeholder in the path", ({ ph }) => request("api.github.com", `/x/${encodeURIComponent(ph.github!).replace(/s/g, "%73")}`), { credential: "github", where: "path" }],
    ["a placeholder in another query parameter", ({ ph }) => request("maps.example", `/geo?q=${ph.env.MAPS_KEY}`), { credential: "env:MAPS_KEY", where: "query" }],
    ["a placeholder in another header", ({ ph }) => request("api.openai.com", "/", { "x-debug": `k=${ph.env.OPENAI_API_KEY}` }), { credential: "env:OPENAI_API_KEY", where: "header" }],
    ["a placeholder Basic-encoded in another header", ({ ph }) => request("api.github.com", "/", { "x-auth": `Basic ${b64(`u:${ph.github}`)}` }), { credential: "github", where: "header" }],
    ["a placeholder base64-encoded in a header", ({ ph }) => request("api.github.com", "/", { "x-blob": b64(`{"t":"${ph.github}"}`) }), { credential: "github", where: "header" }],
    ["the real value in a header (even the rule's own)", ({ real }) => request("api.openai.com", "/", { authorization: `Bearer ${real.openai}` }), { credential: "env:OPENAI_API_KEY", where: "header" }],
    ["a placeholder on an intercepted host without a rule", ({ ph }) => request("unruled.example", `/?a=${ph.env.MAPS_KEY}`), { credential: "env:MAPS_KEY", where: "host" }],
  ];
  it.each(cases)("refuses %s as a leak, naming the credential but no value", async (_, make, leak) => {
    const s = setup();
    const outcome = await s.injection.handle(make(s));
    expect(outcome).toMatchObject({ ok: false, status: 403, leak });
    expectNoSecret(outcome, s.secrets());
  });

  it("ends the body with a LeakError for a placeholder split across chunks, and sends none of it upstream", async () => {
    const s = setup();
    const ph = s.ph.env.OPENAI_API_KEY!;
    const chunks = ['{"prompt":"hi ', ph.slice(0, 20), ph.slice(20, 21), `${ph.slice(21)} there"}`];
    const { text, error } = await drain(await s.injection.handle(request("api.openai.com", "/v1/chat", {}, chunks)));
    expect(error).toBeInstanceOf(LeakError);
    expect(error).toMatchObject({ credential: "env:OPENAI_API_KEY", where: "body" });
    expect(text.includes(ph.slice(0, 12))).toBe(false);
    for (const secret of s.secrets()) expect((error as Error).message.includes(secret)).toBe(false);
  });

  it.each([
    ["a base64-encoded placeholder", (s: ReturnType<typeof setup>) => b64(`xx${s.ph.github}yy`), "github"],
    ["a URL-encoded real value", (s: ReturnType<typeof setup>) => `a=${encodeURIComponent(s.real.maps)}`, "env:MAPS_KEY"],
  ])("ends the body with a LeakError for %s", async (_, body, credential) => {
    const s = setup();
    const data = body(s);
    const chunks = [data.slice(0, 7), data.slice(7)];
    const { error } = await drain(await s.injection.handle(request("api.openai.com", "/v1/chat", {}, chunks)));
    expect(error).toMatchObject({ credential, where: "body" });
  });

  it("passes a clean body through byte for byte, whatever its chunking", async () => {
    const s = setup();
    const body = Buffer.concat([Buffer.from(`ghs_ broker-ph- b${"x".repeat(5000)}`), Buffer.from([0, 255, 98])]);
    const chunks = [body.subarray(0, 3), body.subarray(3, 17), body.subarray(17, 4000), body.subarray(4000)];
    const outcome = await s.injection.handle(request("api.openai.com", "/", {}, chunks));
    if (!outcome.ok) throw new Error(outcome.message);
    const received: Buffer[] = [];
    for await (const chunk of outcome.body) received.push(chunk as Buffer);
    expect(Buffer.concat(received).equals(body)).toBe(true);
  });
});
