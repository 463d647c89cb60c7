// Who may hold the connections of wasmvs's HTTP endpoints (metrics, dashboard). One cap for
// everyone let a local user with no privilege take them all (16 idle sockets: 0 of 20 scrapes
// answered), so each peer gets a share and the configured scrapers a reserve of their own:
//
//  - a peer is a local user when the connection comes from this host (its client socket is in
//    this network namespace): every user shares 127.0.0.1, so the owner of the client's socket
//    is asked of the kernel (sock_diag, by the connection's four-tuple); any other peer is its
//    address;
//  - a peer holds at most perPeer connections, all peers but the trusted at most total;
//  - trusted addresses (metrics_scraper) have `reserved` connections nobody else can take,
//    and the shared ones besides. A loopback source address can be chosen by any local user:
//    the reserve is sound for a scraper that comes from another host.
//
// A connection over its peer's share is closed at accept, before a byte of it is read.

import type { Server } from "node:http";
import type { Socket } from "node:net";
import { tapAddon } from "../io/tap.js";

/** Refusals in FLOOD_MS that make a flood (see limitPeers). */
const FLOOD = 256;
const FLOOD_MS = 100;

export interface PeerLimits {
  /** Connections one peer may hold. */
  perPeer: number;
  /** Connections all untrusted peers together may hold. */
  total: number;
  /** Connections kept for trusted peers (besides the shared ones). */
  reserved?: number;
  trusted?: (address: string) => boolean;
  /** Called for each connection refused at a limit (for the metrics). */
  onRefused?: () => void;
}

export interface Peers {
  /** The peer a connection of this server comes from ("uid 65534", "10.0.0.2"). */
  of(sock: Socket): string;
  /** Connections each peer holds now. */
  held(): Map<string, number>;
}

/** An IPv4 address as a host-order number; undefined when it is not one. */
function v4(text: string): number | undefined {
  const m = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  return m ? ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0 : undefined;
}

/** The address a connection comes from, without the IPv4-mapped prefix. */
export const remoteOf = (sock: Socket): string => (sock.remoteAddress ?? "?").replace(/^::ffff:/, "");

/** A connection's four-tuple as the addon takes it (host-order IPv4 addresses); undefined off IPv4. */
function tuple(sock: Socket): { remote: number; remotePort: number; local: number; localPort: number } | undefined {
  const remote = v4(sock.remoteAddress ?? "");
  const local = v4(sock.localAddress ?? "");
  if (remote === undefined || local === undefined) return undefined;
  return { remote, remotePort: sock.remotePort ?? 0, local, localPort: sock.localPort ?? 0 };
}

/** The kernel's word on the client's own socket of sock (when the client is on this host). */
function clientSocket(sock: Socket): { uid: number; rqueue: number } | null {
  const t = tuple(sock);
  if (!t) return null;
  try {
    return tapAddon().tcpSocket(t.remote, t.remotePort, t.local, t.localPort);
  } catch {
    return null; // no addon: the peer is its address
  }
}

const keys = new WeakMap<Socket, { key: string; local: boolean }>();

/** The peer of sock: "uid N" for a connection from this host whose socket's owner the kernel
 *  names, else the remote address. Kept with the socket: asked once, at accept. Asked for every
 *  peer (an exact lookup, a few microseconds): a local user may connect from any address of this
 *  host, not only loopback; a remote peer's socket is not found here. */
export function peerOf(sock: Socket): string {
  let k = keys.get(sock);
  if (!k) {
    const c = clientSocket(sock);
    k = c ? { key: `uid ${c.uid}`, local: true } : { key: remoteOf(sock), local: false };
    keys.set(sock, k);
  }
  return k.key;
}

/** Bytes written to sock that its peer has not read, as far as the kernel knows: what this end
 *  has sent and not had acknowledged or not sent yet (a reader that stops closes its window),
 *  plus, for a client on this host, what its own socket holds unread (loopback takes a few
 *  hundred KB there before a writer sees any backpressure) — plus what Node still buffers. */
export function unreadBy(sock: Socket): number {
  peerOf(sock);
  let kernel = 0;
  const t = tuple(sock);
  if (t) {
    try {
      kernel = tapAddon().tcpSocket(t.local, t.localPort, t.remote, t.remotePort)?.wqueue ?? 0;
      if (keys.get(sock)!.local) kernel += tapAddon().tcpSocket(t.remote, t.remotePort, t.local, t.localPort)?.rqueue ?? 0;
    } catch { /* no addon: Node's buffer only */ }
  }
  return kernel + sock.writableLength;
}

/** Share server's connections among its peers as l says. */
export function limitPeers(server: Server, l: PeerLimits): Peers {
  const held = new Map<string, number>();
  let shared = 0;
  let reserved = 0;
  // Node's own cap closes a connection before any JavaScript object is made for it; one refused
  // here costs three times as much (it must be made to know its peer). The cap follows what is
  // held: the shared connections held, the whole reserve, and one peer's share of room for
  // newcomers and for refused connections whose close is under way, so held connections never
  // shut out a scraper or a peer with room in its share. A flood (more than FLOOD refusals in
  // FLOOD_MS) is different: the accept queue would overflow at that cost, so for FLOOD_MS Node's
  // cap sheds every new connection cheaply, as a single cap did — a scrape then may fail, as
  // under any flood; the reserve is for connections held, not for a flood's.
  let shedding: NodeJS.Timeout | undefined;
  let windowStart = 0;
  let refusals = 0;
  const cap = () => { server.maxConnections = shared + (shedding ? reserved : (l.reserved ?? 0) + l.perPeer); };
  cap();
  const refused = () => {
    l.onRefused?.();
    const now = Date.now();
    if (now - windowStart > FLOOD_MS) { windowStart = now; refusals = 0; }
    if (++refusals > FLOOD && !shedding) {
      shedding = setTimeout(() => { shedding = undefined; cap(); }, FLOOD_MS);
      shedding.unref();
      cap();
    }
  };
  server.on("drop", () => l.onRefused?.());
  // Admission runs before Node's HTTP machinery sees the connection: one refused gets no
  // parser and no timers.
  const admit = (sock: Socket): boolean => {
    // A trusted address takes from its reserve first (by address, as it was configured), then
    // like any peer from the shared connections, within its peer's share.
    const key = peerOf(sock);
    const n = held.get(key) ?? 0;
    let pool: "reserved" | "shared" | undefined;
    if (l.trusted?.(remoteOf(sock)) && reserved < (l.reserved ?? 0)) pool = "reserved";
    else if (n < l.perPeer && shared < l.total) pool = "shared";
    if (!pool) {
      refused();
      sock.destroy();
      return false;
    }
    if (pool === "reserved") reserved++;
    else shared++;
    cap();
    held.set(key, n + 1);
    sock.once("close", () => {
      if (pool === "reserved") reserved--;
      else shared--;
      cap();
      const m = (held.get(key) ?? 1) - 1;
      if (m > 0) held.set(key, m);
      else held.delete(key);
    });
    return true;
  };
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]) =>
    (event === "connection" && !admit(args[0] as Socket) ? false : emit(event, ...args))) as typeof server.emit;
  return { of: peerOf, held: () => held };
}

/** Close res's connection unless its reply has been taken within ms: a client that does not
 *  read what it asked for holds neither a socket nor the reply's memory for long. */
export function replyWithin(res: { once(e: "finish" | "close", f: () => void): unknown; socket: Socket | null }, ms: number): void {
  const t = setTimeout(() => res.socket?.destroy(), ms);
  t.unref();
  const done = () => clearTimeout(t);
  res.once("finish", done);
  res.once("close", done);
}
