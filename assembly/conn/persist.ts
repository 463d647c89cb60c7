// Persistence (IPVS's ip_vs_sched_persist): a client's connections to a persistent service
// go to the server its first one went to, as long as a template says so. The template is
// keyed by (protocol, client address & netmask, VIP, service port — 0 for a port-zero
// service; for a firewall-mark service protocol 0 and the mark in place of the VIP, so
// that every port and protocol the mark covers shares one) and names the server; it lives the service's persistence timeout after its
// last use, and while connections it controls are alive (conn/table.ts connExpire).
//
// A template whose server was removed is dropped and the client scheduled afresh
// (ip_vs_check_template); one whose server has weight 0 is still used, unless
// expire_quiescent_template is set (then it is dropped too), as IPVS does. A dropped
// template that still controls connections stays, unfindable, until they have gone
// (conn/table.ts templateInvalidate): they hold its slot.

import { connDest } from "./entry";
import { ConnField, ConnFlag, ConnState, DestField } from "../abi";
import { connBase, connCreate, connLookupIn, connSeen, templateInvalidate } from "./table";
import { destAvailable, destBindTemplate, destFwd, destPort, destRec, destWeight, NONE, svcNetmask, svcPersistTimeout, svcPort, svcProto, svcVaddr } from "../svc/service";
import { schedule } from "../sched/index";
import { now, timeoutMsOf } from "../engine/state";
import { syncConn, syncSending } from "../ha/sync";

/** IPVS's expire_quiescent_template sysctl. */
export let expireQuiescentTemplate = false;
export function setExpireQuiescentTemplate(on: bool): void { expireQuiescentTemplate = on; }

/** The template the last persistSchedule() used or made (0: none), for the caller to tie
 *  the new connection to it. */
export let lastTemplate: usize = 0;

@inline function entryIndex(e: usize): u32 { return <u32>((e - connBase) / <usize>ConnField.SIZE); }

/** persistSchedule's answer when the table has no room for the client's template: the
 *  packet is dropped, counted once as DROP_TABLE_FULL (by connCreate), and no connection
 *  is made — IPVS's ip_vs_sched_persist returns NULL with *ignored = -1 and the packet is
 *  dropped, so every connection of a persistent service has its template. */
@inline export const PERSIST_TABLE_FULL: u32 = 0xfffffffe;

/** The real server for a new connection of persistent service s (NONE if none,
 *  PERSIST_TABLE_FULL if its template could not be made). */
export function persistSchedule(s: u32, saddr: u32, daddr: u32, sportWire: u32, dportWire: u32, proto: u32): u32 {
  lastTemplate = 0;
  let tproto = svcProto(s) | <u32>ConnFlag.TEMPLATE_PROTO;
  let tvaddr = svcVaddr(s);
  let cnet = saddr & svcNetmask(s);
  let vport = svcPort(s);
  let tpl = connLookupIn(tproto, cnet, vport << 16, tvaddr);
  let timeoutMs = timeoutMsOf(svcPersistTimeout(s));
  if (tpl != 0) {
    let d = connDest(tpl);
    if (!destAvailable(d) || (expireQuiescentTemplate && destWeight(d) == 0)) {
      templateInvalidate(entryIndex(tpl));
    } else {
      // ip_vs_conn_put: a used template starts its timeout again.
      store<u32>(tpl, now + timeoutMs, ConnField.EXPIRES);
      connSeen(tpl);
      lastTemplate = tpl;
      return d;
    }
  }
  let d = schedule(s, saddr, daddr, sportWire, dportWire, proto);
  if (d == NONE) return NONE;
  let r = destRec(d);
  tpl = connCreate(tproto, cnet, 0, tvaddr, vport, load<u32>(r, DestField.ADDR), destPort(d), d,
    ConnFlag.TEMPLATE | (destFwd(d) << ConnFlag.FWD_SHIFT), ConnState.NONE);
  if (tpl == 0) return PERSIST_TABLE_FULL;
  store<u32>(tpl, now + timeoutMs, ConnField.EXPIRES);
  destBindTemplate(d);
  lastTemplate = tpl;
  if (syncSending) syncConn(tpl);
  return d;
}

/** Tie a new connection to the template it was scheduled by (IPVS's ip_vs_control_add). */
export function persistControl(conn: usize): void {
  if (lastTemplate == 0) return;
  store<u8>(conn, load<u8>(conn, ConnField.FLAGS) | <u8>ConnFlag.CONTROLLED, ConnField.FLAGS);
  store<u32>(conn, entryIndex(lastTemplate) + 1, ConnField.CONTROL);
  store<u32>(lastTemplate, load<u32>(lastTemplate, ConnField.CONTROL) + 1, ConnField.CONTROL);
  lastTemplate = 0;
}
