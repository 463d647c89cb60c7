// The engine's ABI: every constant the host and the engine must agree on, defined once.
//
// This file is compiled twice: by asc into the engine and by tsc into the host
// (host/engine/abi.ts re-exports it). It may therefore hold enums only — no
// AssemblyScript-only types, no Node-only code. The host checks at load time that
// the engine it talks to was built from the same ABI (Abi.VERSION).

export enum Abi {
  /** Bumped whenever anything below changes meaning or size. 2: reset and reuse counters,
   *  three drop reasons, the unknown-traffic replies setting. 3: persistence (service
   *  timeout and netmask, templates, persistent-connection counts, port-zero services),
   *  firewall marks (rules, services of protocol 0 keyed by their mark). 4: VRRP (instances,
   *  addresses owned only while master, the advert queue to the host, its counters),
   *  connection sync (IPVS sync protocol v1 sent and received by the engine). 5: schedulers
   *  sed, nq, fo, ovf, twos, lblc (its table at the end of memory), mh (its tables too),
   *  maglev (init's ninth argument: how many services may use it); scheduler flags
   *  (ServiceField.SCHED_FLAGS); DestField.LAST_WEIGHT; one-packet scheduling (service flag
   *  bit 1); sloppy_tcp; lblcr (its table at the end of memory); init's tenth argument: mh's
   *  table size; the eleventh: maglev's M. 6: SYNC_MESSAGES_RECEIVED and syncIdle (a
   *  backup's silence, for the metrics). 7: tables the size of a large cluster (issue 19):
   *  up to 1,048,576 real servers, so a connection's server index takes 20 bits (ConnField.DEST
   *  and the high nibble of FLAGS2) and scheduler tables hold u32 indexes; sh, dh, mh and
   *  maglev tables come from one scheduler arena (init's twelfth argument: its bytes; the
   *  ninth, maglev services, adds room for that many maglev tables); ServiceField.SCHED_TABLE
   *  and SCHED_TABLE_DIRTY; lblc/lblcr entries widened. 8: IPv6 on the link (issue 20): drop
   *  reasons DROP_IPV6_* (the header gate and its extension-header walk), DROP_ICMPV6_* and
   *  DROP_NDP_* (RFC 4861 7.1.1/7.1.2) inserted after DROP_SYNC_BAD_MAC, so the counters from
   *  SYNC_CONNS_OVER_SHARE on moved up; NEIGHBOUR_ADVERTS_SENT; Abi.MAX_IPV6_ADDRESSES and
   *  the interface IPv6 exports (setInterfaceIpv6, deleteInterfaceIpv6, interfaceIpv6Word,
   *  interfaceIpv6PrefixLen); the IPv6 neighbour table (Neigh6Field, Abi.MAX_IPV6_NEIGHBOURS,
   *  neighbourV6Find, neighbourV6Count, flushNeighboursV6). Still 8 in the second round (not
   *  released between): IPv6 forwarding — ServiceField.VADDR6 (SIZE 64 -> 80), DestField.ADDR6
   *  (SIZE 56 -> 72) and DestFlag.V6, Neigh6Field.LAST_PROBE/PROBES (SIZE 32 -> 40), the IPv6
   *  connection entry Conn6Field (80 bytes, a region init places after VRRP_QUEUE),
   *  NEIGHBOUR_SOLICITS_SENT appended (COUNT 102); exports addServiceV6, findServiceV6,
   *  addDestV6, findDestV6, connectionV6Count/Bound/At; VRRP over IPv6 (VrrpQueue.SRC6,
   *  vrrpInstance's flag 8, vrrpAddress6, vrrpAdvert6, vrrpGroup6, sendUnsolicitedNa). */
  VERSION = 8,
  /** Bytes kept free in front of every frame so IPIP encapsulation (20 bytes) and
   *  option stripping can move the frame start backwards in place. */
  HEADROOM = 64,
  /** struct virtio_net_hdr, kept in the headroom before each frame in vnet mode. */
  VNET_HDR_LEN = 10,
  /** RX and TX descriptors: 4 x u32. */
  DESC_SIZE = 16,
  MAX_INTERFACES = 16,
  MAX_ROUTES = 64,
  /** sh and dh use IPVS's default table size (CONFIG_IP_VS_SH_TAB_BITS = 8). */
  SCHED_BUCKETS = 256,
  /** The largest tables an engine may have: 65,536 services, 1,048,576 real servers (20
   *  bits in a connection), 65,535 real servers in one service (ServiceField.DEST_COUNT). */
  MAX_SERVICES = 65536,
  MAX_REAL_SERVERS = 1048576,
  MAX_SERVICE_REAL_SERVERS = 65535,
  /** Firewall-mark rules (svc/mark.ts), and port ranges in one rule (iptables multiport's 15). */
  MAX_MARK_RULES = 256,
  MAX_MARK_PORT_RANGES = 15,
  /** VRRP instances and the addresses they hold (ha/vrrp.ts). */
  MAX_VRRP_INSTANCES = 32,
  MAX_VRRP_ADDRESSES = 256,
  /** Adverts the engine keeps for the host between two of its reads (VrrpQueue). */
  VRRP_QUEUE_ENTRIES = 64,
  /** IPv6 addresses of one interface: its link-local (slot 0, from the MAC by modified
   *  EUI-64) and up to three global ones (route/route.ts). */
  MAX_IPV6_ADDRESSES = 4,
  /** Entries of the IPv6 neighbour table (neigh/neigh6.ts; a power of two). */
  MAX_IPV6_NEIGHBOURS = 256,
}

