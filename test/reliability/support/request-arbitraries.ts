/**
 * fast-check generators of malformed requests to the daemon's socket API, each wrong by
 * construction (so every one must be answered with a coded 4xx): unknown routes and methods, bad
 * session bodies (types, keys, TTLs, sandboxes, scopes, deep or huge JSON, unicode), hostile
 * headers, and raw bytes that are not HTTP at all. Each yields the bytes to write to the socket.
 */
import fc from "fast-check";
import { buildRequest } from "../../helpers/raw-http.js";

export interface BadRequest {
  kind: string;
  bytes: Buffer;
}

/** The only task the fuzzed daemon knows; it grants a static secret only (no github). */
export const TASK = "report";
const unicode = (maxLength = 40) => fc.string({ unit: "binary", maxLength });
const junk = (maxLength = 40) => fc.oneof(fc.string({ maxLength }), unicode(maxLength));
/** Percent-encodes all but unreserved characters and `/`, byte by byte (lone surrogates too). */
const encodePath = (s: string) =>
  [...s].map((c) => (/^[A-Za-z0-9._~/-]$/.test(c) ? c : [...Buffer.from(c, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0").toUpperCase()}`).join(""))).join("");

// ─── A. routes ───────────────────────────────────────────────────────────────
const method = fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "TRACE", "CONNECT", "FOO", "get", "M-SEARCH");
const segment = fc.oneof(junk(30).map(encodePath), fc.constantFrom("..", ".", "%2e%2e", "%zz", "%", "%00", "%ff%fe", "//", "v1", "sessions", "health"));
const path = fc.oneof(
  fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => `/${parts.join("/")}`),
  fc.tuple(segment, fc.constantFrom("", "/credentials", "/credentials/x", "/x")).map(([id, rest]) => `/v1/sessions/${id}${rest}`),
  fc.tuple(fc.constantFrom("/v1/health", "/v1/sessions"), junk(20)).map(([p, q]) => `${p}/${encodePath(q)}x`),
  fc.integer({ min: 65, max: 20_000 }).map((n) => `/v1/sessions/${"a".repeat(n)}`),
  fc.tuple(fc.constantFrom("/v1/nothing", "/v2/sessions", "/"), junk(20)).map(([p, q]) => `${p}?q=${encodePath(q)}`),
);

/** The daemon's only routes that answer 2xx without a body or session: must never be generated. */
function isServedGet(m: string, p: string): boolean {
  let decoded = p.split("?")[0] ?? "";
  try {
    decoded = decodeURIComponent(decoded);
  } catch {
    return false;
  }
  return m === "GET" && (decoded === "/v1/health" || decoded === "/v1/sessions" || decoded === "/v1/approvals");
}

export const badRoutes: fc.Arbitrary<BadRequest> = fc
  .tuple(method, path)
  .filter(([m, p]) => !isServedGet(m, p) && !(m === "POST" && p === "/v1/sessions"))
  .map(([m, p]) => ({ kind: "route", bytes: buildRequest(m, p) }));

// ─── A2. approvals (nothing waits in the fuzzed daemon: every id is unknown) ──
const approvalId = fc.oneof(fc.uuid(), segment, fc.integer({ min: 65, max: 5_000 }).map((n) => "i".repeat(n)));
const approvalBody = fc.oneof(
  fc.constant(""),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ digest: fc.oneof(junk(80), fc.stringMatching(/^[0-9a-f]{64}$/), fc.jsonValue()) }).map((o) => JSON.stringify(o)),
  fc.record({ reason: fc.oneof(junk(200), fc.integer({ min: 1_001, max: 70_000 }).map((n) => "r".repeat(n)), fc.jsonValue()) }).map((o) => JSON.stringify(o)),
  junk(100),
);
export const badApprovals: fc.Arbitrary<BadRequest> = fc
  .tuple(fc.constantFrom("approve", "deny", "x", ""), approvalId, fc.constantFrom("POST", "GET", "DELETE", "PUT"), approvalBody)
  // `GET /v1/approvals/` would be the served list itself.
  .filter(([verb, , m]) => !(m === "GET" && verb === ""))
  .map(([verb, id, m, body]) => ({
    kind: "approval",
    bytes: buildRequest(m, `/v1/approvals/${encodePath(id)}${verb ? `/${verb}` : ""}`, body === "" ? [] : [["Content-Type", "application/json"]], body === "" ? undefined : body),
  }));

