import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { rawRequest } from "../helpers/raw-request.js";

const POLICY = "task: report\nttl: 5m\nmax_ttl: 1h\nenv:\n  DEMO: { secret: demo }\n";

describe("bad input on the socket gets a coded 4xx and the daemon keeps serving", () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ policies: { report: POLICY } });
    await d.cli(["secret", "set", "demo", "--type", "generic"], { input: "demo-value-123" });
  });
  afterAll(async () => d.cleanup());

  const cases: Array<[string, string, string, string | Buffer | undefined, number, string, Record<string, string>?]> = [
    ["malformed JSON", "POST", "/v1/sessions", "{task:", 400, "ERR_BAD_REQUEST"],
    ["a body that is not an object", "POST", "/v1/sessions", "[1,2]", 400, "ERR_BAD_REQUEST"],
    ["a wrong type", "POST", "/v1/sessions", JSON.stringify({ task: 42 }), 400, "ERR_BAD_REQUEST"],
    ["an unknown key", "POST", "/v1/sessions", JSON.stringify({ task: "report", admin: true }), 400, "ERR_BAD_REQUEST"],
    ["an unknown task", "POST", "/v1/sessions", JSON.stringify({ task: "nope" }), 404, "ERR_TASK_UNKNOWN"],
    ["a task name with a path in it", "POST", "/v1/sessions", JSON.stringify({ task: "../etc/passwd" }), 400, "ERR_BAD_REQUEST"],
    ["a negative TTL", "POST", "/v1/sessions", JSON.stringify({ task: "report", ttl: -5 }), 400, "ERR_BAD_REQUEST"],
    ["an enormous TTL", "POST", "/v1/sessions", JSON.stringify({ task: "report", ttl: 1e300 }), 400, "ERR_BAD_REQUEST"],
    ["a TTL over max_ttl", "POST", "/v1/sessions", JSON.stringify({ task: "report", ttl: "2h" }), 403, "ERR_POLICY_DENIED"],
    ["a TTL that is not a duration", "POST", "/v1/sessions", JSON.stringify({ task: "report", ttl: "soon" }), 400, "ERR_BAD_REQUEST"],
    ["a body over 64 KiB", "POST", "/v1/sessions", JSON.stringify({ task: "report", pad: "x".repeat(70_000) }), 413, "ERR_BODY_TOO_LARGE"],
    ["a wrong content type", "POST", "/v1/sessions", "task=report", 415, "ERR_UNSUPPORTED_MEDIA_TYPE", { "content-type": "application/x-www-form-urlencoded" }],
    ["an unknown route", "GET", "/v1/nothing", undefined, 404, "ERR_ROUTE_NOT_FOUND"],
    ["an unknown method", "PATCH", "/v1/sessions", undefined, 404, "ERR_ROUTE_NOT_FOUND"],
    ["an unknown session", "GET", "/v1/sessions/00000000-0000-0000-0000-000000000000", undefined, 404, "ERR_SESSION_NOT_FOUND"],
    ["an unknown session's credentials", "GET", "/v1/sessions/nope/credentials", undefined, 404, "ERR_SESSION_NOT_FOUND"],
    ["deleting an unknown session", "DELETE", "/v1/sessions/nope", undefined, 404, "ERR_SESSION_NOT_FOUND"],
    ["a bulk delete naming no sessions (a bare DELETE ends nothing)", "DELETE", "/v1/sessions", undefined, 400, "ERR_BAD_REQUEST"],
    ["a bulk delete naming both a task and all", "DELETE", "/v1/sessions?task=report&all=1", undefined, 400, "ERR_BAD_REQUEST"],
    ["a bulk delete of an unknown task", "DELETE", "/v1/sessions?task=nope", undefined, 404, "ERR_TASK_UNKNOWN"],
    ["a scope for a provider the task lacks", "POST", "/v1/sessions", JSON.stringify({ task: "report", scope: { github: { repositories: ["x"] } } }), 403, "ERR_POLICY_DENIED"],
    ["deeply nested JSON", "POST", "/v1/sessions", `${"[".repeat(20_000)}${"]".repeat(20_000)}`, 400, "ERR_BAD_REQUEST"],
    ["unicode in the task", "POST", "/v1/sessions", JSON.stringify({ task: "répört\u0000" }), 400, "ERR_BAD_REQUEST"],
  ];

  it.each(cases)("%s", async (_name, method, path, body, status, code, headers) => {
    const answer = await rawRequest(d.socket, method, path, body, headers);
    expect(answer.status, answer.text).toBe(status);
    expect(answer.body.error?.code).toBe(code);
    expect(typeof answer.body.error?.message).toBe("string");
    expect((await d.client.health()).ok).toBe(true);
  });

  it("still opens sessions after all that, and logged no secret", async () => {
    const session = await d.client.openSession({ task: "report" });
    expect(session.credentials?.env.DEMO).toBe("demo-value-123");
    await d.client.closeSession(session.id);
    expect(d.stderr()).not.toContain("demo-value-123");
  });
});