/** The advert queue (Region.VRRP_QUEUE): a u32 count at 0, entries of ENTRY_SIZE from
 *  FIRST on, each: instance u32, source address u32 (wire order), length u32 of the VRRP
 *  message, the message itself (at most ENTRY_SIZE - DATA bytes). The host reads the
 *  entries and zeroes the count. */
export enum VrrpQueue {
  COUNT = 0,
  FIRST = 64,
  INSTANCE = 0,
  SRC = 4,
  LEN = 8,
  DATA = 16,
  ENTRY_SIZE = 256,
  /** An IPv6 instance's entry (ha/vrrp6.ts): SRC 0, the 16-byte source here, the message
   *  at most SRC6 - DATA bytes (13 IPv6 addresses). */
  SRC6 = 240,
}

/** RX descriptor i (written by the host): the frame is at slot i + HEADROOM. */
export enum RxDesc {
  IFINDEX = 0,
  LEN = 4,
}

/** TX descriptor i (written by the engine). PTR is an absolute address in linear memory. */
export enum TxDesc {
  PTR = 0,
  LEN = 4,
  IFINDEX = 8,
}

/** Regions of linear memory, laid out by init(); regionOffset(r) returns their start. */
export enum Region {
  RX_DESC = 0,
  RX_SLOTS = 1,
  TX_DESC = 2,
  COUNTERS = 3,
  SERVICES = 4,
  SERVICE_STATS = 5,
  DESTS = 6,
  DEST_STATS = 7,
  CONNS = 8,
  NEIGHBOURS = 9,
  SCRATCH = 10,
  /** Bytes the embedder asked init() to set aside for its own use (benchmarks keep
   *  frame templates there); the engine never touches them. */
  RESERVED = 11,
  /** VRRP adverts for the host (VrrpQueue). */
  VRRP_QUEUE = 12,
  END = 13,
  COUNT = 14,
}

/** Parameters of init(), in this order. */
export enum InitParam {
  BATCH = 0,
  SLOT_SIZE = 1,
  CONN_CAPACITY = 2,
  MAX_SERVICES = 3,
  MAX_DESTS = 4,
  MAX_NEIGHBOURS = 5,
  HASH_SEED = 6,
  RESERVE = 7,
}

/** Error codes returned by control-path exports (0 = ok). Names in host/engine/errors.ts. */
export enum Err {
  OK = 0,
  NOT_INITIALISED = 1,
  BAD_ARGUMENT = 2,
  NO_MEMORY = 3,
  EXISTS = 4,
  NOT_FOUND = 5,
  FULL = 6,
  NOT_ON_LINK = 7,
  PORT_MISMATCH = 8,
  NO_ROUTE = 9,
}

export enum Proto {
  ICMP = 1,
  IPIP = 4,
  TCP = 6,
  UDP = 17,
  VRRP = 112,
}

/** Forwarding method of a real server, as IPVS's IP_VS_CONN_F_FWD_MASK values. */
export enum Fwd {
  MASQ = 0,
  TUNNEL = 2,
  DROUTE = 3,
}