// ─── B. session bodies ───────────────────────────────────────────────────────
const notTask = fc.oneof(
  fc.jsonValue().filter((v) => typeof v !== "string"),
  junk(80).filter((s) => !/^[a-z0-9][a-z0-9-]{0,62}$/.test(s)),
  fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/).filter((s) => s !== TASK),
  fc.integer({ min: 64, max: 60_000 }).map((n) => "a".repeat(n)),
);
const badTtl = fc.oneof(
  fc.integer({ max: 0 }),
  fc.integer({ min: 3_601, max: Number.MAX_SAFE_INTEGER }),
  fc.double({ noInteger: true }),
  fc.constantFrom(1e300, -1e300, 2 ** 53, -0.5, "", "0", "-5m", "forever", "1e309", "NaN", "Infinity", "15 m", "1h-1s", "99999999999999h"),
  junk(60).map((s) => `x${s}`),
  fc.oneof(fc.boolean(), fc.constant(null), fc.array(fc.integer()), fc.object()),
);
const absent = (s: string) => `/nonexistent-broker-fuzz/${s.replace(/\0/g, "")}`;
const badSandbox = fc.oneof(
  fc.jsonValue().filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
  fc.constant({}),
  fc.record({ path: fc.constantFrom("/box", "/work") }),
  fc.record({ dir: junk(60).map(absent) }),
  fc.record({ dir: fc.constantFrom("", ".", "relative/dir", "./", "sub", "~") }),
  fc.record({ dir: fc.integer({ min: 4097, max: 20_000 }).map((n) => `/${"d".repeat(n)}`) }),
  fc.record({ tmp: fc.oneof(fc.constant("yes"), fc.integer(), fc.constant(null)) }),
  fc.record({ tmp: fc.constant(true), path: junk(30).filter((p) => !p.startsWith("/")) }),
  fc.record({ tmp: fc.constant(true), dir: fc.constant("/tmp") }),
  fc.record({ tmp: fc.constant(true), extra: fc.jsonValue() }),
);
const badScope = fc.oneof(
  fc.jsonValue().filter((v) => typeof v !== "object" || v === null || Array.isArray(v)),
  fc.record({ github: fc.record({ repositories: fc.array(junk(20).filter((s) => s.length > 0), { maxLength: 5 }) }) }),
  fc.record({ github: fc.record({ permissions: fc.dictionary(junk(10), fc.constantFrom("read", "write", "admin", "root", "")) }) }),
  fc.record({ aws: fc.jsonValue() }),
  fc.record({ github: fc.array(fc.string()) }),
);
const knownKeys = new Set(["task", "ttl", "sandbox", "scope", "bind"]);
const extraKey = fc.tuple(junk(20).filter((k) => !knownKeys.has(k)), fc.jsonValue());

/**
 * `{task: "report", …}` plus at least one defect; mostly exactly one, so that each defect reaches
 * the code that must catch it instead of being stopped early by another (the schema, say).
 */
const DEFECTS = { ttl: badTtl, sandbox: badSandbox, scope: badScope, bind: fc.jsonValue().filter((v) => v !== "connection") };
const single = fc.oneof(
  ...Object.entries(DEFECTS).map(([key, arb]) => (arb as fc.Arbitrary<unknown>).map((value) => ({ [key]: value }))),
  extraKey.map(([key, value]) => ({ [key]: value })),
);
const several = fc
  .record({ ...DEFECTS, extra: extraKey }, { requiredKeys: [] })
  .filter((d) => Object.keys(d).length > 0)
  .map(({ extra, ...rest }) => ({ ...rest, ...(extra ? { [extra[0]]: extra[1] } : {}) }));
const defective = fc.oneof({ weight: 3, arbitrary: single }, { weight: 1, arbitrary: several }).map((d) => ({ task: TASK, ...d }));

const deep = fc.tuple(fc.integer({ min: 50, max: 30_000 }), fc.boolean()).map(([n, arrays]) =>
  arrays ? `${"[".repeat(n)}${"]".repeat(n)}` : `${'{"a":'.repeat(Math.min(n, 12_000))}1${"}".repeat(Math.min(n, 12_000))}`,
);

