/**
 * The STS Query protocol on the wire: form-encoded parameters in, XML out, as
 * https://sts.amazonaws.com/doc/2011-06-15/ answers (the shape both the JS SDK v3 awsQuery
 * protocol and botocore parse).
 */
import { randomUUID } from "node:crypto";

export const STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/";
export const STS_VERSION = "2011-06-15";

/** An error as STS reports it: HTTP status, `Sender`/`Receiver`, code and message. */
export class StsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const sender = (code: string, message: string, status = 400): StsError => new StsError(status, code, message);

/** Query parameters from the query string and a form-encoded body, body winning (as STS merges them). */
export function queryParams(url: string, contentType: string | undefined, body: Buffer): Map<string, string> {
  const params = new Map<string, string>();
  const queryStart = url.indexOf("?");
  if (queryStart >= 0) for (const [k, v] of new URLSearchParams(url.slice(queryStart + 1))) params.set(k, v);
  if (body.length > 0 && (contentType ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    for (const [k, v] of new URLSearchParams(body.toString("utf8"))) params.set(k, v);
  }
  return params;
}

/** `Prefix.member.N[.suffix]` lists, in N order; stops at the first gap like the service does. */
export function memberList(params: Map<string, string>, prefix: string, suffix = ""): string[] {
  const values: string[] = [];
  for (let n = 1; ; n += 1) {
    const value = params.get(`${prefix}.member.${n}${suffix}`);
    if (value === undefined) return values;
    values.push(value);
  }
}

export function escapeXml(value: string): string {
  return value.replace(/[<>&"']/g, (c) => `&${{ "<": "lt", ">": "gt", "&": "amp", '"': "quot", "'": "apos" }[c]};`);
}

/** A nested record becomes nested elements; undefined members are left out. */
export type XmlTree = { [name: string]: string | number | XmlTree | undefined };

function renderTree(tree: XmlTree, indent: string): string {
  return Object.entries(tree)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) =>
      typeof value === "object"
        ? `${indent}<${name}>\n${renderTree(value as XmlTree, `${indent}  `)}${indent}</${name}>\n`
        : `${indent}<${name}>${escapeXml(String(value))}</${name}>\n`,
    )
    .join("");
}

export function successXml(action: string, result: XmlTree, requestId: string): string {
  return (
    `<${action}Response xmlns="${STS_XMLNS}">\n` +
    `  <${action}Result>\n${renderTree(result, "    ")}  </${action}Result>\n` +
    `  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n  </ResponseMetadata>\n` +
    `</${action}Response>\n`
  );
}

export function errorXml(error: StsError, requestId: string): string {
  const type = error.status >= 500 ? "Receiver" : "Sender";
  return (
    `<ErrorResponse xmlns="${STS_XMLNS}">\n` +
    `  <Error>\n    <Type>${type}</Type>\n    <Code>${escapeXml(error.code)}</Code>\n` +
    `    <Message>${escapeXml(error.message)}</Message>\n  </Error>\n` +
    `  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`
  );
}

export const newRequestId = (): string => randomUUID();

/** STS timestamps: ISO 8601 in UTC, whole seconds. */
export function stsTimestamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}
