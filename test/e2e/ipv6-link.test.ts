// IPv6 on the link (issue 20, first round; no IPv6 services yet): a real Linux host on the
// director's segment resolves the director's IPv6 addresses by neighbour discovery (RFC 4861)
// and pings them, the global one from the configuration and the link-local one the engine
// makes from its MAC (modified EUI-64, RFC 4291 appendix A, as Linux does by default).
// TAP only: on AF_XDP rings the XDP program leaves IPv6 to the host's own stack.
import { afterAll, beforeAll, expect, it } from "vitest";
import { Director, DIRECTOR_OUT, OUT_MAC, Sandbox } from "../../host/sandbox/sandbox.js";
import { e2eDescribe } from "./e2e.js";

const DIRECTOR6 = "2001:db8::1";
const CLIENT6 = "2001:db8::2";
/** OUT_MAC 02:00:00:00:00:01 with its universal/local bit flipped and ff:fe in the middle. */
const DIRECTOR_LINK_LOCAL = "fe80::ff:fe00:1";

e2eDescribe("IPv6 on the link: neighbour discovery and echo from a real Linux host", () => {
  let sb: Sandbox;
  let d: Director | undefined;
  beforeAll(async () => {
    sb = await Sandbox.create({ mode: "nat" });
    // The sandbox's namespaces start with IPv6 off; the client gets it back on its NIC.
    sb.must(sb.client, ["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.eth0.disable_ipv6=0"]);
    sb.must(sb.client, ["ip", "-6", "addr", "add", `${CLIENT6}/64`, "dev", "eth0", "nodad"]);
    const config = sb.config([{ protocol: "tcp", port: 80, scheduler: "rr" }]);
    const withV6 = config.replace(`address ${DIRECTOR_OUT}/24`, `address ${DIRECTOR_OUT}/24 address ${DIRECTOR6}/64`);
    expect(withV6).not.toBe(config);
    d = await sb.startDirector(withV6);
  });
  afterAll(async () => {
    await d?.stop().catch(() => {});
    await sb?.destroy();
  });

  it("the client resolves the director's global address (its NS answered with the director's MAC) and pings it", async () => {
    const r = sb.run(sb.client, ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", DIRECTOR6]);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(sb.run(sb.client, ["ip", "-6", "neigh", "show", DIRECTOR6, "dev", "eth0"]).stdout).toContain(`lladdr ${OUT_MAC}`);
    const st = await d!.freshStatus();
    expect(st.counters.neighbour_adverts_sent).toBeGreaterThan(0);
  });

  it("and its link-local address, made from the MAC", () => {
    const r = sb.run(sb.client, ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", `${DIRECTOR_LINK_LOCAL}%eth0`]);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(sb.run(sb.client, ["ip", "-6", "neigh", "show", DIRECTOR_LINK_LOCAL, "dev", "eth0"]).stdout).toContain(`lladdr ${OUT_MAC}`);
  });

  it("every IPv6 frame the client's stack sent (router solicitations, MLD reports, NS, echo) lands in a named counter, none as an unknown ethertype", async () => {
    const c = (await d!.freshStatus()).counters as Record<string, number>;
    expect(c.drop_unsupported_ethertype).toBe(0);
    const drops = Object.entries(c).filter(([k]) => k.startsWith("drop_")).reduce((sum, [, v]) => sum + v, 0);
    expect(c.rx_frames).toBe(drops + c.forwarded + c.consumed + c.queued);
  });
});