export enum Sched {
  RR = 0,
  WRR = 1,
  LC = 2,
  WLC = 3,
  SH = 4,
  DH = 5,
  SED = 6,
  NQ = 7,
  FO = 8,
  OVF = 9,
  TWOS = 10,
  LBLC = 11,
  MH = 12,
  /** wasmvs's own: Maglev as the paper and Katran build it (sched/maglev.ts). */
  MAGLEV = 13,
  LBLCR = 14,
  COUNT = 15,
}

/** Per-service and per-real-server statistics: 5 x u64, like struct ip_vs_kstats. */
export enum Stat {
  CONNS = 0,
  INPKTS = 8,
  OUTPKTS = 16,
  INBYTES = 24,
  OUTBYTES = 32,
  SIZE = 40,
}

/** Real-server record (DESTS region), fields the host reads. */
export enum DestField {
  ADDR = 0,
  PORT = 4,
  FWD = 6,
  FLAGS = 7,
  WEIGHT = 8,
  UTHRESHOLD = 12,
  LTHRESHOLD = 16,
  ACTIVE = 20,
  INACTIVE = 24,
  SERVICE = 28,
  NEXT = 32,
  /** The server's cached next hop (like IPVS's per-destination dst cache): valid while
   *  NH_GENERATION equals the routing generation and the neighbour entry at NH_NEIGHBOUR
   *  still resolves NH_ADDR. */
  NH_GENERATION = 36,
  NH_ADDR = 40,
  NH_NEIGHBOUR = 44,
  /** Persistence templates pointing here (IPVS's dest->persistconns). */
  PERSIST_CONNS = 48,
  /** IPVS's dest->last_weight: the weight at the add and the last non-zero one since (mh
   *  builds its table on it, so that quiescing a server does not reshuffle the others). */
  LAST_WEIGHT = 52,
  /** A real server of an IPv6 service: its address in wire order (ADDR then holds IPVS's
   *  fold ip6[0]^ip6[1]^ip6[2]^ip6[3], which the dest hash and sh/dh/mh use). */
  ADDR6 = 56,
  SIZE = 72,
}

export enum DestFlag {
  USED = 1,
  /** IP_VS_DEST_F_AVAILABLE: cleared when the server is removed; it then lingers
   *  (like IPVS's trash) until its last connection is gone. */
  AVAILABLE = 2,
  /** IP_VS_DEST_F_OVERLOAD: over the upper threshold. */
  OVERLOAD = 4,
  /** A real server of an IPv6 service (its address in DestField.ADDR6). */
  V6 = 8,
}

/** Service record (SERVICES region), fields the host reads. */
export enum ServiceField {
  VADDR = 0,
  VPORT = 4,
  PROTO = 6,
  FLAGS = 7,
  SCHED = 8,
  /** IPVS's scheduler flags (IP_VS_SVC_F_SCHED1..3 >> 3): bit 0 flag-1 (sh-fallback,
   *  mh-fallback), bit 1 flag-2 (sh-port, mh-port), bit 2 flag-3. */
  SCHED_FLAGS = 9,
  DEST_COUNT = 10,
  DEST_HEAD = 12,
  /** The service's scheduler table in the scheduler arena (sh, dh: SCHED_BUCKETS entries;
   *  mh, maglev: one entry per slot; u32 server indexes), 0: none (sched/arena.ts). */
  SCHED_TABLE = 32,
  /** Non-zero: the table must be built again before it is used (maglev builds lazily). */
  SCHED_TABLE_DIRTY = 36,
  /** Persistence timeout in seconds (-p); 0: not persistent. */
  PERSIST_TIMEOUT = 48,
  /** Persistence netmask (-M), network byte order as loaded little-endian. */
  NETMASK = 52,
  /** An IPv6 service (FLAGS bit 4): its VIP in wire order; VADDR holds IPVS's fold
   *  ip6[0]^ip6[1]^ip6[2]^ip6[3] (ip_vs_svc_hashkey), and the service sits in the IPv6
   *  service hash, never found by an IPv4 lookup. */
  VADDR6 = 64,
  SIZE = 80,
}

/** TCP states, numbered as IPVS's IP_VS_TCP_S_*; UDP connections use UDP. */
export enum ConnState {
  NONE = 0,
  ESTABLISHED = 1,
  SYN_SENT = 2,
  SYN_RECV = 3,
  FIN_WAIT = 4,
  TIME_WAIT = 5,
  CLOSE = 6,
  CLOSE_WAIT = 7,
  LAST_ACK = 8,
  LISTEN = 9,
  SYNACK = 10,
  UDP = 11,
  COUNT = 12,
}

