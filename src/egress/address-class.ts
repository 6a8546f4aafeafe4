/**
 * Which addresses the egress proxy refuses unless a policy names them exactly: loopback, private,
 * link-local, carrier-grade NAT, cloud metadata and the other non-public ranges. A name is checked
 * on every address it resolves to, and the proxy connects to the address it checked.
 */
import { isIPv4, isIPv6 } from "node:net";

type Range = [base: number, bits: number, kind: string];

const V4: Range[] = [
  [ip4("0.0.0.0"), 8, "unspecified"],
  [ip4("10.0.0.0"), 8, "private"],
  [ip4("100.64.0.0"), 10, "carrier-grade-nat"],
  [ip4("127.0.0.0"), 8, "loopback"],
  [ip4("169.254.0.0"), 16, "link-local"],
  [ip4("172.16.0.0"), 12, "private"],
  [ip4("192.0.0.0"), 24, "reserved"],
  [ip4("192.168.0.0"), 16, "private"],
  [ip4("198.18.0.0"), 15, "benchmarking"],
  [ip4("224.0.0.0"), 4, "multicast"],
  [ip4("240.0.0.0"), 4, "reserved"],
];
const METADATA_V4 = new Set(["169.254.169.254", "169.254.170.2", "169.254.170.23"]);

function ip4(text: string): number {
  return text.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

function v4Class(ip: string): string | null {
  if (METADATA_V4.has(ip)) return "metadata";
  const n = ip4(ip);
  for (const [base, bits, kind] of V4) {
    const size = 2 ** (32 - bits);
    if (n >= base && n < base + size) return kind;
  }
  return null;
}

/** The eight 16-bit groups of an IPv6 address (an embedded IPv4 tail is folded in). */
function groups(ip: string): number[] {
  let text = ip.toLowerCase().split("%")[0]!;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const n = ip4(tail[1]!);
    text = `${text.slice(0, -tail[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, rest] = text.includes("::") ? text.split("::") : [text, undefined];
  const a = head ? head.split(":") : [];
  const b = rest === undefined ? [] : rest ? rest.split(":") : [];
  const fill = rest === undefined ? [] : new Array<string>(8 - a.length - b.length).fill("0");
  return [...a, ...fill, ...b].map((g) => parseInt(g, 16));
}

function v6Class(ip: string): string | null {
  const g = groups(ip);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  if (g.every((x) => x === 0)) return "unspecified";
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return "loopback";
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d): judged as the IPv4 inside.
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || g[5] === 0)) return v4Class(v4(g[6]!, g[7]!)) ?? (g[5] === 0 ? "reserved" : null);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4Class(v4(g[6]!, g[7]!));
  if (g[0] === 0xfd00 && g[1] === 0x0ec2 && g.slice(2, 7).every((x) => x === 0) && g[7] === 0x254) return "metadata";
  if ((g[0]! & 0xfe00) === 0xfc00) return "private";
  if ((g[0]! & 0xffc0) === 0xfe80) return "link-local";
  if ((g[0]! & 0xffc0) === 0xfec0) return "site-local";
  if ((g[0]! & 0xff00) === 0xff00) return "multicast";
  if (g[0] === 0x2001 && g[1] === 0x0db8) return "documentation";
  return null;
}

/** The kind of a non-public address, or null for a public one (or text that is no IP at all). */
export function forbiddenAddressClass(ip: string): string | null {
  if (isIPv4(ip)) return v4Class(ip);
  if (isIPv6(ip)) return v6Class(ip);
  return null;
}
