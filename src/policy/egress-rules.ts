/**
 * The `egress:` section: the hosts a boxed command may reach through the egress proxy. Each
 * entry is normalised here (case, trailing dot, IPv6 spelling) so the proxy compares plain
 * strings and a rule never fails to match because of how it was written.
 */
import { isIPv4, isIPv6 } from "node:net";
import { isAlias } from "yaml";
import { listOf, text } from "./field-checks.js";
import type { EgressRule } from "./types.js";
import type { Check } from "./yaml-reader.js";
import { report } from "./yaml-reader.js";

export const MAX_EGRESS_RULES = 1000;

const EXPECTED = 'expected a host name (example.com), "*.example.com" (subdomains), an IP address, or "*" (any host), each but "*" with an optional :port';
const LABEL = /^[a-z0-9-]{1,63}$/;

/** `::0001` and `::1` are one address: its compressed WHATWG URL form (egress-allow.ts spells hosts it is asked about the same way). */
export function canonicalIPv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

type Parsed = { rule: EgressRule } | { problem: string };

function portOf(text: string): number | string {
  if (!/^[1-9]\d{0,4}$/.test(text) || Number(text) > 65_535) return `has port "${text}"; a port is a number from 1 to 65535`;
  return Number(text);
}

/** Splits `host:port`, `[v6]:port`, `[v6]` and bare `v6` into the host and the port text, if any. */
function splitPort(entry: string): { host: string; port?: string; ipv6: boolean } | string {
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1] ?? "", ...(bracketed[2] !== undefined ? { port: bracketed[2] } : {}), ipv6: true };
  if (entry.startsWith("[")) return `is not "[IPv6]" or "[IPv6]:port"; ${EXPECTED}`;
  const colons = entry.split(":").length - 1;
  if (colons > 1) return isIPv6(entry) ? { host: entry, ipv6: true } : `is not an IPv6 address; with a port, write one in brackets: "[::1]:8443"`;
  const [host = "", port] = entry.split(":");
  return { host, ...(port !== undefined ? { port } : {}), ipv6: false };
}

function hostNameProblem(name: string): string | undefined {
  if (name.length === 0) return `has no host; ${EXPECTED}`;
  if (name.length > 253) return "has a host name longer than 253 characters";
  const labels = name.split(".");
  if (labels.includes("*") || name.includes("*")) return `may use * only as "*" alone or as the whole first label ("*.example.com"); ${EXPECTED}`;
  const bad = labels.find((label) => !LABEL.test(label));
  if (bad !== undefined) {
    return bad === "" ? `has an empty label (two dots in a row, or a leading dot); ${EXPECTED}` : `has "${bad}", which is not a DNS label (1 to 63 letters, digits or '-'); ${EXPECTED}`;
  }
  // URL parsers read a host ending in a number as IPv4 (`127.1`), so the proxy would never see it as a name.
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) return "looks like an IPv4 address but is not one; write four numbers 0 to 255, such as 127.0.0.2";
  return undefined;
}

export function parseEgressEntry(entry: string): Parsed {
  if (/\s/.test(entry)) return { problem: `must not contain spaces; ${EXPECTED}` };
  if (entry === "*") return { rule: { kind: "any" } };
  if (entry.startsWith("*:")) return { problem: 'gives "*" a port, but "*" already allows every host on every port; write "*" alone' };
  const split = splitPort(entry);
  if (typeof split === "string") return { problem: split };
  const port = split.port === undefined ? undefined : portOf(split.port);
  if (typeof port === "string") return { problem: port };
  const withPort = port === undefined ? {} : { port };
  if (split.ipv6) {
    // A zone (`fe80::1%eth0`) names an interface of this machine, not a host; URLs cannot carry one.
    if (!isIPv6(split.host) || split.host.includes("%")) return { problem: `has "[${split.host}]", which is not an IPv6 address; ${EXPECTED}` };
    return { rule: { kind: "host", host: canonicalIPv6(split.host.toLowerCase()), ...withPort } };
  }
  const host = split.host.toLowerCase().replace(/\.$/, "");
  if (isIPv4(host)) return { rule: { kind: "host", host, ...withPort } };
  if (host.startsWith("*.")) {
    const problem = hostNameProblem(host.slice(2));
    return problem ? { problem } : { rule: { kind: "suffix", suffix: host.slice(1), ...withPort } };
  }
  const problem = hostNameProblem(host);
  return problem ? { problem } : { rule: { kind: "host", host, ...withPort } };
}

/**
 * An unquoted `*.example.com` or `*_PROXY` is a YAML alias to an anchor that does not exist,
 * which would otherwise read as "found nothing": say to quote it.
 */
export function starHint<T>(check: Check<T>): Check<T> {
  return (walk, node, at) => {
    if (isAlias(node) && node.resolve(walk.doc) === undefined) {
      report(walk, at, `starts with *, which YAML reads as an alias; quote it: "*${node.source}"`);
      return undefined;
    }
    return check(walk, node, at);
  };
}

const egressEntry: Check<EgressRule> = starHint((walk, node, at) => {
  const entry = text({ max: 270, shape: "a host, *.domain, IP address or *" })(walk, node, at);
  if (entry === undefined) return undefined;
  const parsed = parseEgressEntry(entry);
  if ("rule" in parsed) return parsed.rule;
  report(walk, at, parsed.problem);
  return undefined;
});

/** An empty list is allowed and means what it says: no host at all. */
export const readEgress: Check<EgressRule[]> = listOf(egressEntry, { min: 0, max: MAX_EGRESS_RULES });
