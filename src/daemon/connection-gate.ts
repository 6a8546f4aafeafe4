/**
 * Admission for every connection the daemon serves (main socket and per-session sockets share one
 * gate): a cap in total and per peer, and a budget for request bodies in flight. At a cap the
 * newcomer takes the place of the longest-waiting *unproductive* connection — one that is idle, or
 * still sending its request head or body — as nginx reuses its idle connections; a connection with
 * a whole request being answered, or held open (bound to a session, a long-lived stream), is never
 * taken. Only when nothing can give way is the newcomer refused, with 503 ERR_BUSY, never a silent
 * reset. So a flood of idle or slow clients cannot lock out one that sends a request at once.
 *
 * Memory: bodies in flight are at most `bodyBudget` bytes together; request heads at most 16 KiB
 * (Node's limit) per connection, and connections at most `caps.total`.
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { BrokerError } from "../errors.js";
import { peerOf } from "./connection-peer.js";

export interface GateOptions {
  total: number;
  bodyBudget: number;
  /** What a request with no Content-Length (chunked) may grow to: the server's body limit. */
  bodyLimit: number;
}

export interface ConnectionGate {
  /** Puts a server behind the gate: its connections are counted under `scope`, at most `perPeer` per peer. Call before listen. */
  guard(server: Server, scope: string, perPeer: number): void;
  stats(): { connections: number; bodyBytes: number; refused: number; evicted: number };
  /**
   * Places for something that is not an HTTP connection of a guarded server (an egress proxy's
   * connection, `weight` 2: it holds an upstream socket too), counted in the same total; idle
   * connections give way as for a newcomer. Returns the release, or null when nothing can give way.
   */
  acquire(weight: number): (() => void) | null;
}

interface Entry {
  socket: Socket;
  key: string;
  request: IncomingMessage | undefined;
  body: number;
  gone: boolean;
}

const HELD = Symbol("broker.heldOpen");

/**
 * A connection that must outlive the idle timeout and never give way to a newcomer: one bound to
 * a session (`bind: "connection"`), or carrying a long-lived answer such as an event stream.
 */
export function holdOpen(socket: Socket): void {
  (socket as Socket & { [HELD]?: boolean })[HELD] = true;
  socket.setTimeout(0);
}

/** The held answer is over (a request that waited for approval, then was answered): the connection is ordinary again. */
export function releaseHold(socket: Socket): void {
  delete (socket as Socket & { [HELD]?: boolean })[HELD];
}

const isHeld = (socket: Socket) => (socket as Socket & { [HELD]?: boolean })[HELD] === true;

const busyError = (what: string) =>
  new BrokerError("ERR_BUSY", `the daemon is at its limit of ${what}; try again shortly`, { fix: "retry in a moment; if it persists, look for a process holding many connections to the broker's socket" });

