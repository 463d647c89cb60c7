// The end-to-end benchmark's report (bench/e2e/report.ts) from fixed results: the charts
// are there, one bar per path and one line per mode through every size, scaled to the
// values, and names from the results cannot inject markup.

import { describe, it, expect } from "vitest";
import { renderReport, type SavedResults } from "../bench/e2e/report.js";

const saved: SavedResults = {
  date: "2026-11-30T10:00:00.000Z", machine: "test machine", seconds: 4, quick: false,
  results: [
    { path: "direct (kernel)", udpPps: 450000, tcpGbps: 18, httpRps: 190000, httpP99Ms: 0.3 },
    { path: "tapfwd (C, draining)", udpPps: 170000, tcpGbps: 5, httpRps: 140000, httpP99Ms: 0.5, cpuUsPerRequest: 4 },
    { path: "wasmvs NAT", udpPps: 190000, tcpGbps: 5.2, httpRps: 130000, httpP99Ms: 0.7, cpuUsPerRequest: 8 },
    { path: "<script>alert(1)</script>", httpRps: 1, cpuUsPerRequest: 1 },
  ],
  sizes: ["NAT", "DR", "TUN"].flatMap((mode) => [100, 10_000, 100_000, 1_000_000].map((bytes, i) => ({
    mode, bytes, rps: 1000 / (i + 1), mbytesPerSecond: bytes / 1000, cpuUsPerRequest: mode === "NAT" ? 10 * 10 ** i : 10,
  }))),
};

describe("the bench:e2e report", () => {
  const html = renderReport(saved);
  it("has the three kinds of chart as inline SVG, with a bar per path and a line per mode through every size", () => {
    expect(html.match(/<svg /g)).toHaveLength(4);
    expect(html.match(/class="bar"/g)).toHaveLength(4 + 3); // requests/s for 4 paths, CPU for the 3 with a forwarder
    const lines = [...html.matchAll(/<polyline class="series" data-mode="(\w+)" points="([^"]+)"/g)];
    expect(lines.map((m) => m[1])).toEqual(["NAT", "DR", "TUN", "NAT", "DR", "TUN"]);
    for (const m of lines) expect(m[2].split(" ")).toHaveLength(4);
    expect(html).not.toMatch(/<script/i);
  });
  it("scales to the values: NAT's CPU line climbs, DR's stays flat; the longest bar is the largest value", () => {
    const cpuLines = [...html.matchAll(/<polyline class="series" data-mode="(\w+)" points="([^"]+)"/g)].slice(0, 3);
    const ys = (pts: string) => pts.split(" ").map((p) => Number(p.split(",")[1]));
    const nat = ys(cpuLines[0][2]);
    expect(nat[3]).toBeLessThan(nat[0]); // higher on the page: a larger value
    expect(new Set(ys(cpuLines[1][2])).size).toBe(1);
    const widths = [...html.matchAll(/<rect class="bar" x="\d+" y="[\d.]+" width="([\d.]+)"/g)].slice(0, 4).map((m) => Number(m[1]));
    expect(Math.max(...widths)).toBe(widths[0]);
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });
});
