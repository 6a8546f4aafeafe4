/**
 * Where one proxied connection may go: the target parsed from a CONNECT line or an absolute URL,
 * normalised, allowed by the session's rules, and resolved to addresses it may connect to. A
 * name is resolved here, once; the connection goes to the address that was checked.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { forbiddenAddressClass } from "./address-class.js";
import { normaliseHost, type EgressDecision } from "./egress-allow.js";

export type Lookup = (host: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

export interface Target {
  host: string;
  port: number;
}

export type Resolved = { ok: true; address: string } | { ok: false; status: 403 | 502; reason: string };

const HOST_NAME = /^[a-z0-9_]([a-z0-9_-]{0,62}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,62}[a-z0-9_])?)*$/;

export const defaultLookup: Lookup = async (host) => (await dnsLookup(host, { all: true, verbatim: true })) as Array<{ address: string; family: 4 | 6 }>;

/** `host:port` of a CONNECT line (IPv6 in brackets); null if it is not one. */
export function parseAuthority(authority: string): Target | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/?#@\s]+):(\d{1,5})$/.exec(authority);
  if (!match) return null;
  return checkedTarget(match[1]!, Number(match[2]));
}

export function checkedTarget(rawHost: string, port: number): Target | null {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return null;
  const host = normaliseHost(rawHost);
  if (isIP(host) === 0 && (host.length > 253 || !HOST_NAME.test(host))) return null;
  return { host, port };
}

/** Resolves an allowed target to the one address to connect to, refusing forbidden ones unless named exactly. */
export async function resolveTarget(target: Target, decision: EgressDecision, lookup: Lookup): Promise<Resolved> {
  let addresses: string[];
  if (isIP(target.host) !== 0) addresses = [target.host];
  else {
    try {
      addresses = (await lookup(target.host)).map((a) => a.address);
    } catch (error) {
      return { ok: false, status: 502, reason: `cannot resolve (${(error as NodeJS.ErrnoException).code ?? "error"})` };
    }
    if (addresses.length === 0) return { ok: false, status: 502, reason: "resolves to no address" };
  }
  if (!decision.exact) {
    for (const address of addresses) {
      const kind = forbiddenAddressClass(address);
      if (kind !== null) return { ok: false, status: 403, reason: `resolves to a ${kind} address` };
    }
  }
  return { ok: true, address: addresses[0]! };
}