/** Connection entry (CONNS region): 40 bytes. Addresses and ports in wire order. The real
 *  server's index has 20 bits: bits 0-15 in DEST, bits 16-19 in the high nibble of FLAGS2
 *  (conn/entry.ts reads both with one u32 load; the entry stays 40 bytes, so the hot path
 *  touches the same cache lines as before). */
export enum ConnField {
  CADDR = 0,
  CPORT = 4,
  VPORT = 6,
  VADDR = 8,
  DADDR = 12,
  DPORT = 16,
  PROTO = 18,
  STATE = 19,
  DEST = 20,
  FLAGS = 22,
  /** ConnFlag2 bits (the byte after FLAGS). */
  FLAGS2 = 23,
  EXPIRES = 24,
  NEXT_IN = 28,
  NEXT_OUT = 32,
  /** A connection: its persistence template (entry index + 1; 0: none). A template: the
   *  connections it controls (IPVS's n_control), which keep it alive. */
  CONTROL = 36,
  SIZE = 40,
}

export enum ConnFlag {
  USED = 1,
  /** IP_VS_CONN_F_INACTIVE: counted in the server's inactive connections. */
  INACTIVE = 2,
  /** IP_VS_CONN_F_NOOUTPUT: DR/TUN, replies are not seen; TCP uses the INPUT-ONLY table. */
  NOOUTPUT = 4,
  /** Hashed in the reply (real server side) table: NAT only. */
  HASHED_OUT = 8,
  /** The forwarding method bound at creation (Fwd), in bits 4-5: a connection keeps
   *  the method it started with even if its server is edited, as IPVS's bound xmit. */
  FWD_SHIFT = 4,
  FWD_MASK = 0x30,
  /** IP_VS_CONN_F_TEMPLATE: a persistence template, hashed under PROTO | TEMPLATE_PROTO
   *  with client port 0, so no packet's lookup can meet it. */
  TEMPLATE = 0x40,
  /** A connection controlled by a template (CONTROL holds it). */
  CONTROLLED = 0x80,
  TEMPLATE_PROTO = 0x80,
  /** connCreate's flags from this bit on go to FLAGS2 (>> 8). */
  FLAGS2_SHIFT = 8,
}

/** ConnField.FLAGS2 bits. */
export enum ConnFlag2 {
  /** Made by connection sync and matched by no packet yet (conn/table.ts): it counts in
   *  the synced share, a new connection may evict it when the table is full, and a SYN
   *  that meets it is scheduled afresh. The first packet that matches it clears it. */
  SYNCED = 1,
  /** Bits 16-19 of the real server's index (ConnField.DEST holds bits 0-15). */
  DEST_HI_SHIFT = 4,
  DEST_HI_MASK = 0xf0,
}

/**
 * Global counters (COUNTERS region, u64 each). Every dropped frame bumps exactly one
 * DROP_* counter; every frame handed to the engine bumps RX_FRAMES.
 * Invariant checked by the tests: RX_FRAMES = sum(DROP_*) + FORWARDED + CONSUMED + QUEUED.
 */
