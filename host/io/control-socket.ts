// Where the control socket is: one per network namespace (a director per namespace), so
// `wasmvs -L` in a namespace reaches that namespace's director. Apart from the server so the
// command line can name it without loading the server.

import { statSync } from "node:fs";

/** The control socket of this network namespace's director. */
export function defaultSocket(): string {
  let ns = "default";
  try {
    ns = String(statSync("/proc/self/ns/net").ino);
  } catch { /* no /proc: one name for all */ }
  return `/run/wasmvs/net-${ns}.sock`;
}
