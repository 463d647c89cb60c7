// An IPv6 vrrp_instance in keepalived.conf, read as keepalived 2.2.7 reads it (vrrp.c
// vrrp_complete_instance, vrrp_parser.c, global_parser.c; `keepalived -t` in a namespace
// took every accepted file here): the instance's family is its first virtual_ipaddress's
// (or native_ipv6's), an address of the other family is skipped with keepalived's words,
// IPv6 means VRRP version 3, the first IPv6 VIP should be link-local, unicast peers of the
// instance's family, vrrp_mcast_group6, vrrp_gna_interval.

import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { loadConfig, readConfig } from "../host/control/load.js";
import { DIRECTOR, tempFolder } from "./helpers/files.js";

const folder = tempFolder("wasmvs-vrrp6-");
let n = 0;
const text = (globals: string, body: string) => `${globals ? `global_defs {\n${globals}}\n` : ""}vrrp_instance V6 {\n  interface outside\n  virtual_router_id 51\n${body}}\n`;
const file = (globals: string, body: string) => folder.write(`${n++}.conf`, `${globals ? `global_defs {\n${globals}}\n` : ""}${DIRECTOR}vrrp_instance V6 {\n  interface outside\n  virtual_router_id 51\n${body}}\n`);
/** keepalived -t on the same instance (no director block), in a network namespace of its own
 *  with an interface named outside: its exit status (0: no remark; 5: remarks) and its words. */
function keepalived(globals: string, body: string): { rc: number | null; out: string } {
  const f = folder.write("k.conf", text(globals, body));
  const r = spawnSync("unshare", ["-n", "sh", "-c", 'ip link add outside type veth peer name eth9 && ip link set outside up && exec keepalived -t -l -f "$0"', f],
    { encoding: "utf8", timeout: 20000 });
  return { rc: r.status, out: (r.stdout + r.stderr).replaceAll(folder.path() + "/", "").trim() };
}
const errorsOf = (f: string) => readConfig(f).errors.map((e) => e.message.replace(`${folder.path()}/`, ""));
const warningsOf = (f: string) => (loadConfig(f).warnings ?? []).map((w) => w.replace(`${folder.path()}/`, ""));

