// The TAP addon's errors name the device and say what is wrong; a frame larger than a
// slot is flagged, never truncated silently. Runs inside a namespace it creates.

import { afterAll, beforeAll, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

e2eDescribe("TAP addon", () => {
  const ns = `wvt${process.pid % 10000}`;
  const run = (code: string) => spawnSync("ip", ["netns", "exec", ns, process.execPath, "--input-type=module", "-e", code], { encoding: "utf8" });
  const addon = `const { tapAddon } = await import(${JSON.stringify(join(ROOT, "dist/host/io/tap.js"))}); const a = tapAddon();`;
  beforeAll(() => {
    spawnSync("ip", ["netns", "add", ns]);
  });
  afterAll(() => {
    spawnSync("ip", ["netns", "del", ns]);
  });

  it("says which device is busy", () => {
    const r = run(`${addon} const fd = a.open("wvbusy"); try { a.open("wvbusy"); } catch (e) { console.log(e.message); }`);
    expect(r.stdout.trim()).toMatch(/^cannot attach TAP device wvbusy: Device or resource busy \(the device is in use by another process\)$/);
  });

  it("refuses a name that is not a device name", () => {
    const r = run(`${addon} try { a.open("a-name-much-too-long"); } catch (e) { console.log(e.message); }`);
    expect(r.stdout.trim()).toBe("open(name): name must be a string of 1 to 15 characters");
  });

  it("reads a batch into memory and flags a frame longer than its slot", () => {
    // A TAP with an MTU above the slot: the kernel delivers a 3000-byte frame that a
    // 2048-byte slot cannot hold; the addon marks its true length instead of cutting it.
    const r = run(`${addon}
      import("node:child_process").then(({ execFileSync }) => {
        const fd = a.open("wvbig");
        execFileSync("ip", ["link", "set", "wvbig", "mtu", "3000", "up"]);
        execFileSync("ip", ["addr", "add", "10.9.0.1/24", "dev", "wvbig"]);
        execFileSync("ip", ["neigh", "add", "10.9.0.2", "lladdr", "02:00:00:00:00:02", "dev", "wvbig"]);
        import("node:dgram").then(({ default: dgram }) => {
          const sock = dgram.createSocket("udp4");
          sock.send(Buffer.alloc(2900, 1), 9, "10.9.0.2", () => {
            setTimeout(() => {
              const mem = new ArrayBuffer(16 * 4 + 4 * 2048 + 64);
              const n = a.readBatch(fd, mem, 0, 64, 2048, 64, 0, 4, 3);
              const d = new DataView(mem);
              const lens = []; for (let i = 0; i < n; i++) lens.push([d.getUint32(i * 16, true), d.getUint32(i * 16 + 4, true)]);
              console.log(JSON.stringify(lens));
              sock.close();
            }, 200);
          });
        });
      });`);
    const frames: [number, number][] = JSON.parse(r.stdout.trim() || "[]");
    // Interface 3 on every descriptor; the 2942-byte frame reported longer than the slot's 1984 bytes.
    expect(frames.some(([ifindex, len]) => ifindex === 3 && len > 1984)).toBe(true);
  });
});
