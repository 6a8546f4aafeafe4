/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of a stand-in (the STS or GitHub stub): it
 * forwards every request unchanged (SigV4 signs the Host the client used, so signatures still
 * verify) unless a fault matches, then answers 500, throttles, hangs, answers garbage or drops the
 * connection, the way the real service or a broken middlebox would. It records every request and
 * hands every credential it sees in an answer to `onCredential`, so a test knows all that was minted.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type FaultKind = "500" | "throttle" | "hang" | "garbage" | "drop";
export const FAULT_KINDS: readonly FaultKind[] = ["500", "throttle", "hang", "garbage", "drop"];
export type Flavor = "sts" | "github";

export interface ProxiedRequest {
  time: number;
  method: string;
  path: string;
  /** STS `Action` from the form body; null for GitHub. */
  action: string | null;
  /** Status answered; 0 when hung or dropped. */
  status: number;
  fault: FaultKind | null;
}

export type RequestMatch = (r: { method: string; path: string; action: string | null }) => boolean;

export interface FaultProxy {
  url: string;
  requests: ProxiedRequest[];
  /** Fault the next `times` matching requests (default: until cleared). */
  fault(match: RequestMatch, kind: FaultKind, times?: number): void;
  clearFaults(): void;
  /** Requests that matched. */
  count(match: RequestMatch): number;
  close(): Promise<void>;
}

/** STS's minting calls, and GitHub's token creation and revocation. */
export const STS_MINT: RequestMatch = (r) => r.method === "POST" && r.action !== null && /^(AssumeRole|GetSessionToken|GetFederationToken)$/.test(r.action);
export const GITHUB_MINT: RequestMatch = (r) => r.method === "POST" && /^\/app\/installations\/\d+\/access_tokens$/.test(r.path);
export const GITHUB_REVOKE: RequestMatch = (r) => r.method === "DELETE" && r.path === "/installation/token";

const CREDENTIAL_PATTERNS = [/<SecretAccessKey>([^<]+)<\/SecretAccessKey>/g, /<SessionToken>([^<]+)<\/SessionToken>/g, /"token"\s*:\s*"([^"]+)"/g];

function faultAnswer(kind: Exclude<FaultKind, "hang" | "drop">, flavor: Flavor): { status: number; headers: Record<string, string>; body: string } {
  if (kind === "garbage") {
    // A middlebox's page where an API answer belongs: 200, the right content type, not the right body.
    const type = flavor === "sts" ? "text/xml" : "application/json; charset=utf-8";
    return { status: 200, headers: { "content-type": type }, body: "<html><body>upstream connect error or disconnect/reset before headers</body>" };
  }
  if (flavor === "sts") {
    const [status, code, message] = kind === "500" ? [500, "InternalFailure", "The request processing has failed."] : [400, "Throttling", "Rate exceeded"];
    const body = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>${status >= 500 ? "Receiver" : "Sender"}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`;
    return { status, headers: { "content-type": "text/xml" }, body };
  }
  return kind === "500"
    ? { status: 500, headers: { "content-type": "application/json" }, body: JSON.stringify({ message: "Server Error" }) }
    : { status: 429, headers: { "content-type": "application/json", "retry-after": "1" }, body: JSON.stringify({ message: "You have exceeded a secondary rate limit." }) };
}

export async function startFaultProxy(target: string, flavor: Flavor, onCredential: (value: string) => void = () => undefined): Promise<FaultProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const faults: { match: RequestMatch; kind: FaultKind; remaining: number }[] = [];
  const sockets = new Set<Socket>();

  function takeFault(r: { method: string; path: string; action: string | null }): FaultKind | null {
    const index = faults.findIndex((f) => f.match(r));
    const f = faults[index];
    if (!f) return null;
    if (--f.remaining <= 0) faults.splice(index, 1);
    return f.kind;
  }

  function forward(req: IncomingMessage, res: ServerResponse, body: Buffer, record: ProxiedRequest): void {
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (c: Buffer) => chunks.push(c));
      answer.on("end", () => {
        const text = Buffer.concat(chunks);
        for (const pattern of CREDENTIAL_PATTERNS) for (const m of text.toString("utf8").matchAll(pattern)) if (m[1]) onCredential(m[1]);
        record.status = answer.statusCode ?? 0;
        res.writeHead(record.status, answer.headers);
        res.end(text);
      });
    });
    out.on("error", () => res.destroy());
    out.end(body);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const path = (req.url ?? "/").split("?")[0] ?? "/";
      const action = flavor === "sts" ? new URLSearchParams(body.toString("utf8")).get("Action") : null;
      const method = req.method ?? "GET";
      const kind = takeFault({ method, path, action });
      const record: ProxiedRequest = { time: Date.now(), method, path, action, status: 0, fault: kind };
      requests.push(record);
      if (kind === "hang") return; // left open until the client gives up or close() cuts it
      if (kind === "drop") return void req.socket.destroy();
      if (kind === null) return forward(req, res, body, record);
      const answer = faultAnswer(kind, flavor);
      record.status = answer.status;
      res.writeHead(answer.status, answer.headers).end(answer.body);
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    fault(match, kind, times = Infinity) {
      faults.push({ match, kind, remaining: times });
    },
    clearFaults() {
      faults.length = 0;
    },
    count: (match) => requests.filter((r) => match(r)).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
