// The TAP addon's batch calls on ordinary descriptors (no TAP, no root): the typed arrays
// it is given are sized in bytes, so every interface index up to 15 is reachable (a
// defect once let only indexes 0-3 write and counted errors for 0-1 only), and the
// data-path thread's doorbell wakes its epoll_wait.

import { describe, it, expect } from "vitest";
import { closeSync, openSync } from "node:fs";
import { BELL_BIT, tapAddon } from "../host/io/tap.js";
import { Abi, TxDesc } from "../host/engine/abi.js";

describe("the TAP addon's batch calls", () => {
  const addon = tapAddon();

  it("writes frames for every interface index up to 15 and counts failures per index", () => {
    const mem = new ArrayBuffer(4096);
    const dv = new DataView(mem);
    const devNull = openSync("/dev/null", "w");
    const fds = new Int32Array(Abi.MAX_INTERFACES).fill(-1);
    fds[5] = devNull;
    fds[15] = devNull;
    const errors = new Float64Array(Abi.MAX_INTERFACES);
    const desc = (i: number, ifindex: number) => {
      dv.setUint32(i * Abi.DESC_SIZE + TxDesc.PTR, 1024, true);
      dv.setUint32(i * Abi.DESC_SIZE + TxDesc.LEN, 60, true);
      dv.setUint32(i * Abi.DESC_SIZE + TxDesc.IFINDEX, ifindex, true);
    };
    desc(0, 5);
    desc(1, 15);
    desc(2, 3); // no descriptor for interface 3: an error counted there
    desc(3, 14);
    try {
      expect(addon.writeBatch(fds, mem, 0, 4, errors, false)).toBe(2);
      expect(Array.from(errors)).toEqual(Array.from({ length: 16 }, (_, i) => (i === 3 || i === 14 ? 1 : 0)));
    } finally {
      closeSync(devNull);
    }
  });

  it("epollWait wakes on the doorbell and says so; a ready descriptor shows at its interface index", () => {
    const bell = addon.bellOpen();
    const other = addon.bellOpen(); // any pollable descriptor stands in for a TAP
    const fds = new Int32Array(Abi.MAX_INTERFACES).fill(-1);
    fds[9] = other;
    const ep = addon.epollOpen(fds, bell);
    try {
      expect(addon.epollWait(ep, 0)).toBe(0);
      addon.bellRing(bell);
      expect(addon.epollWait(ep, 1000) >>> 0).toBe(BELL_BIT >>> 0);
      addon.bellClear(bell);
      addon.bellRing(other);
      expect(addon.epollWait(ep, 1000)).toBe(1 << 9);
      addon.bellClear(other);
      expect(addon.epollWait(ep, 0)).toBe(0);
    } finally {
      for (const fd of [ep, bell, other]) addon.close(fd);
    }
  });
});
