// The connection sync daemons as ipvsadm knows them (--start-daemon, --stop-daemon,
// -L --daemon): a master daemon (this director sends its connections) and a backup daemon
// (it applies another's), each on an interface with a sync ID. The engine does the work
// (assembly/ha/sync.ts); this keeps what was asked and answers for it. With keepalived's
// lvs_sync_daemon the VRRP instance sets the roles instead (host/vrrp/service.ts), and the
// command line may look but not change them, as keepalived would put them back.

import type { EngineAdapter } from "../dataplane/adapter.js";
import type { SyncRoles } from "../config/vrrp.js";
import type { DirectorConfig } from "../config/rules.js";
import { DaemonArgs, IpvsadmError } from "../config/ipvsadm.js";

/** IPVS's default message size for a 1500-byte MTU (ip_vs_sync.c: the MTU less IP and UDP headers). */
export const DEFAULT_SYNC_MAXLEN = 1472;

interface Daemon {
  ifindex: number;
  ifname: string;
  syncid: number;
  maxlen: number;
  /** --mcast-group with a unicast address: the other director. A master sends there (else
   *  to the group); a backup takes unicast sync from there only (else from nobody but the
   *  VRRP master: multicast to the group, TTL 1, is taken from the link). */
  peer?: string;
}

export class SyncDaemons {
  private master?: Daemon;
  private backup?: Daemon;

  constructor(private readonly engine: EngineAdapter, private cfg: DirectorConfig) {}

  /** The running configuration after a reload (whether lvs_sync_daemon holds the roles). */
  configure(cfg: DirectorConfig): void {
    this.cfg = cfg;
  }

  /** ipvsadm --start-daemon. */
  async start(a: DaemonArgs): Promise<void> {
    this.refuseWhenVrrp();
    // IPVS (ip_vs_genl_new_daemon): "The synchronization protocol is incompatible with mixed family services".
    if (this.cfg.services.some((s) => s.realServers.some((r) => (typeof r.daddr !== "number") !== (typeof s.vaddr !== "number")))) {
      throw new IpvsadmError("Invalid argument: a service has a real server of the other address family: the synchronization protocol is incompatible with mixed family services", 255);
    }
    const iface = this.cfg.interfaces.find((i) => i.name === a.ifname || i.tap === a.ifname || i.device === a.ifname);
    if (!iface) {
      throw new IpvsadmError(`no interface ${a.ifname} on this director (interfaces: ${this.cfg.interfaces.map((i) => i.name).join(", ")}; ` +
        "ipvsadm's default is eth0: name one with --mcast-interface)", 2);
    }
    if (this[a.state]) throw new IpvsadmError(`a ${a.state} sync daemon is already running (mcast=${this[a.state]!.ifname}, syncid=${this[a.state]!.syncid})`, 255);
    const d: Daemon = { ifindex: iface.index, ifname: iface.name, syncid: a.syncid, maxlen: a.maxlen ?? DEFAULT_SYNC_MAXLEN, peer: a.peer };
    const other = a.state === "master" ? this.backup : this.master;
    // The engine runs both roles on one interface with one sync ID and message size.
    if (other && (other.ifindex !== d.ifindex || other.syncid !== d.syncid || other.maxlen !== d.maxlen)) {
      throw new IpvsadmError(`the ${a.state === "master" ? "backup" : "master"} sync daemon runs with mcast=${other.ifname}, syncid=${other.syncid}, ` +
        `maxlen=${other.maxlen}: wasmvs runs both with the same interface, sync ID and message size`, 2);
    }
    await this.apply({ ...this.roles(), [a.state]: d });
  }

  /** ipvsadm --stop-daemon. */
  async stop(state: "master" | "backup"): Promise<void> {
    this.refuseWhenVrrp();
    if (!this[state]) throw new IpvsadmError(`no ${state} sync daemon is running`, 255);
    await this.apply({ ...this.roles(), [state]: undefined });
  }

  /** keepalived's lvs_sync_daemon (through VRRP) sets the roles. */
  async follow(o: SyncRoles): Promise<void> {
    const iface = this.cfg.interfaces.find((i) => i.index === o.ifindex)!;
    const d: Daemon = { ifindex: o.ifindex, ifname: iface.name, syncid: o.syncid, maxlen: o.maxlen, peer: o.peer };
    await this.apply({ master: o.send ? d : undefined, backup: o.receive ? d : undefined });
  }

  /** -L --daemon, as ipvsadm 1.31 prints it (list_daemon). */
  list(): string {
    let out = "";
    for (const [state, d] of [["master", this.master], ["backup", this.backup]] as const) {
      if (d) out += `${state} sync daemon (mcast=${d.ifname}, syncid=${d.syncid}, maxlen=${d.maxlen}, group=${d.peer ?? "224.0.0.81"}, port=8848, ttl=1)\n`;
    }
    return out;
  }

  /** The roles running, for the metrics. */
  view(): { master?: { ifname: string; syncid: number }; backup?: { ifname: string; syncid: number } } {
    const v = (d?: Daemon) => (d ? { ifname: d.ifname, syncid: d.syncid } : undefined);
    return { master: v(this.master), backup: v(this.backup) };
  }

  private roles(): { master?: Daemon; backup?: Daemon } {
    return { master: this.master, backup: this.backup };
  }

  private async apply(next: { master?: Daemon; backup?: Daemon }): Promise<void> {
    const d = next.master ?? next.backup;
    await this.engine.sync({ send: !!next.master, receive: !!next.backup, ifindex: d?.ifindex ?? 0, syncid: d?.syncid ?? 0, maxlen: d?.maxlen ?? DEFAULT_SYNC_MAXLEN,
      peer: next.master?.peer, from: next.backup?.peer });
    this.master = next.master;
    this.backup = next.backup;
  }

  private refuseWhenVrrp(): void {
    const sd = this.cfg.syncDaemon;
    if (sd) throw new IpvsadmError(`connection sync follows VRRP instance ${sd.instance} (lvs_sync_daemon in the configuration): it starts and stops the daemons`, 2);
  }
}