describe("an IPv6 vrrp_instance", () => {
  it("its first address IPv6: version 3, the addresses as RFC 5952 writes them, the global group and NA pacing carried", () => {
    const f = file("  vrrp_mcast_group6 ff02::12\n  vrrp_gna_interval 0.1\n  vrrp_version 2\n", "  priority 150\n  advert_int 0.1\n  virtual_ipaddress {\n    FE80::100/64\n    2001:DB8:0:0::100/64\n  }\n  virtual_ipaddress_excluded {\n    2001:db8::200\n  }\n");
    const cfg = loadConfig(f);
    expect(cfg.vrrp![0]).toMatchObject({ ipv6: true, version: 3, advertIntMs: 100, addresses: ["fe80::100", "2001:db8::100"], gnaIntervalMs: 100,
      excludedAddresses: [{ address: "2001:db8::200" }] });
    expect(cfg.vrrp![0].mcastGroup6).toBeUndefined();
    expect(warningsOf(f)).toEqual([]);
  });

  it("keepalived's words: the first IPv6 VIP should be link-local; an IPv4 address skipped; version 2 becomes 3", () => {
    const f = file("", "  version 2\n  virtual_ipaddress {\n    2001:db8::100\n    10.0.0.100\n  }\n");
    const cfg = loadConfig(f);
    expect(cfg.vrrp![0]).toMatchObject({ ipv6: true, version: 3, addresses: ["2001:db8::100"] });
    expect(warningsOf(f)).toEqual([
      `${n - 1}.conf:17:5: 10.0.0.100: an address of the other family than the instance's (IPv6): skipped, as keepalived ("(V6): address family must match VRRP instance [10.0.0.100] - ignoring"): put it in virtual_ipaddress_excluded (--strict refuses it)`,
      `${n - 1}.conf:15:3: (V6) the first IPv6 VIP address should be link local (as keepalived says; RFC 5798 5.2.9)`,
      `${n - 1}.conf:14:3: version: VRRP over IPv6 is version 3 (RFC 5798): version 3, as keepalived's strict mode ("(V6) cannot use IPv6 with VRRP version 2; setting version 3") (--strict refuses it)`,
    ]);
  });

  it("an IPv4 instance may hold IPv6 addresses in virtual_ipaddress_excluded (keepalived's way to carry both)", () => {
    const cfg = loadConfig(file("", "  virtual_ipaddress {\n    10.0.0.100\n  }\n  virtual_ipaddress_excluded {\n    2001:db8::100\n  }\n"));
    expect(cfg.vrrp![0]).toMatchObject({ version: 2, addresses: ["10.0.0.100"], excludedAddresses: [{ address: "2001:db8::100" }] });
    expect(cfg.vrrp![0].ipv6).toBeUndefined();
  });

  it("native_ipv6, unicast peers and source of the instance's family", () => {
    const cfg = loadConfig(file("", "  native_ipv6\n  unicast_src_ip fe80::ff:fe00:1\n  unicast_peer {\n    fe80::9\n    2001:db8::9\n  }\n  virtual_ipaddress {\n    2001:db8::100\n  }\n"));
    expect(cfg.vrrp![0]).toMatchObject({ ipv6: true, version: 3, unicastPeers: ["fe80::9", "2001:db8::9"] });
  });

  it("refusals, at their words", () => {
    const body = (s: string) => `${s}  virtual_ipaddress {\n    2001:db8::100\n  }\n`;
    expect(errorsOf(file("", body("  unicast_peer {\n    10.0.0.9\n  }\n")))).toEqual([`${n - 1}.conf:15:5: '10.0.0.9': Peer address 10.0.0.9 does not match address family`]);
    expect(errorsOf(file("", `  virtual_ipaddress {\n    10.0.0.100\n  }\n  native_ipv6\n`))).toEqual([`${n - 1}.conf:17:3: 'native_ipv6': (V6) Cannot specify native_ipv6 with IPv4 addresses`]);
    expect(errorsOf(file("", body("  unicast_src_ip fe80::1\n")))).toEqual([`${n - 1}.conf:14:18: 'fe80::1': IPv6 adverts leave from outside's link-local address fe80::ff:fe00:1`]);
    expect(errorsOf(file("", body("  use_vmac\n")))[0]).toContain("use_vmac in an IPv6 instance (keepalived's virtual MAC 00:00:5e:00:02:VRID) is not supported by wasmvs yet");
    expect(errorsOf(file("  vrrp_mcast_group6 224.0.0.18\n", body("")))).toEqual([`${n - 1}.conf:2:21: '224.0.0.18': vrrp_mcast_group6 [224.0.0.18] is not IPv6`]);
    expect(errorsOf(file("  vrrp_mcast_group6 2001:db8::12\n", body("")))).toEqual([`${n - 1}.conf:2:21: '2001:db8::12': vrrp_mcast_group6 [2001:db8::12] is not multicast`]);
    expect(errorsOf(file("  vrrp_gna_interval 0.5s\n", body("")))).toEqual([`${n - 1}.conf:2:21: '0.5s': vrrp_gna_interval '0.5s' is invalid`]);
    // 0: keepalived calls it out of range and keeps its default, 0 (no pause); so does wasmvs, silently.
    expect(errorsOf(file("  vrrp_gna_interval 0\n", body("")))).toEqual([]);
    expect(errorsOf(file("", "  virtual_ipaddress {\n    ff02::5\n  }\n"))[0]).toContain("ff02::5: a virtual address must be unicast (Linux refuses");
  });

  it("vrrp_mcast_group6 of a wider scope: kept, with keepalived's warning", () => {
    const f = file("  vrrp_mcast_group6 ff05::12\n", "  virtual_ipaddress {\n    fe80::100\n  }\n");
    expect(loadConfig(f).vrrp![0].mcastGroup6).toBe("ff05::12");
    expect(warningsOf(f)).toEqual([`${n - 1}.conf:2:21: vrrp_mcast_group6 [ff05::12] should be link-local multicast (as keepalived warns)`]);
  });

  it("keepalived -t on the same instances: what it takes without a remark, and the words wasmvs's warnings and errors quote", () => {
    const vips = "  virtual_ipaddress {\n    2001:db8::100\n  }\n";
    expect(keepalived("  vrrp_mcast_group6 ff02::12\n  vrrp_gna_interval 0.1\n  vrrp_version 2\n", "  priority 150\n  advert_int 0.1\n  virtual_ipaddress {\n    FE80::100/64\n    2001:DB8:0:0::100/64\n  }\n  virtual_ipaddress_excluded {\n    2001:db8::200\n  }\n"))
      .toEqual({ rc: 0, out: "" });
    expect(keepalived("", "  virtual_ipaddress {\n    10.0.0.100\n  }\n  virtual_ipaddress_excluded {\n    2001:db8::100\n  }\n")).toEqual({ rc: 0, out: "" });
    expect(keepalived("", `  native_ipv6\n  unicast_src_ip fe80::ff:fe00:1\n  unicast_peer {\n    fe80::9\n    2001:db8::9\n  }\n${vips}`)).toEqual({ rc: 0, out: "" });
    // keepalived keeps version 2 over IPv6 outside strict mode without a word; wasmvs says it runs 3.
    expect(keepalived("", "  version 2\n  virtual_ipaddress {\n    2001:db8::100\n    10.0.0.100\n  }\n"))
      .toEqual({ rc: 5, out: "(k.conf: Line 7) (V6): address family must match VRRP instance [10.0.0.100] - ignoring" });
    expect(keepalived("", "  virtual_ipaddress {\n    10.0.0.100\n  }\n  native_ipv6\n")).toEqual({ rc: 5, out: "(k.conf: Line 7) (V6) Cannot specify native_ipv6 with IPv4 addresses" });
    expect(keepalived("  vrrp_mcast_group6 224.0.0.18\n", vips)).toEqual({ rc: 5, out: "(Line 2) vrrp_mcast_group6 [224.0.0.18] is not IPv6. Skipping" });
    expect(keepalived("  vrrp_mcast_group6 2001:db8::12\n", vips)).toEqual({ rc: 5, out: "(Line 2) vrrp_mcast_group6 [2001:db8::12] is not multicast. Skipping" });
    expect(keepalived("  vrrp_mcast_group6 ff05::12\n", vips)).toEqual({ rc: 5, out: "(Line 2) vrrp_mcast_group6 [ff05::12] should be link-local multicast." });
    expect(keepalived("  vrrp_gna_interval 0\n", vips).out).toContain("vrrp_gna_interval '0' is invalid");
    // An IPv4 peer ahead of IPv6 addresses makes keepalived's instance IPv4 and skips them all
    // (it would run with no address); wasmvs refuses the peer instead.
    expect(keepalived("", `  unicast_peer {\n    10.0.0.9\n  }\n${vips}`).out).toContain("(V6): address family must match VRRP instance [2001:db8::100] - ignoring");
  });
});

describe("an IPv6 instance on an interface attached by AF_XDP rings", () => {
  it("is refused at its interface keyword: the rings' XDP program leaves IPv6 to the host", async () => {
    const { parseKeepalived } = await import("../host/config/keepalived.js");
    const conf = folder.write("xdp.conf", "director {\n  interface outside {\n    device wvx0\n  }\n}\n" +
      "vrrp_instance V6 {\n  interface outside\n  virtual_router_id 51\n  virtual_ipaddress {\n    fe80::100\n  }\n}\n");
    let message = "no error";
    try { parseKeepalived(conf); } catch (e) { message = (e as Error).message.replace(`${folder.path()}/`, ""); }
    expect(message).toContain("xdp.conf:7:3: 'interface': an IPv6 instance on outside, attached by AF_XDP rings (device wvx0): their XDP program leaves IPv6 to the host, so no advert would reach wasmvs; run it on a TAP interface");
  });
});
