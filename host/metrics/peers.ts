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

const keys = new WeakMap<Socket, string>();

/** The peer of sock: "uid N" for a connection from this host whose socket's owner the kernel
 *  names, else the remote address. Kept with the socket: asked once, at accept. */
export function peerOf(sock: Socket): string {
  const known = keys.get(sock);
  if (known) return known;
  const remote = remoteOf(sock);
  let key = remote;
  const src = v4(remote);
  const dst = v4(sock.localAddress ?? "");
  // Asked for every peer (an exact lookup, a few microseconds): a local user may connect from
  // any address of this host, not only loopback; a remote peer's socket is not found here.
  if (src !== undefined && dst !== undefined) {
    try {
      const uid = tapAddon().tcpOwner(src, sock.remotePort ?? 0, dst, sock.localPort ?? 0);
      if (uid >= 0) key = `uid ${uid}`;
    } catch { /* no addon: by address */ }
  }
  keys.set(sock, key);
  return key;
}

/** Share server's connections among its peers as l says. */
export function limitPeers(server: Server, l: PeerLimits): Peers {
  const held = new Map<string, number>();
  let shared = 0;
  let reserved = 0;
  // Our own accounting bounds what is held; Node's cap only backs it up (sockets closed at
  // accept still count there until their close event, and must not shut out a scraper).
  server.maxConnections = 4 * (l.total + (l.reserved ?? 0));
  server.on("connection", (sock: Socket) => {
    // A trusted address takes from its reserve first (by address, as it was configured), then
    // like any peer from the shared connections, within its peer's share.
    const key = peerOf(sock);
    const n = held.get(key) ?? 0;
    let pool: "reserved" | "shared" | undefined;
    if (l.trusted?.(remoteOf(sock)) && reserved < (l.reserved ?? 0)) pool = "reserved";
    else if (n < l.perPeer && shared < l.total) pool = "shared";
    if (!pool) {
      l.onRefused?.();
      sock.destroy();
      return;
    }
    if (pool === "reserved") reserved++;
    else shared++;
    held.set(key, n + 1);
    sock.once("close", () => {
      if (pool === "reserved") reserved--;
      else shared--;
      const m = (held.get(key) ?? 1) - 1;
      if (m > 0) held.set(key, m);
      else held.delete(key);
    });
  });
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
