import { configDefaults, defineConfig } from "vitest/config";

// `npm test` runs the unit tests once and the end-to-end tests once per data-path backend:
// the sandbox (host/sandbox/sandbox.ts) wires the director by WASMVS_BACKEND, TAP devices in
// bridges (e2e-tap) or AF_XDP rings on the director host's own NICs (e2e-xdp). A failure
// names its project, so it says which backend. One backend alone: --project e2e-tap.
//
// A file is left out of a pass rather than skipped inside it (CI fails on a skipped test):
/** About TAP itself: the addon, offloads through the virtio-net header, bridge netfilter; and what only a TAP gives the engine. */
const TAP_ONLY = ["test/e2e/tap.test.ts", "test/e2e/tap-backend.test.ts",
  // IPv6 to the engine (on the link, services, VRRP): the rings' XDP program leaves IPv6 to the host's own stack.
  "test/e2e/ipv6-link.test.ts", "test/e2e/ipv6-services.test.ts", "test/e2e/vrrp6-keepalived.test.ts"];
/** No TAP there: the director cabled to its hosts' NICs with no bridge (rings.test.ts); the
 *  ring backend's XDP program frame by frame (xdp-program.test.ts, a namespace of its own). */
const XDP_ONLY = ["test/e2e/rings.test.ts", "test/e2e/xdp-program.test.ts"];
/** No director on a wire (the engine in Chromium, the playground's page, sync messages read
 *  by tshark from a capture written in memory): nothing a backend changes, run once. */
const NO_BACKEND = ["test/e2e/browser.test.ts", "test/e2e/playground.test.ts", "test/e2e/sync-wire.test.ts"];

const E2E = ["test/e2e/**/*.test.ts"];

export default defineConfig({
  test: {
    testTimeout: 120000,
    hookTimeout: 120000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["test/*.test.ts"] } },
      {
        extends: true,
        test: { name: "e2e-tap", include: E2E, exclude: [...configDefaults.exclude, ...XDP_ONLY], env: { WASMVS_BACKEND: "tap" } },
      },
      {
        extends: true,
        test: { name: "e2e-xdp", include: E2E, exclude: [...configDefaults.exclude, ...TAP_ONLY, ...NO_BACKEND], env: { WASMVS_BACKEND: "xdp" } },
      },
    ],
  },
});