export enum Counter {
  RX_FRAMES = 0,
  /** Frames sent on (NAT, DR, TUN, echo replies are CONSUMED). */
  FORWARDED = 1,
  /** Frames the engine answered or absorbed (ARP, echo request, ICMP error it generated for). */
  CONSUMED = 2,
  /** Frames parked while their next hop is being resolved. */
  QUEUED = 3,
  TX_FRAMES = 4,
  CONNS_CREATED = 5,
  CONNS_EXPIRED = 6,
  CONNS_RECLAIMED = 7,
  ARP_REQUESTS_SENT = 8,
  ARP_REPLIES_SENT = 9,
  ICMP_ERRORS_SENT = 10,
  QUEUE_RELEASED = 11,
  QUEUE_DROPPED = 12,
  /** Frames the engine built (ARP requests, ICMP errors) lost for want of TX room. */
  GENERATED_LOST = 13,
  /** TCP resets the engine sent for segments to a VIP it has no connection or service for. */
  RESETS_SENT = 14,
  /** Connections a new SYN replaced (IPVS's conn_reuse_mode): TIME_WAIT/CLOSE, or a
   *  removed or quiescent server. */
  CONNS_REUSED = 15,
  /** VRRP adverts queued for the host, and sent. */
  VRRP_ADVERTS_RECEIVED = 16,
  VRRP_ADVERTS_SENT = 17,
  /** Connection sync (ha/sync.ts): messages and connections sent; connections received and
   *  applied; received ones this director has no service or real server for. */
  SYNC_MESSAGES_SENT = 18,
  SYNC_CONNS_SENT = 19,
  SYNC_CONNS_RECEIVED = 20,
  SYNC_CONNS_UNMATCHED = 21,
  FIRST_DROP = 22,
  DROP_FRAME_TOO_SHORT = 22,
  DROP_FRAME_TOO_BIG = 23,
  DROP_NO_INTERFACE = 24,
  DROP_OTHER_HOST = 25,
  DROP_UNSUPPORTED_ETHERTYPE = 26,
  DROP_ARP_MALFORMED = 27,
  DROP_ARP_NOT_FOR_US = 28,
  DROP_IP_TRUNCATED = 29,
  DROP_IP_BAD_VERSION = 30,
  DROP_IP_BAD_IHL = 31,
  DROP_IP_BAD_LENGTH = 32,
  DROP_IP_BAD_CHECKSUM = 33,
  DROP_IP_FRAGMENT = 34,
  DROP_L4_TRUNCATED = 35,
  DROP_UNSUPPORTED_PROTOCOL = 36,
  DROP_NOT_FOR_US = 37,
  DROP_NO_SERVICE = 38,
  DROP_NO_CONNECTION = 39,
  DROP_NO_DEST = 40,
  DROP_DEST_UNAVAILABLE = 41,
  DROP_TABLE_FULL = 42,
  DROP_TTL_EXCEEDED = 43,
  DROP_NEEDS_FRAGMENTATION = 44,
  DROP_TOO_BIG_NO_DF = 45,
  DROP_NO_ROUTE = 46,
  DROP_ICMP_MALFORMED = 47,
  DROP_ICMP_BAD_CHECKSUM = 48,
  DROP_ICMP_UNHANDLED = 49,
  DROP_ICMP_NO_CONNECTION = 50,
  DROP_NEIGH_QUEUE_FULL = 51,
  DROP_TX_FULL = 52,
  DROP_TCP_RST_NO_CONN = 53,
  /** A large (GSO) segment from a TAP with offloads, for a path that cannot carry it (TUN). */
  DROP_GSO_UNSUPPORTED = 54,
  /** An ICMP error quoting a fragment other than the first: its ports are not there. */
  DROP_ICMP_QUOTES_FRAGMENT = 55,
  /** An ICMP error whose quote stops inside the quoted IP header or its first 8 bytes. */
  DROP_ICMP_QUOTE_TRUNCATED = 56,
  /** A packet with a loose or strict source route option (RFC 791 LSRR/SSRR): a director
   *  does not let senders steer traffic through it (Linux: accept_source_route=0). */
  DROP_IP_SOURCE_ROUTED = 57,
  /** VRRP (RFC 3768, 5798) adverts keepalived would drop too (vrrp_check_packet): TTL not
   *  255, a version other than 2 or 3 or than the instance's, a type other than advert, a
   *  length that does not match the address count, a bad checksum, a VRID no instance has. */
  DROP_VRRP_BAD_TTL = 58,
  DROP_VRRP_BAD_VERSION = 59,
  DROP_VRRP_BAD_TYPE = 60,
  DROP_VRRP_BAD_LENGTH = 61,
  DROP_VRRP_BAD_CHECKSUM = 62,
  DROP_VRRP_NO_INSTANCE = 63,
  /** The host had not read the adverts queued since its last read. */
  DROP_VRRP_QUEUE_FULL = 64,
  /** Traffic for an address of a VRRP instance this director is not master of. */
  DROP_NOT_MASTER = 65,
  /** IPVS sync messages (ip_vs_sync.c's checks): a size, version or entry that does not
   *  add up; another director group's sync ID. */
  DROP_SYNC_MALFORMED = 66,
  DROP_SYNC_OTHER_SYNCID = 67,
  /** Sync messages from a source sync does not accept (ha/sync.ts): unicast from other than
   *  the configured peer or the VRRP master; multicast with a TTL other than 1 (it was
   *  routed, or sent from off the link); to a multicast group other than 224.0.0.81; a
   *  UDP checksum that does not add up. */
  DROP_SYNC_BAD_SOURCE = 68,
  DROP_SYNC_BAD_TTL = 69,
  DROP_SYNC_BAD_GROUP = 70,
  DROP_SYNC_BAD_CHECKSUM = 71,
  /** With a sync key set (ha/auth.ts): a message without a MAC trailer, or whose MAC is not
   *  the key's. */
  DROP_SYNC_BAD_MAC = 72,
  /** IPv6 (RFC 8200) the header gate refuses (wire/ipv6.ts ipv6Check): fewer than 40 bytes;
   *  a version other than 6; a payload length past the frame; a multicast source or the
   *  loopback address on the wire (Linux ipv6_rcv drops both). */
  DROP_IPV6_TRUNCATED = 73,
  DROP_IPV6_BAD_VERSION = 74,
  DROP_IPV6_BAD_LENGTH = 75,
  DROP_IPV6_BAD_ADDRESS = 76,
  /** Its extension-header walk: a header that runs past the payload, a hop-by-hop header
   *  other than first (RFC 8200 4.1), an option that runs past its header; more headers
   *  than the walk's bound (Ipv6Limit.EXT_HEADERS); a routing header of type 0, deprecated
   *  by RFC 5095 for its amplification attack; another routing header with segments left
   *  (a director does not let senders steer traffic through it); a fragment other than an
   *  atomic one (RFC 6946) — as DROP_IP_FRAGMENT for IPv4, until reassembly exists; an
   *  option whose type says "discard if unrecognised" (RFC 8200 4.2, action bits not 00). */
  DROP_IPV6_EXT_MALFORMED = 77,
  DROP_IPV6_EXT_CHAIN_TOO_LONG = 78,
  DROP_IPV6_ROUTING_TYPE0 = 79,
  DROP_IPV6_SOURCE_ROUTED = 80,
  DROP_IPV6_FRAGMENT = 81,
  DROP_IPV6_UNKNOWN_OPTION = 82,
  /** A multicast frame or packet for a group this director has not joined (only all-nodes
   *  ff02::1 and the solicited-node groups of its addresses, RFC 4291 2.7.1). */
  DROP_IPV6_MULTICAST_NOT_FOR_US = 83,
  /** ICMPv6 (RFC 4443) shorter than its header, or whose checksum (with the IPv6
   *  pseudo-header) does not add up; a type the engine does not answer (echo replies,
   *  router messages, MLD, errors until the v6 NAT path relays them). */
  DROP_ICMPV6_MALFORMED = 84,
  DROP_ICMPV6_BAD_CHECKSUM = 85,
  DROP_ICMPV6_UNHANDLED = 86,
  /** Neighbour Solicitations and Advertisements RFC 4861 7.1.1 and 7.1.2 say to discard:
   *  hop limit not 255 (the message came from off the link); code not 0; shorter than 24
   *  bytes or a multicast target; an option of length 0 or past the message; from the
   *  unspecified address (DAD) with a source link-layer option or to other than a
   *  solicited-node group; an advertisement to a multicast address with the Solicited flag. */
  DROP_NDP_BAD_HOP_LIMIT = 87,
  DROP_NDP_BAD_CODE = 88,
  DROP_NDP_MALFORMED = 89,
  DROP_NDP_BAD_OPTION = 90,
  DROP_NDP_BAD_UNSPECIFIED_SOURCE = 91,
  DROP_NDP_SOLICITED_TO_MULTICAST = 92,
  /** A solicitation for an address that is not this director's. */
  DROP_NDP_TARGET_NOT_OURS = 93,
  /** An advertisement for a neighbour the director has no entry for: Linux ignores these
   *  (ndisc_recv_na finds no neighbour), so unsolicited ones cannot plant entries. */
  DROP_NDP_NA_UNSOLICITED = 94,
  /** An advertisement for one of the director's own addresses: another node claims it
   *  (Linux logs "someone advertises our address") and the director keeps it. */
  DROP_NDP_NA_FOR_OUR_ADDRESS = 95,
  LAST_DROP = 95,
  /** Synced connections refused because synced-but-never-seen entries hold their share of
   *  the table already, or the table is full (sync never evicts). */
  SYNC_CONNS_OVER_SHARE = 96,
  SYNC_CONNS_TABLE_FULL = 97,
  /** Synced-but-never-seen entries a new connection evicted when the table was full. */
  CONNS_EVICTED_SYNCED = 98,
  /** Sync messages a backup accepted (every check passed, its entries applied or counted):
   *  with the master's SYNC_MESSAGES_SENT, what alerting compares across the pair. */
  SYNC_MESSAGES_RECEIVED = 99,
  /** Neighbour Advertisements the engine sent in answer to solicitations (RFC 4861 7.2.4). */
  NEIGHBOUR_ADVERTS_SENT = 100,
  /** Neighbour Solicitations the engine sent to resolve an IPv6 next hop (RFC 4861 7.2.2,
   *  multicast to the solicited-node group) or to probe a stale one (7.3.3, unicast). */
  NEIGHBOUR_SOLICITS_SENT = 101,
  COUNT = 102,
}

