/**
 * `env.NAME.inject`: where the egress proxy may put a generic secret in place of the box's
 * placeholder (one header or one query parameter, on named hosts only). Checked strictly: a rule
 * that could move the secret into a header the proxy itself relies on (Host, framing) or to any
 * host at all is refused here rather than at the first request. Also `on_leak`, the rules' companion.
 */
import { isSeq } from "yaml";
import { fields, text } from "./field-checks.js";
import { parseEgressEntry, starHint } from "./egress-rules.js";
import type { EnvInjection, LeakChoice } from "./types.js";
import type { At, Check, Rules, Walk } from "./yaml-reader.js";
import { deref, lineOf, report } from "./yaml-reader.js";

export const MAX_INJECT_HOSTS = 100;
/** RFC 9110 `token`: what a header field name may be. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Unreserved URL characters: a parameter name that needs no percent-encoding. */
export const QUERY_NAME = /^[A-Za-z0-9._~-]{1,128}$/;
/** Visible ASCII and spaces: what a header value built from the format may hold around the value. */
const FORMAT_TEXT = /^[\x20-\x7e]*$/;

type InjectHost = EnvInjection["hosts"][number];

/** Headers the proxy frames or routes the request by: a secret there would change where or how it goes. */
export function headerNameProblem(name: string): string | undefined {
  if (!HEADER_NAME.test(name)) return "must be a header name (letters, digits and !#$%&'*+.^_`|~-, up to 128)";
  const lower = name.toLowerCase();
  if (["host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "keep-alive"].includes(lower) || lower.startsWith("proxy-")) {
    return `may not be ${name}: the proxy routes and frames requests by it`;
  }
  return undefined;
}

function formatProblem(format: string): string | undefined {
  const count = format.split("{value}").length - 1;
  if (count !== 1) return `must contain {value} exactly once (where the secret goes), found it ${count} times`;
  if (!FORMAT_TEXT.test(format)) return "may hold only visible ASCII characters and spaces";
  return undefined;
}

const injectHost: Check<InjectHost> = starHint((walk, node, at) => {
  const entry = text({ max: 270, shape: "a host, *.domain, or an IP address, with an optional :port" })(walk, node, at);
  if (entry === undefined) return undefined;
  const parsed = parseEgressEntry(entry);
  if (!("rule" in parsed)) report(walk, at, parsed.problem);
  else if (parsed.rule.kind === "any") report(walk, at, 'may not be "*": name the hosts the secret is for');
  else return parsed.rule;
  return undefined;
});

/** `host: api.openai.com` or `host: [a.example, "*.b.example"]`. */
const injectHosts: Check<InjectHost[]> = (walk, node, at) => {
  const value = deref(walk, node, at);
  if (!isSeq(value)) {
    const one = injectHost(walk, node, at);
    return one ? [one] : undefined;
  }
  if (value.items.length < 1 || value.items.length > MAX_INJECT_HOSTS) {
    report(walk, at, `must list 1 to ${MAX_INJECT_HOSTS} hosts, found ${value.items.length}`);
    return undefined;
  }
  const hosts: InjectHost[] = [];
  let ok = true;
  value.items.forEach((item, index) => {
    const host = injectHost(walk, item, { field: `${at.field}[${index}]`, line: lineOf(walk, item, at.line) });
    if (host) hosts.push(host);
    else ok = false;
  });
  return ok ? hosts : undefined;
};

export const INJECT_RULES = {
  host: { required: true, check: injectHosts },
  header: { check: text({ max: 128, shape: "a header name", explain: headerNameProblem }) },
  query: { check: text({ max: 128, pattern: QUERY_NAME, shape: "a query parameter name (letters, digits and . _ ~ -, up to 128)" }) },
  format: { check: text({ max: 256, shape: 'text with {value} in it, such as "Bearer {value}"', explain: formatProblem }) },
  placeholder: {
    check: text({ shape: "shaped or random", explain: (v) => (v === "shaped" || v === "random" ? undefined : `must be shaped or random, found "${v}"`) }),
  },
} satisfies Rules;

export function readEnvInject(walk: Walk, node: unknown, at: At): EnvInjection | undefined {
  // `fields` returns nothing when any key had a problem, so below every present key is valid.
  const values = fields(INJECT_RULES)(walk, node, at);
  if (!values) return undefined;
  const hasHeader = values.header !== undefined;
  const hasQuery = values.query !== undefined;
  if (hasHeader === hasQuery) {
    report(walk, at, hasHeader ? "gives both header and query; name exactly one place for the secret" : "needs header: NAME or query: NAME (where the secret goes)");
    return undefined;
  }
  if (values.host === undefined) return undefined;
  return {
    hosts: values.host,
    ...(hasHeader ? { header: values.header!.toLowerCase() } : { query: values.query! }),
    format: values.format ?? "{value}",
    ...(values.placeholder === "shaped" ? { placeholder: "shaped" as const } : {}),
  };
}

/** `on_leak`: what a placeholder caught where it does not belong does to the session. */
export const readOnLeak: Check<LeakChoice> = text({
  shape: "end or deny",
  explain: (v) => (v === "end" || v === "deny" ? undefined : `must be end or deny, found "${v}"`),
}) as Check<LeakChoice>;