const bodyText = fc.oneof(
  { weight: 3, arbitrary: defective.map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.record({ task: notTask }).map((o) => JSON.stringify(o)) },
  { weight: 1, arbitrary: fc.dictionary(junk(10).filter((k) => k !== "task"), fc.jsonValue(), { maxKeys: 4 }).map((o) => JSON.stringify(o)) },
  { weight: 1, arbitrary: fc.jsonValue().filter((v) => typeof v !== "object" || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: junk(200).filter((s) => !isJson(s)) },
  { weight: 1, arbitrary: fc.tuple(defective.map((o) => JSON.stringify(o)), fc.nat()).map(([s, n]) => s.slice(0, n % Math.max(1, s.length))) },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.integer({ min: 65 * 1024, max: 2 * 1024 * 1024 }).map((n) => JSON.stringify({ task: TASK, pad: "x".repeat(n) })) },
);

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

export const badBodies: fc.Arbitrary<BadRequest> = bodyText.map((body) => ({
  kind: "body",
  bytes: buildRequest("POST", "/v1/sessions", [["Content-Type", "application/json"]], body),
}));

// ─── C. headers ──────────────────────────────────────────────────────────────
const tokenChars = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_!#$%&'*+.^`|~"), minLength: 1, maxLength: 20 });
const headerValue = fc.oneof(junk(60), fc.integer({ min: 17_000, max: 40_000 }).map((n) => "v".repeat(n)), fc.constantFrom("\u0000", "a\u007fb", "\u00ff\u00fe", "x\ry"));
const contentType = fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "", "application/json\u0000", "*/*", "application/jsonx");
const headerSet = fc.oneof(
  fc.array(fc.tuple(tokenChars, headerValue), { minLength: 1, maxLength: 5 }).map((h): [string, string][] => [["Content-Type", "application/json"], ...h]),
  contentType.map((t): [string, string][] => [["Content-Type", t]]),
  fc.constantFrom<[string, string][]>(
    [["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"], ["Content-Length", "5"]],
    [["Content-Type", "application/json"], ["Content-Length", "abc"]],
    [["Content-Type", "application/json"], ["Content-Length", "-1"]],
    [["Content-Type", "application/json"], ["Content-Length", "2"], ["Content-Length", "3"]],
    [["Content-Type", "application/json"], ["Content-Encoding", "gzip"]],
    [["Content-Type", "application/json"], ["Expect", "the-impossible"]],
    [["Content-Type", "application/json"], ["Transfer-Encoding", "gzip, identity"]],
    [["Content-Type", "application/json"], ["Connection", "Upgrade"], ["Upgrade", "websocket"]],
    [["Content-Type", "application/json"], ["Upgrade", "h2c"]],
  ),
  junk(30).map((name): [string, string][] => [["Content-Type", "application/json"], [`${name}\u0001`, "x"]]),
);

export const badHeaders: fc.Arbitrary<BadRequest> = fc
  .tuple(headerSet, fc.oneof(defective.map((o) => JSON.stringify(o)), fc.record({ task: notTask }).map((o) => JSON.stringify(o))))
  .map(([headers, body]) => ({ kind: "headers", bytes: buildRequest("POST", "/v1/sessions", headers, body) }));

// ─── D. not HTTP ─────────────────────────────────────────────────────────────
const garbageLine = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([0x01]), Buffer.from(b)])),
  fc.tuple(fc.constantFrom("GET", "POST", "G\u00c9T", "(", "GET\t"), junk(30), fc.constantFrom("HTTP/1.1", "HTTP/9.9", "HTTP/1.x", "HTTP/1.1 extra", "", "http/1.1", "HTTP/0.9"))
    .filter(([m, , v]) => !(["GET", "POST"].includes(m) && ["HTTP/1.1", "http/1.1"].includes(v)))
    .map(([m, p, v]) => Buffer.from(`${m} /${encodePath(p)} ${v}`, "utf8")),
  fc.integer({ min: 17_000, max: 70_000 }).map((n) => Buffer.from(`GET /${"x".repeat(n)} HTTP/1.1`)),
);

export const notHttp: fc.Arbitrary<BadRequest> = garbageLine.map((line) => ({
  kind: "raw",
  bytes: Buffer.concat([line, Buffer.from("\r\nHost: localhost\r\nConnection: close\r\n\r\n")]),
}));