/** Neighbour (ARP) entry (NEIGHBOURS region), 24 bytes. */
export enum NeighField {
  IP = 0,
  MAC = 4,
  STATE = 10,
  IFINDEX = 11,
  CONFIRMED = 12,
  LAST_PROBE = 16,
  PROBES = 20,
  SIZE = 24,
}

/** IPv6 neighbour entry (neigh/neigh6.ts), 40 bytes: the address in wire order, the MAC,
 *  a NeighState, the interface, when it was last confirmed (ms), when the last solicitation
 *  went (ms) and how many went (u8). */
export enum Neigh6Field {
  ADDR = 0,
  MAC = 16,
  STATE = 22,
  IFINDEX = 23,
  CONFIRMED = 24,
  /** Resolution (RFC 4861 7.2.2, 7.3.3): when the last solicitation went, and how many. */
  LAST_PROBE = 28,
  PROBES = 32,
  SIZE = 40,
}

/** IPv6 connection entry (conn/table6.ts), 80 bytes: a region of its own beside the IPv4
 *  table, so an IPv4 entry stays 40 bytes and the IPv4 lookups touch nothing new. */
export enum Conn6Field {
  CADDR = 0,
  VADDR = 16,
  DADDR = 32,
  CPORT = 48,
  VPORT = 50,
  DPORT = 52,
  PROTO = 54,
  STATE = 55,
  /** ConnFlag bits (USED, INACTIVE, HASHED_OUT, NOOUTPUT, the forwarding method). */
  FLAGS = 56,
  DEST = 60,
  EXPIRES = 64,
  NEXT_IN = 68,
  NEXT_OUT = 72,
  SIZE = 80,
}

