/**
 * Terminates a tunnel's TLS for a host with an injection rule: the box's ClientHello (already
 * read, to check its SNI) is answered with a leaf of the session's CA, and the decrypted stream
 * goes, by the ALPN protocol negotiated, to an HTTP/2 or HTTP/1.1 server of this tunnel alone,
 * whose requests are intercepted one by one. A client that refuses the session CA (pinning, or
 * a trust store without it) gets nothing through: the tunnel closes, audited as `tls-refused`.
 */
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import type { Target } from "./egress-target.js";
import type { ProxyContext } from "./forward-proxy.js";
import type { SessionCa } from "./session-ca.js";
import { interceptRequest, type InterceptTunnel } from "./intercept-request.js";
import { interceptUpgrade } from "./intercept-websocket.js";

const HANDSHAKE_TIMEOUT_MS = 10_000;

/** One secure context per CA and host: building one parses the key and certificate. */
const contexts = new WeakMap<SessionCa, Map<string, Promise<SecureContext>>>();

function secureContextFor(ca: SessionCa, host: string): Promise<SecureContext> {
  let byHost = contexts.get(ca);
  if (!byHost) contexts.set(ca, (byHost = new Map()));
  let context = byHost.get(host);
  if (!context) {
    context = ca.leafFor(host).then((leaf) => createSecureContext({ key: leaf.key, cert: leaf.cert, minVersion: "TLSv1.2" }));
    byHost.set(host, context);
    context.catch(() => byHost.delete(host));
  }
  return context;
}

/**
 * The client socket as a plain stream that first yields the bytes already read from it. A
 * TLSSocket over a net.Socket would read from its handle and never see them.
 */
function replayed(client: Socket, buffered: Buffer): Duplex {
  const wire = new Duplex({
    read: () => void client.resume(),
    write: (chunk: Buffer, _encoding, callback) => void client.write(chunk, callback),
    final: (callback) => void client.end(callback),
    destroy: (error, callback) => {
      client.destroy();
      callback(error);
    },
  });
  wire.push(buffered);
  client.on("data", (chunk: Buffer) => {
    if (!wire.push(chunk)) client.pause();
  });
  client.once("end", () => wire.push(null));
  client.once("close", () => wire.destroy());
  return wire;
}

export async function interceptTunnel(ctx: ProxyContext, target: Target, address: string, client: Socket, buffered: Buffer): Promise<void> {
  const { injection, ca } = ctx.options;
  const audit = (reason: string) => ctx.options.audit({ host: target.host, port: target.port, method: "CONNECT", outcome: "error", reason, bytesIn: 0, bytesOut: 0, intercepted: true });
  if (!injection || !ca) {
    audit("interception not configured");
    return void client.destroy();
  }
  let secureContext: SecureContext;
  try {
    secureContext = await secureContextFor(ca, target.host);
  } catch {
    audit("no certificate for host");
    return void client.destroy();
  }
  const tunnel: InterceptTunnel = { ctx, target, address, injection, agent: ctx.interceptAgent() };
  // Only HTTP/1.1 is offered: node:http2 over this replayed socket throws inside Node's core (notes-A),
  // an uncaught error that took the whole process down when curl (which offers h2) came through.
  const tls = new TLSSocket(replayed(client, buffered), { isServer: true, secureContext, ALPNProtocols: ["http/1.1"] });
  // Whether the box went on past the handshake: a client that rejects the CA closes right after it (Node) or alerts during it (OpenSSL).
  let accepted = false;
  tls.setTimeout(HANDSHAKE_TIMEOUT_MS, () => tls.destroy());
  tls.on("error", () => tls.destroy());
  // The box's end going away (it may drop the tunnel without a TLS close) ends this side too.
  client.once("close", () => tls.destroy());
  tls.once("close", () => {
    client.destroy();
    if (!accepted) audit("tls-refused");
  });
  tls.once("secure", () => {
    tls.setTimeout(0);
    if (tls.alpnProtocol === "h2") {
      const server = createHttp2Server({ settings: { maxConcurrentStreams: 100 } });
      server.on("session", (session) => {
        session.once("remoteSettings", () => (accepted = true));
        session.on("error", () => undefined);
      });
      server.on("sessionError", () => undefined);
      server.on("request", (req, res) => {
        accepted = true;
        void interceptRequest(tunnel, req, res, "h2").catch(() => res.destroy());
      });
      server.emit("connection", tls);
      return;
    }
    const server = createHttpServer();
    server.headersTimeout = 30_000;
    server.requestTimeout = 0;
    server.keepAliveTimeout = 5_000;
    server.on("request", (req, res) => {
      accepted = true;
      void interceptRequest(tunnel, req, res, "http/1.1").catch(() => res.destroy());
    });
    server.on("upgrade", (req, socket: Duplex, head: Buffer) => {
      accepted = true;
      void interceptUpgrade(tunnel, req, socket, head).catch(() => socket.destroy());
    });
    server.emit("connection", tls);
  });
}
