/**
 * Terminates a tunnel's TLS for a host with an injection rule: the box's ClientHello (read to
 * check its SNI, then put back) is answered with a leaf of the session's CA, and the decrypted stream
 * goes, by the ALPN protocol negotiated, to an HTTP/2 or HTTP/1.1 server of this tunnel alone,
 * whose requests are intercepted one by one. A client that refuses the session CA (pinning, or
 * a trust store without it) gets nothing through: the tunnel closes, audited as `tls-refused`.
 */
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttp2Server } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createSecureContext, TLSSocket, type SecureContext } from "node:tls";
import type { Target } from "./egress-target.js";
import type { ProxyContext } from "./forward-proxy.js";
import type { SessionCa } from "./session-ca.js";
import { STREAM_HIGH_WATER_MARK } from "./intercept-upstream.js";
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
  // The ClientHello goes back into the socket it was read from, and TLS runs over that socket's own
  // handle (TCP or Unix; Node feeds the unread bytes in first), with no JS stream in between.
  client.unshift(buffered);
  // A large high-water mark (a stream option TLSSocket takes, missing from its types): with the
  // default 16 KiB every TLS record of a download paused the upstream once.
  const options = { isServer: true, secureContext, ALPNProtocols: ["h2", "http/1.1"], highWaterMark: STREAM_HIGH_WATER_MARK };
  const tls = new TLSSocket(client, options as ConstructorParameters<typeof TLSSocket>[1]);
  // Whether the box went on past the handshake: a client that rejects the CA closes right after it (Node) or alerts during it (OpenSSL).
  let accepted = false;
  let refusal = "tls-refused";
  let over = false;
  // Either side's close ends the tunnel, once: its TLS, its socket, and (if nothing was asked over it) the one audit line.
  const finish = () => {
    if (over) return;
    over = true;
    tls.destroy();
    client.destroy();
    if (!accepted) audit(refusal);
  };
  tls.setTimeout(HANDSHAKE_TIMEOUT_MS, () => {
    refusal = "tls-timeout";
    tls.destroy();
  });
  tls.on("error", () => tls.destroy());
  // The box's end of the tunnel before any request: that is the refusal. Its socket came from the
  // proxy's HTTP server, half-open allowed, so the TLS side would not close by itself. (Once a
  // request came, the HTTP/1.1 or HTTP/2 server ends its side.)
  tls.once("end", () => void (accepted || finish()));
  tls.once("close", finish);
  client.once("close", finish);
  tls.once("secure", () => {
    tls.setTimeout(0);
    // What a tls.Server marks on its sockets once they are secure. Without it node:http2 waits for a
    // 'secureConnect' a server socket never emits, and then reads the client's preface into no session.
    (tls as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
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