/** The minimal answer on a connection no HTTP parser has answered yet; then it is closed. */
function answerBusy(socket: Socket, error: BrokerError): void {
  const body = JSON.stringify({ error: error.toJSON() });
  if (socket.writable && socket.bytesWritten === 0) {
    socket.write(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
}

/**
 * Closing at once would make a client that is still writing its request fail with EPIPE before it
 * reads the answer, so a refused connection lingers half-closed for a moment (its input dropped).
 * Only a few linger at a time, so refusals cannot pile up descriptors.
 */
const LINGER_MS = 500;
const MAX_LINGERING = 64;
let lingering = 0;

function refuse(socket: Socket, error: BrokerError): void {
  answerBusy(socket, error);
  if (lingering >= MAX_LINGERING) return void socket.destroy();
  lingering += 1;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once("close", () => {
    lingering -= 1;
    clearTimeout(timer);
  });
  socket.on("error", () => undefined);
  socket.resume();
  socket.end();
}

function bodySize(request: IncomingMessage, bodyLimit: number): number {
  const length = request.headers["content-length"];
  if (length !== undefined) return Math.min(Number(length) || 0, bodyLimit);
  return request.headers["transfer-encoding"] ? bodyLimit : 0;
}

export function createConnectionGate(options: GateOptions): ConnectionGate {
  /** Per peer key, its connections from longest-waiting to most recently active. */
  const byKey = new Map<string, Map<Socket, Entry>>();
  let connections = 0;
  let bodyBytes = 0;
  let refused = 0;
  let evicted = 0;

  const forget = (entry: Entry) => {
    if (entry.gone) return;
    entry.gone = true;
    connections -= 1;
    bodyBytes -= entry.body;
    entry.body = 0;
    const peers = byKey.get(entry.key);
    peers?.delete(entry.socket);
    if (peers?.size === 0) byKey.delete(entry.key);
  };

  /** Idle, or still sending its request: may give way. */
  const unproductive = (entry: Entry) => !isHeld(entry.socket) && (entry.request === undefined || !entry.request.complete);

  const evict = (entry: Entry) => {
    forget(entry);
    evicted += 1;
    // Node's HTTP parser owns this connection: answer if nothing was written yet, and close now.
    answerBusy(entry.socket, busyError("connections"));
    entry.socket.destroy();
  };

  /** Frees one place among `peers` (longest-waiting first); false if none can give way. */
  const evictFrom = (peers: Map<Socket, Entry> | undefined, wanted: (entry: Entry) => boolean = unproductive): boolean => {
    for (const entry of peers?.values() ?? []) {
      if (wanted(entry)) {
        evict(entry);
        return true;
      }
    }
    return false;
  };

  /** At the total cap: the peer holding the most gives way first. */
  const evictAnywhere = (wanted?: (entry: Entry) => boolean): boolean => {
    const peers = [...byKey.values()].sort((a, b) => b.size - a.size);
    return peers.some((p) => evictFrom(p, wanted));
  };

  const admit = (socket: Socket, key: string, perPeer: number): Entry | undefined => {
    if ((byKey.get(key)?.size ?? 0) >= perPeer && !evictFrom(byKey.get(key))) return undefined;
    if (connections >= options.total && !evictAnywhere()) return undefined;
    const entry: Entry = { socket, key, request: undefined, body: 0, gone: false };
    let peers = byKey.get(key);
    if (!peers) byKey.set(key, (peers = new Map()));
    peers.set(socket, entry);
    connections += 1;
    return entry;
  };

  /** Reserves the body a request may bring; false if the budget cannot make room for it. */
  const reserveBody = (entry: Entry, size: number): boolean => {
    const holdsBody = (e: Entry) => e !== entry && e.body > 0 && unproductive(e);
    while (bodyBytes + size > options.bodyBudget) if (!evictAnywhere(holdsBody)) return false;
    entry.body += size;
    bodyBytes += size;
    return true;
  };

  /** The request was answered: its body is released and the connection becomes the most recently active. */
  const answered = (entry: Entry, request: IncomingMessage) => {
    if (entry.gone || entry.request !== request) return;
    bodyBytes -= entry.body;
    entry.body = 0;
    entry.request = undefined;
    const peers = byKey.get(entry.key);
    peers?.delete(entry.socket);
    peers?.set(entry.socket, entry);
  };

  const entries = new WeakMap<Socket, Entry>();

  return {
    guard(server, scope, perPeer) {
      // The gate runs before Node's HTTP machinery sees a connection or a request, so a refused
      // one never reaches a parser or a route.
      const onConnection = server.listeners("connection") as ((socket: Socket) => void)[];
      const onRequest = server.listeners("request") as ((req: IncomingMessage, res: ServerResponse) => void)[];
      server.removeAllListeners("connection");
      server.removeAllListeners("request");
      server.on("connection", (socket: Socket) => {
        const entry = admit(socket, `${scope}/${peerOf(socket)}`, perPeer);
        if (!entry) {
          refused += 1;
          return refuse(socket, busyError("connections"));
        }
        entries.set(socket, entry);
        socket.once("close", () => forget(entry));
        for (const listener of onConnection) listener.call(server, socket);
      });
      server.on("request", (request: IncomingMessage, response: ServerResponse) => {
        const entry = entries.get(request.socket);
        if (entry && !entry.gone) {
          entry.request = request;
          response.once("close", () => answered(entry, request));
          if (!reserveBody(entry, bodySize(request, options.bodyLimit))) {
            refused += 1;
            const body = JSON.stringify({ error: busyError("request bodies in flight").toJSON() });
            response.writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "close" }).end(body);
            return;
          }
        }
        for (const listener of onRequest) listener.call(server, request, response);
      });
    },
    stats: () => ({ connections, bodyBytes, refused, evicted }),
    acquire(weight) {
      while (connections + weight > options.total) {
        if (!evictAnywhere()) {
          refused += 1;
          return null;
        }
      }
      connections += weight;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        connections -= weight;
      };
    },
  };
}