/** Neighbour states (NeighField.STATE); 0 is an empty slot. */
export enum NeighState {
  INCOMPLETE = 1,
  REACHABLE = 2,
  STATIC = 3,
  FAILED = 4,
  /** Linux's NUD_STALE, NUD_DELAY, NUD_PROBE (neigh/neigh.ts): the MAC is still used. */
  STALE = 5,
  DELAY = 6,
  PROBE = 7,
}

/** Counters of the decapsulator (wasm/decap.wasm, `wasmvs decap`), u64 each. */
export enum DecapCounter {
  RX_FRAMES = 0,
  /** Every tunnel packet unwrapped; the three below count the IPv6 kinds among them. */
  DECAPSULATED = 1,
  PASSED_UP = 2,
  PASSED_DOWN = 3,
  TX_FRAMES = 4,
  /** IPv6 in IPv4 (protocol 41): IPVS's TUN to an IPv4 real server of an IPv6 service. */
  DECAPSULATED_6IN4 = 5,
  /** IPv6 in IPv6 (next header 41): ip_vs_tunnel_xmit_v6. */
  DECAPSULATED_IP6IP6 = 6,
  /** IPv4 in IPv6 (next header 4): TUN to an IPv6 real server of an IPv4 service. */
  DECAPSULATED_4IN6 = 7,
  FIRST_DROP = 8,
  DROP_BAD_OUTER = 8,
  DROP_OUTER_FRAGMENT = 9,
  DROP_BAD_INNER = 10,
  DROP_ECN = 11,
  DROP_FRAME_TOO_BIG = 12,
  DROP_TX_FULL = 13,
  LAST_DROP = 13,
  COUNT = 14,
}

/** Interfaces of the decapsulator. */
export enum DecapPort {
  UPLINK = 0,
  STACK = 1,
}
