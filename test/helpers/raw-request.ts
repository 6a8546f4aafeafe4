import { request, type IncomingHttpHeaders } from "node:http";

export interface RawAnswer {
  status: number;
  body: { error?: { code?: string; message?: string } } & Record<string, unknown>;
  text: string;
  headers: IncomingHttpHeaders;
}

/** One HTTP request over a Unix socket with full control of method, path, headers and body bytes. */
export function rawRequest(socketPath: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: RawAnswer["body"] = {};
        try {
          parsed = text ? (JSON.parse(text) as RawAnswer["body"]) : {};
        } catch {
          // leave empty: the assertion on the code will say what came back
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, text, headers: res.headers });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
