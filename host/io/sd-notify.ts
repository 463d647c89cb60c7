// sd_notify(3) without libsystemd: one datagram of NAME=VALUE lines to $NOTIFY_SOCKET, which
// systemd sets for a Type=notify service (a path, or '@' for an abstract socket). The
// director says READY=1 once every resource is held (the TAPs, the control socket, the
// ports: `systemctl start` returns then, and a failed start fails it), RELOADING=1 and
// READY=1 around a reload, STOPPING=1 when it stops, and STATUS= in words.

import { tapAddon } from "./tap.js";

/** Send state to the service manager; false when there is none (or it did not take it). */
export function sdNotify(state: string, env = process.env): boolean {
  const path = env.NOTIFY_SOCKET;
  if (!path) return false;
  try {
    return tapAddon().sendDatagram(path, Buffer.from(state)) === 0;
  } catch {
    return false;
  }
}
