/*
 * wasmvs's ring backend: an existing interface of the host (a NIC, a veth) attached through
 * AF_XDP sockets, so a director needs no bridge and no TAP, and frames move through rings
 * shared with the kernel instead of a read() or write() per frame.
 *
 * Per attached device:
 *   - an XDP program (below, hand-assembled: no compiler at run time) that steals, for the
 *     engine, what an IPVS director's kernel would hand to IPVS, and passes the rest to the
 *     host's own stack: an IPv4 frame to the device's MAC whose destination is not an address
 *     of this host (VIPs, NAT replies on their way to clients, the engine's own addresses when
 *     they differ from the host's), VRRP (IP protocol 112, keepalived's adverts, multicast or
 *     unicast) and IPVS connection sync (UDP port 8848); ARP, IPv6, the host's own traffic and
 *     every other group frame go to the host. The host's addresses are a BPF hash map kept up
 *     to date by ringRefresh (the data-path thread calls it once a second).
 *   - one AF_XDP socket per receive queue of the device, in copy mode (XDP_COPY: veths have
 *     no zero-copy, and copy mode frees a TX frame's memory as soon as the kernel has taken
 *     it), each with a UMEM of its own: half its frames wait in the fill ring for received
 *     frames, half carry frames to send.
 *   - an AF_PACKET socket for ARP: ARP passes to the host (which answers for its own
 *     addresses), and the engine reads a copy of each ARP frame — to answer for the VIPs and
 *     to learn its neighbours — as IPVS's director shares the kernel's neighbour table.
 *   - the XDP program is attached with a bpf_link: when the process ends, however it ends, the
 *     kernel closes the link and the device is left as it was.
 *
 * Copies per frame: received, the kernel copies it into the UMEM and this file into the
 * engine's RX slot; sent, this file copies it into a UMEM frame and the kernel into an skb.
 * (A TAP: one copy each way, in read() and write().)
 */
#define _GNU_SOURCE
#include "rings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

/* Frames per socket's UMEM: half for receiving, half for sending. */
#define RING_FRAMES 4096u
#define RING_SIZE (RING_FRAMES / 2)
/* Receive queues attached per device (a NIC's RSS queues; a veth has one). */
#define MAX_QUEUES 32
/* IPVS's connection sync port (ip_vs_sync.c: IP_VS_SYNC_PORT). */
#define SYNC_PORT 8848
/* Addresses of the host the XDP program passes to the host's stack. */
#define MAX_LOCAL 1024

typedef struct {
  uint32_t *producer, *consumer;
  void *ring;
  uint32_t mask;
  void *map;
  size_t map_len;
} xring;

typedef struct {
  int fd;
  uint8_t *umem;
  size_t umem_len;
  xring fill, comp, rx, tx;
  /* TX frames not in flight (addresses in the UMEM), a stack. */
  uint64_t free_tx[RING_SIZE];
  uint32_t n_free;
  uint32_t tx_queued; /* on the TX ring since the last kick */
} xsk_queue;

struct ring_port {
  int key; /* queues[0].fd */
  char name[IF_NAMESIZE];
  int ifindex;
  int n_queues;
  xsk_queue q[MAX_QUEUES];
  int arp_fd;
  int arp_ready; /* epoll reported the ARP socket readable (ring_arp_ready); set until a read finds it empty */
  int prog_fd, link_fd, xsk_map, local_map;
  uint32_t chunk;
  uint32_t next_read; /* the queue whose turn it is */
  int generic;        /* XDP in the stack's generic mode: the driver has none of its own */
  int veth;           /* frames may carry partial checksums (finish_partial), as in generic mode */
  double arp_drops;   /* ARP copies the AF_PACKET socket had no room for (PACKET_STATISTICS, summed) */
  struct ring_port *next;
};

static ring_port *ports; /* a short list: one per attached device */

ring_port *ring_port_of(int fd) {
  for (ring_port *p = ports; p; p = p->next)
    if (p->key == fd) return p;
  return NULL;
}

/* ---- the bpf() syscall ------------------------------------------------------------------- */

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(__NR_bpf, cmd, attr, sizeof *attr); }

static int map_create(uint32_t type, uint32_t key, uint32_t value, uint32_t max, const char *name) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = type;
  a.key_size = key;
  a.value_size = value;
  a.max_entries = max;
  strncpy(a.map_name, name, sizeof a.map_name - 1);
  return (int)sys_bpf(BPF_MAP_CREATE, &a);
}

static int map_update(int fd, const void *key, const void *value) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = fd;
  a.key = (uint64_t)(uintptr_t)key;
  a.value = (uint64_t)(uintptr_t)value;
  a.flags = BPF_ANY;
  return (int)sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int map_delete(int fd, const void *key) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = fd;
  a.key = (uint64_t)(uintptr_t)key;
  return (int)sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

static int map_next_key(int fd, const void *key, void *next) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = fd;
  a.key = (uint64_t)(uintptr_t)key;
  a.next_key = (uint64_t)(uintptr_t)next;
  return (int)sys_bpf(BPF_MAP_GET_NEXT_KEY, &a);
}

/* ---- the XDP program ------------------------------------------------------------------------
 * eBPF instructions as the kernel reads them (linux/bpf.h struct bpf_insn), with forward jumps
 * to labels resolved once the program is laid out. */

#define R0 0
#define R1 1
#define R2 2
#define R3 3
#define R4 4
#define R6 6
#define R7 7
#define R8 8
#define R9 9
#define R10 10

enum { L_PASS, L_GROUP, L_LOCAL, L_REDIRECT, L_UDP_GROUP, N_LABELS };

typedef struct {
  struct bpf_insn insn[96];
  int n;
  int label[N_LABELS];
  struct { int at, label; } fix[32];
  int n_fix;
} prog_t;

static void emit(prog_t *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn *i = &p->insn[p->n++];
  memset(i, 0, sizeof *i);
  i->code = code;
  i->dst_reg = dst;
  i->src_reg = src;
  i->off = off;
  i->imm = imm;
}
/* A conditional or plain jump to a label. */
static void jump(prog_t *p, uint8_t code, uint8_t dst, uint8_t src, int32_t imm, int label) {
  p->fix[p->n_fix].at = p->n;
  p->fix[p->n_fix++].label = label;
  emit(p, code, dst, src, 0, imm);
}
static void here(prog_t *p, int label) { p->label[label] = p->n; }
static void load_map(prog_t *p, uint8_t dst, int fd) {
  emit(p, BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
  emit(p, 0, 0, 0, 0, 0);
}
#define LDX(p, size, dst, src, off) emit(p, BPF_LDX | BPF_MEM | (size), dst, src, off, 0)
#define MOV_REG(p, dst, src) emit(p, BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV_IMM(p, dst, imm) emit(p, BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define ADD_IMM(p, dst, imm) emit(p, BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, imm)
#define CALL(p, helper) emit(p, BPF_JMP | BPF_CALL, 0, 0, 0, helper)

/* if the frame is UDP to the sync port, to REDIRECT; else on (r9: the IP protocol, r7/r8: the
 * frame's start and end). */
static void udp_sync_check(prog_t *p, int otherwise) {
  jump(p, BPF_JMP | BPF_JNE | BPF_K, R9, 0, IPPROTO_UDP, otherwise);
  LDX(p, BPF_B, R2, R7, 14);                                   /* version and IHL */
  emit(p, BPF_ALU64 | BPF_AND | BPF_K, R2, 0, 0, 0x0f);
  emit(p, BPF_ALU64 | BPF_LSH | BPF_K, R2, 0, 0, 2);          /* header length: 0..60 */
  MOV_REG(p, R3, R7);
  emit(p, BPF_ALU64 | BPF_ADD | BPF_X, R3, R2, 0, 0);          /* the IP header's start - 14 + its length */
  MOV_REG(p, R4, R3);
  ADD_IMM(p, R4, 14 + 4);                                      /* up to the UDP destination port's end */
  jump(p, BPF_JMP | BPF_JGT | BPF_X, R4, R8, 0, otherwise);
  LDX(p, BPF_H, R2, R3, 14 + 2);                               /* the destination port, as on the wire */
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, R2, 0, htons(SYNC_PORT), L_REDIRECT);
  jump(p, BPF_JMP | BPF_JA, 0, 0, 0, otherwise);
}

/* The program, for a device whose MAC is mac. */
static void build_program(prog_t *p, const uint8_t mac[6], int xsk_map, int local_map) {
  memset(p, 0, sizeof *p);
  MOV_REG(p, R6, R1);                                          /* struct xdp_md */
  LDX(p, BPF_W, R7, R6, offsetof(struct xdp_md, data));
  LDX(p, BPF_W, R8, R6, offsetof(struct xdp_md, data_end));
  MOV_REG(p, R2, R7);
  ADD_IMM(p, R2, 14 + 20);                                     /* Ethernet and a minimal IPv4 header */
  jump(p, BPF_JMP | BPF_JGT | BPF_X, R2, R8, 0, L_PASS);
  LDX(p, BPF_H, R2, R7, 12);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, R2, 0, htons(ETH_P_IP), L_PASS); /* ARP, IPv6, VLAN ...: the host's */
  LDX(p, BPF_B, R9, R7, 14 + 9);                               /* the IP protocol */
  LDX(p, BPF_B, R2, R7, 0);
  jump(p, BPF_JMP | BPF_JSET | BPF_K, R2, 0, 1, L_GROUP);      /* a group address (broadcast, multicast) */
  /* Unicast: to this device's MAC only (a veth, or a NIC in promiscuous mode, sees others'). */
  uint32_t lo = (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24;
  uint32_t hi = (uint32_t)mac[4] | (uint32_t)mac[5] << 8;
  LDX(p, BPF_W, R2, R7, 0);
  jump(p, BPF_JMP32 | BPF_JNE | BPF_K, R2, 0, (int32_t)lo, L_PASS);
  LDX(p, BPF_H, R2, R7, 4);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, R2, 0, (int32_t)hi, L_PASS);
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, R9, 0, 112, L_REDIRECT);  /* VRRP (RFC 5798), unicast_peer */
  udp_sync_check(p, L_LOCAL);
  here(p, L_LOCAL);
  /* An address of this host: its own traffic (health checks' replies, ssh ...). */
  LDX(p, BPF_W, R2, R7, 14 + 16);
  emit(p, BPF_STX | BPF_MEM | BPF_W, R10, R2, -4, 0);
  load_map(p, R1, local_map);
  MOV_REG(p, R2, R10);
  ADD_IMM(p, R2, -4);
  CALL(p, BPF_FUNC_map_lookup_elem);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, R0, 0, 0, L_PASS);
  here(p, L_REDIRECT);
  LDX(p, BPF_W, R2, R6, offsetof(struct xdp_md, rx_queue_index));
  load_map(p, R1, xsk_map);
  MOV_IMM(p, R3, XDP_PASS);                                    /* no socket on that queue: the host's */
  CALL(p, BPF_FUNC_redirect_map);
  emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  here(p, L_GROUP);
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, R9, 0, 112, L_REDIRECT);  /* VRRP's group 224.0.0.18 */
  udp_sync_check(p, L_PASS);                                   /* IPVS sync's group 224.0.0.81 */
  here(p, L_PASS);
  MOV_IMM(p, R0, XDP_PASS);
  emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  for (int k = 0; k < p->n_fix; k++) p->insn[p->fix[k].at].off = (int16_t)(p->label[p->fix[k].label] - p->fix[k].at - 1);
}

static int load_program(prog_t *prog, char *log, size_t log_len) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.insns = (uint64_t)(uintptr_t)prog->insn;
  a.insn_cnt = (uint32_t)prog->n;
  a.license = (uint64_t)(uintptr_t)"Dual MIT/GPL";
  a.log_buf = (uint64_t)(uintptr_t)log;
  a.log_size = (uint32_t)log_len;
  a.log_level = 1;
  strncpy(a.prog_name, "wasmvs_steal", sizeof a.prog_name - 1);
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
  if (fd >= 0) return fd;
  /* The log is only wanted when the verifier refuses: try once more without it if it was too small. */
  int e = errno;
  if (e == ENOSPC) {
    a.log_buf = 0;
    a.log_size = 0;
    a.log_level = 0;
    fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
    if (fd >= 0) return fd;
  }
  errno = e;
  return -1;
}

/* XDP in the driver where it has it, else in the stack (generic): a bpf_link, so the kernel
 * detaches it when its descriptor closes (process exit, kill -9 included). */
static int attach(int prog_fd, int ifindex, int *generic) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.link_create.prog_fd = (uint32_t)prog_fd;
  a.link_create.target_ifindex = (uint32_t)ifindex;
  a.link_create.attach_type = BPF_XDP;
  a.link_create.flags = XDP_FLAGS_DRV_MODE;
  int fd = (int)sys_bpf(BPF_LINK_CREATE, &a);
  /* EOPNOTSUPP/EINVAL: the driver has no XDP; ERANGE: its XDP takes a smaller MTU than the
   * device has (a veth's at most 3506). The stack's generic XDP has neither limit. */
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EINVAL && errno != ERANGE)) {
    *generic = 0;
    return fd;
  }
  a.link_create.flags = XDP_FLAGS_SKB_MODE;
  *generic = 1;
  return (int)sys_bpf(BPF_LINK_CREATE, &a);
}

/* ---- AF_XDP sockets ----------------------------------------------------------------------- */

static int map_ring(int fd, xring *r, uint32_t n, size_t entry, const struct xdp_ring_offset *off, off_t pgoff) {
  r->map_len = off->desc + n * entry;
  r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
  if (r->map == MAP_FAILED) {
    r->map = NULL;
    return -1;
  }
  r->producer = (uint32_t *)((uint8_t *)r->map + off->producer);
  r->consumer = (uint32_t *)((uint8_t *)r->map + off->consumer);
  r->ring = (uint8_t *)r->map + off->desc;
  r->mask = n - 1;
  return 0;
}

static void close_queue(xsk_queue *q) {
  xring *rings[] = {&q->fill, &q->comp, &q->rx, &q->tx};
  for (int k = 0; k < 4; k++)
    if (rings[k]->map) munmap(rings[k]->map, rings[k]->map_len);
  if (q->fd >= 0) close(q->fd);
  if (q->umem) munmap(q->umem, q->umem_len);
  memset(q, 0, sizeof *q);
  q->fd = -1;
}

/* One socket on queue qid of ifindex, its UMEM's first half in the fill ring. 0, or the
 * step that failed (errno set). */
static const char *open_queue(xsk_queue *q, int ifindex, uint32_t qid, uint32_t chunk) {
  memset(q, 0, sizeof *q);
  q->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (q->fd < 0) return "socket(AF_XDP)";
  q->umem_len = (size_t)RING_FRAMES * chunk;
  q->umem = mmap(NULL, q->umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (q->umem == MAP_FAILED) {
    q->umem = NULL;
    return "mmap (UMEM)";
  }
  struct xdp_umem_reg reg;
  memset(&reg, 0, sizeof reg);
  reg.addr = (uint64_t)(uintptr_t)q->umem;
  reg.len = q->umem_len;
  reg.chunk_size = chunk;
  if (setsockopt(q->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) < 0) return "XDP_UMEM_REG";
  uint32_t n = RING_SIZE;
  if (setsockopt(q->fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof n) < 0) return "XDP_UMEM_FILL_RING";
  if (setsockopt(q->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n, sizeof n) < 0) return "XDP_UMEM_COMPLETION_RING";
  if (setsockopt(q->fd, SOL_XDP, XDP_RX_RING, &n, sizeof n) < 0) return "XDP_RX_RING";
  if (setsockopt(q->fd, SOL_XDP, XDP_TX_RING, &n, sizeof n) < 0) return "XDP_TX_RING";
  struct xdp_mmap_offsets off;
  socklen_t len = sizeof off;
  if (getsockopt(q->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len) < 0) return "XDP_MMAP_OFFSETS";
  if (map_ring(q->fd, &q->fill, n, sizeof(uint64_t), &off.fr, XDP_UMEM_PGOFF_FILL_RING) < 0 ||
      map_ring(q->fd, &q->comp, n, sizeof(uint64_t), &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING) < 0 ||
      map_ring(q->fd, &q->rx, n, sizeof(struct xdp_desc), &off.rx, XDP_PGOFF_RX_RING) < 0 ||
      map_ring(q->fd, &q->tx, n, sizeof(struct xdp_desc), &off.tx, XDP_PGOFF_TX_RING) < 0)
    return "mmap (rings)";
  uint64_t *fill = q->fill.ring;
  for (uint32_t k = 0; k < RING_SIZE; k++) fill[k] = (uint64_t)k * chunk;
  __atomic_store_n(q->fill.producer, RING_SIZE, __ATOMIC_RELEASE);
  for (uint32_t k = 0; k < RING_SIZE; k++) q->free_tx[k] = (uint64_t)(RING_SIZE + k) * chunk;
  q->n_free = RING_SIZE;
  struct sockaddr_xdp sa;
  memset(&sa, 0, sizeof sa);
  sa.sxdp_family = AF_XDP;
  sa.sxdp_ifindex = (uint32_t)ifindex;
  sa.sxdp_queue_id = qid;
  sa.sxdp_flags = XDP_COPY;
  if (bind(q->fd, (struct sockaddr *)&sa, sizeof sa) < 0) return "bind (AF_XDP)";
  return NULL;
}

/* The host's IPv4 addresses (every interface's, and their broadcast addresses) into the map
 * the XDP program passes to the host; the addresses no longer there out of it. Returns how many. */
static int refresh_local(ring_port *p) {
  struct ifaddrs *all;
  if (getifaddrs(&all) < 0) return -1;
  uint32_t now[MAX_LOCAL];
  int n = 0;
  for (struct ifaddrs *a = all; a && n < MAX_LOCAL; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    uint32_t addr = ((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr;
    now[n++] = addr;
    /* The subnet's broadcast address, which the kernel's local table holds whether or not
     * the address was given one (ip addr add without brd), and one given explicitly. */
    uint32_t mask = a->ifa_netmask ? ((struct sockaddr_in *)a->ifa_netmask)->sin_addr.s_addr : 0xffffffffu;
    if (ntohl(mask) < 0xfffffffeu && n < MAX_LOCAL) now[n++] = addr | ~mask;
    if ((a->ifa_flags & IFF_BROADCAST) && a->ifa_broadaddr && n < MAX_LOCAL)
      now[n++] = ((struct sockaddr_in *)a->ifa_broadaddr)->sin_addr.s_addr;
  }
  freeifaddrs(all);
  if (n < MAX_LOCAL) now[n++] = INADDR_BROADCAST;
  uint8_t one = 1;
  for (int k = 0; k < n; k++) map_update(p->local_map, &now[k], &one);
  /* Out with what is gone: a walk of the map (small), deleting behind the cursor. */
  uint32_t key, next, gone[MAX_LOCAL];
  int n_gone = 0, first = 1;
  while (map_next_key(p->local_map, first ? NULL : &key, &next) == 0 && n_gone < MAX_LOCAL) {
    first = 0;
    key = next;
    int found = 0;
    for (int k = 0; k < n && !found; k++) found = now[k] == next;
    if (!found) gone[n_gone++] = next;
  }
  for (int k = 0; k < n_gone; k++) map_delete(p->local_map, &gone[k]);
  return n;
}

static void close_port(ring_port *p) {
  if (p->link_fd >= 0) close(p->link_fd); /* detaches the program */
  for (int k = 0; k < p->n_queues; k++) close_queue(&p->q[k]);
  if (p->arp_fd >= 0) close(p->arp_fd);
  if (p->prog_fd >= 0) close(p->prog_fd);
  if (p->xsk_map >= 0) close(p->xsk_map);
  if (p->local_map >= 0) close(p->local_map);
  free(p);
}

/* ---- frames ------------------------------------------------------------------------------- */

/* A received ARP frame from the AF_PACKET socket, into slot i; 0 when there is none. */
static int read_arp(ring_port *p, uint8_t *mem, uint32_t desc, uint32_t slots, uint32_t slot, uint32_t head, uint32_t i, uint32_t ifindex) {
  uint8_t *dst = mem + slots + (size_t)i * slot + head;
  ssize_t r;
  do r = recv(p->arp_fd, dst, slot - head + 1, MSG_DONTWAIT | MSG_TRUNC);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return 0;
  uint32_t len = (uint32_t)r > slot - head ? slot - head + 1 : (uint32_t)r; /* too big: the engine drops and counts it */
  uint8_t *d = mem + desc + (size_t)i * WASMVS_DESC_SIZE;
  memcpy(d + WASMVS_RX_IFINDEX, &ifindex, 4);
  memcpy(d + WASMVS_RX_LEN, &len, 4);
  return 1;
}

/* One's complement sum of n bytes as big-endian 16-bit words, onto sum. */
static uint32_t sum16(const uint8_t *b, uint32_t n, uint32_t sum) {
  for (; n > 1; b += 2, n -= 2) sum += (uint32_t)b[0] << 8 | b[1];
  if (n) sum += (uint32_t)b[0] << 8;
  return sum;
}
static uint32_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

/* A veth hands XDP a frame its peer's stack sent with checksum offload as it is: the TCP or UDP
 * checksum field holds only the pseudo-header's sum (CHECKSUM_PARTIAL; the kernel would have
 * finished it on the way to a wire, and a TAP's read() finishes it too). AF_XDP says nothing of
 * it, so: where the field equals that partial sum, the checksum is computed over the segment
 * and written. A correct checksum that happens to equal the partial sum is recomputed to the
 * same value; any other value is left for the receiver to judge. Only on veths: a NIC never
 * delivers a partial checksum. */
static void finish_partial(uint8_t *f, uint32_t len) {
  if (len < 34 || f[12] != 0x08 || f[13] != 0x00) return;
  uint8_t *ip = f + 14;
  uint32_t ihl = (ip[0] & 15u) * 4, total = (uint32_t)ip[2] << 8 | ip[3], proto = ip[9];
  uint32_t at = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 0;
  if (!at || ihl < 20 || total < ihl || 14 + total > len || total - ihl < at + 2) return;
  if ((ip[6] & 0x3f) || ip[7]) return; /* a fragment: its checksum covers the whole datagram */
  uint8_t *l4 = ip + ihl;
  uint32_t l4len = total - ihl;
  uint32_t pseudo = fold(sum16(ip + 12, 8, proto + l4len));
  uint32_t field = (uint32_t)l4[at] << 8 | l4[at + 1];
  if (field != pseudo) return;
  l4[at] = l4[at + 1] = 0;
  uint32_t c = ~fold(sum16(l4, l4len, pseudo)) & 0xffff;
  if (proto == IPPROTO_UDP && c == 0) c = 0xffff; /* RFC 768: zero means none */
  l4[at] = (uint8_t)(c >> 8);
  l4[at + 1] = (uint8_t)c;
}

uint32_t ring_read(ring_port *p, uint8_t *mem, uint32_t desc, uint32_t slots, uint32_t slot, uint32_t head,
                   uint32_t first, uint32_t max, uint32_t ifindex) {
  uint32_t got = 0, cap = slot - head;
  ring_kick(p); /* frames a full device queue held back at the last write */
  /* ARP only when epoll has reported it (ring_arp_ready): a recv() per read that finds nothing
   * was measured at one syscall per wakeup. Read until empty, then wait for the next report
   * (epoll is level-triggered: what is left when max is reached is reported again). */
  if (p->arp_ready) {
    while (got < max && read_arp(p, mem, desc, slots, slot, head, first + got, ifindex)) got++;
    if (got < max) p->arp_ready = 0;
  }
  /* Each queue in turn, from the one after the last read, so a busy queue cannot starve the others. */
  for (int turn = 0; turn < p->n_queues && got < max; turn++) {
    xsk_queue *q = &p->q[(p->next_read + (uint32_t)turn) % (uint32_t)p->n_queues];
    uint32_t cons = *q->rx.consumer;
    uint32_t avail = __atomic_load_n(q->rx.producer, __ATOMIC_ACQUIRE) - cons;
    if (avail == 0) continue;
    if (avail > max - got) avail = max - got;
    struct xdp_desc *rx = q->rx.ring;
    uint64_t *fill = q->fill.ring;
    uint32_t fprod = *q->fill.producer;
    for (uint32_t k = 0; k < avail; k++) {
      struct xdp_desc *x = &rx[(cons + k) & q->rx.mask];
      uint32_t i = first + got;
      uint32_t len = x->len > cap ? cap + 1 : x->len; /* too big: the engine drops and counts it */
      uint8_t *frame = mem + slots + (size_t)i * slot + head;
      memcpy(frame, q->umem + x->addr, len);
      /* A veth's frames, and any frame generic XDP sees (an skb of the host's stack: a bridge or
       * macvlan over veths hands over its ports' partial checksums as they are). */
      if ((p->veth || p->generic) && len <= cap) finish_partial(frame, len);
      uint8_t *d = mem + desc + (size_t)i * WASMVS_DESC_SIZE;
      memcpy(d + WASMVS_RX_IFINDEX, &ifindex, 4);
      memcpy(d + WASMVS_RX_LEN, &len, 4);
      /* The frame's chunk goes straight back to the fill ring (it never holds more than the
       * receiving half, so there is always room). */
      fill[(fprod + k) & q->fill.mask] = x->addr - x->addr % p->chunk;
      got++;
    }
    __atomic_store_n(q->rx.consumer, cons + avail, __ATOMIC_RELEASE);
    __atomic_store_n(q->fill.producer, fprod + avail, __ATOMIC_RELEASE);
  }
  p->next_read = (p->next_read + 1) % (uint32_t)p->n_queues;
  return got;
}

/* Completed TX frames back to the free stack. */
static void reclaim(xsk_queue *q) {
  uint32_t cons = *q->comp.consumer;
  uint32_t done = __atomic_load_n(q->comp.producer, __ATOMIC_ACQUIRE) - cons;
  uint64_t *comp = q->comp.ring;
  for (uint32_t k = 0; k < done && q->n_free < RING_SIZE; k++) q->free_tx[q->n_free++] = comp[(cons + k) & q->comp.mask];
  if (done) __atomic_store_n(q->comp.consumer, cons + done, __ATOMIC_RELEASE);
}

int ring_queue(ring_port *p, const uint8_t *frame, uint32_t len) {
  xsk_queue *q = &p->q[0]; /* any queue may send; the first does */
  if (len > p->chunk) return 0;
  if (q->n_free == 0) reclaim(q);
  uint32_t prod = *q->tx.producer;
  if (q->n_free == 0 || prod - __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE) >= RING_SIZE) return 0;
  uint64_t addr = q->free_tx[--q->n_free];
  memcpy(q->umem + addr, frame, len);
  struct xdp_desc *tx = q->tx.ring;
  struct xdp_desc *x = &tx[prod & q->tx.mask];
  x->addr = addr;
  x->len = len;
  x->options = 0;
  __atomic_store_n(q->tx.producer, prod + 1, __ATOMIC_RELEASE);
  q->tx_queued++;
  return 1;
}

void ring_kick(ring_port *p) {
  xsk_queue *q = &p->q[0];
  if (q->tx_queued == 0) return;
  /* In copy mode the kernel sends at this call, a bounded number of frames at a time
   * (EAGAIN: more remain); ENOBUFS/EBUSY: the device's queue is full, the rest go at the
   * next kick. Bounded: a frame is never waited for. */
  for (uint32_t k = 0; k <= q->tx_queued / 16 + 1; k++) {
    if (sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) break;
    if (errno != EAGAIN && errno != EINTR) break;
  }
  /* What the kernel has not taken yet stays counted: the next read or write kicks again. */
  q->tx_queued = *q->tx.producer - __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE);
  reclaim(q);
}

int ring_arp_fd(ring_port *p) { return p->arp_fd; }

void ring_arp_ready(ring_port *p) { p->arp_ready = 1; }

int ring_fds(ring_port *p, int *out, int max) {
  int n = 0;
  for (int k = 0; k < p->n_queues && n < max; k++) out[n++] = p->q[k].fd;
  if (n < max) out[n++] = p->arp_fd;
  return n;
}

/* ---- N-API ---------------------------------------------------------------------------------- */

static napi_value fail(napi_env env, const char *dev, const char *step, int err) {
  char msg[512];
  const char *hint = "";
  if (err == EPERM || err == EACCES)
    hint = " (needs root, or CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON and CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK)";
  else if (err == EAFNOSUPPORT) hint = " (this kernel has no XDP sockets: CONFIG_XDP_SOCKETS; use a TAP in a bridge instead)";
  else if (err == EBUSY || err == EEXIST) hint = " (another XDP program is attached to the device: another wasmvs, or another XDP user)";
  else if (err == ENODEV || err == ENXIO) hint = " (no such interface: ip link shows the host's)";
  else if (err == ENOMEM || err == ENOBUFS)
    hint = " (the AF_XDP sockets' memory is locked memory, above RLIMIT_MEMLOCK: give CAP_IPC_LOCK or raise RLIMIT_MEMLOCK, e.g. LimitMEMLOCK=infinity)";
  snprintf(msg, sizeof msg, "cannot attach to device %s: %s: %s%s", dev, step, strerror(err), hint);
  return throw_with_errno(env, msg, err);
}

/* The device's receive queues (its RSS queues; a veth has one), up to MAX_QUEUES + 1. */
static int rx_queues(const char *dev) {
  char path[128];
  int n = 0;
  for (; n <= MAX_QUEUES; n++) {
    snprintf(path, sizeof path, "/sys/class/net/%s/queues/rx-%d", dev, n);
    if (access(path, F_OK) != 0) break;
  }
  return n > 0 ? n : 1;
}

/* ringOpen(device, frameBytes) -> fd: the device attached (the file's head says what that is).
 * frameBytes: the largest frame the engine's slots take. */
static napi_value ring_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  char dev[IF_NAMESIZE + 1] = {0};
  size_t n = 0;
  uint32_t frame = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], dev, sizeof dev, &n) != napi_ok || n == 0 || n >= IF_NAMESIZE ||
      napi_get_value_uint32(env, argv[1], &frame) != napi_ok) {
    napi_throw_type_error(env, NULL, "ringOpen(device, frameBytes): a device name of 1 to 15 characters and a frame size");
    return NULL;
  }
  /* Copy mode places a frame XDP_PACKET_HEADROOM (256) into its chunk; chunks are 2 or 4 KB. */
  uint32_t chunk = frame + XDP_PACKET_HEADROOM <= 2048 ? 2048 : 4096;
  if (frame + XDP_PACKET_HEADROOM > chunk) {
    char msg[160];
    snprintf(msg, sizeof msg, "device %s: frames of %u bytes do not fit AF_XDP's 4 KB frames (an MTU up to 3822 does)", dev, frame);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  int ifindex = (int)if_nametoindex(dev);
  if (ifindex == 0) return fail(env, dev, "if_nametoindex", errno ? errno : ENODEV);
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, dev, n);
  if (sock < 0 || ioctl(sock, SIOCGIFHWADDR, &ifr) < 0) {
    int e = errno;
    if (sock >= 0) close(sock);
    return fail(env, dev, "SIOCGIFHWADDR", e);
  }
  /* The driver's name (ethtool -i): a veth's frames may carry partial checksums. */
  struct ethtool_drvinfo drv;
  memset(&drv, 0, sizeof drv);
  drv.cmd = ETHTOOL_GDRVINFO;
  struct ifreq dreq;
  memset(&dreq, 0, sizeof dreq);
  memcpy(dreq.ifr_name, dev, n);
  dreq.ifr_data = (void *)&drv;
  int is_veth = ioctl(sock, SIOCETHTOOL, &dreq) == 0 && strcmp(drv.driver, "veth") == 0;
  close(sock);
  ring_port *p = calloc(1, sizeof *p);
  if (!p) return fail(env, dev, "calloc", ENOMEM);
  memcpy(p->name, dev, n);
  p->ifindex = ifindex;
  p->chunk = chunk;
  p->veth = is_veth;
  p->link_fd = p->prog_fd = p->xsk_map = p->local_map = p->arp_fd = -1;
  p->arp_ready = 1; /* whatever arrives before the first epoll report */
  for (int k = 0; k < MAX_QUEUES; k++) p->q[k].fd = -1;
  const char *step = NULL;
  int err = 0;
  p->n_queues = rx_queues(dev);
  if (p->n_queues > MAX_QUEUES) {
    /* A frame on a queue with no socket would go to the host, unseen by the engine. */
    char msg[200];
    snprintf(msg, sizeof msg, "device %s has more than %d receive queues: reduce them (ethtool -L %s combined %d) or use a TAP",
             dev, MAX_QUEUES, dev, MAX_QUEUES);
    free(p);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  p->xsk_map = map_create(BPF_MAP_TYPE_XSKMAP, 4, 4, MAX_QUEUES, "wasmvs_xsks");
  if (p->xsk_map < 0) { step = "BPF_MAP_CREATE (XSKMAP)"; goto failed; }
  p->local_map = map_create(BPF_MAP_TYPE_HASH, 4, 1, MAX_LOCAL, "wasmvs_local");
  if (p->local_map < 0) { step = "BPF_MAP_CREATE (host addresses)"; goto failed; }
  if (refresh_local(p) < 0) { step = "getifaddrs"; goto failed; }
  for (int k = 0; k < p->n_queues; k++) {
    step = open_queue(&p->q[k], ifindex, (uint32_t)k, chunk);
    if (step) goto failed;
    uint32_t key = (uint32_t)k;
    if (map_update(p->xsk_map, &key, &p->q[k].fd) < 0) { step = "BPF_MAP_UPDATE_ELEM (XSKMAP)"; goto failed; }
  }
  p->key = p->q[0].fd;
  /* A copy of every ARP frame the device receives (not those the host sends). */
  p->arp_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP));
  if (p->arp_fd < 0) { step = "socket(AF_PACKET, ARP)"; goto failed; }
  int one = 1;
  if (setsockopt(p->arp_fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) { step = "PACKET_IGNORE_OUTGOING"; goto failed; }
  struct sockaddr_ll ll;
  memset(&ll, 0, sizeof ll);
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ARP);
  ll.sll_ifindex = ifindex;
  if (bind(p->arp_fd, (struct sockaddr *)&ll, sizeof ll) < 0) { step = "bind (AF_PACKET, ARP)"; goto failed; }
  prog_t prog;
  build_program(&prog, (uint8_t *)ifr.ifr_hwaddr.sa_data, p->xsk_map, p->local_map);
  static char log[16384];
  log[0] = 0;
  p->prog_fd = load_program(&prog, log, sizeof log);
  if (p->prog_fd < 0) {
    err = errno;
    close_port(p);
    /* Refused for want of privileges (the verifier allows its packet pointer arithmetic with
     * CAP_PERFMON only): fail()'s hint says which; the verifier's log would only bury it. */
    if (err == EPERM || err == EACCES) return fail(env, dev, "BPF_PROG_LOAD", err);
    /* Otherwise the verifier's last lines say why — a defect of this file, never the operator's —
     * on one line, as every error is. */
    size_t L = strlen(log);
    char tail[301];
    snprintf(tail, sizeof tail, "%.300s", L > 300 ? log + L - 300 : log);
    for (char *c = tail; *c; c++)
      if (*c == '\n' || *c == '\t') *c = ' ';
    char what[400];
    snprintf(what, sizeof what, "BPF_PROG_LOAD (verifier: %s)", tail);
    return fail(env, dev, what, err);
  }
  p->link_fd = attach(p->prog_fd, ifindex, &p->generic);
  if (p->link_fd < 0) { step = "BPF_LINK_CREATE (XDP)"; goto failed; }
  p->next = ports;
  ports = p;
  napi_value out;
  napi_create_int32(env, p->key, &out);
  return out;
failed:
  err = errno;
  close_port(p);
  return fail(env, dev, step, err);
}

static ring_port *port_arg(napi_env env, napi_callback_info info, napi_value *extra) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  int32_t fd = -1;
  napi_get_value_int32(env, argv[0], &fd);
  if (extra) *extra = argc > 1 ? argv[1] : NULL;
  return ring_port_of(fd);
}

/* ringClose(fd): the program detached, the sockets closed. */
static napi_value ring_close(napi_env env, napi_callback_info info) {
  ring_port *p = port_arg(env, info, NULL);
  if (!p) return NULL;
  for (ring_port **at = &ports; *at; at = &(*at)->next)
    if (*at == p) {
      *at = p->next;
      break;
    }
  close_port(p);
  return NULL;
}

/* ringRefresh(fd) -> the host addresses the program passes to the host, now; -2 when the device
 * is no longer on this host (deleted, or moved to another network namespace): the kernel took its
 * XDP program and unbound the sockets with it, and a device of the same name that comes back is
 * another device (another ifindex) with neither. A rename keeps the ifindex, and both. -3 when
 * the device has more receive queues than sockets (ethtool -L since the start): the program
 * passes a frame on a queue with no socket to the host, whose stack refuses the VIP's clients. */
static napi_value ring_refresh(napi_env env, napi_callback_info info) {
  ring_port *p = port_arg(env, info, NULL);
  char name[IF_NAMESIZE];
  int n = !p ? -1 : !if_indextoname((unsigned)p->ifindex, name) ? -2 : rx_queues(name) > p->n_queues ? -3 : refresh_local(p);
  napi_value out;
  napi_create_int32(env, n, &out);
  return out;
}

static void set_num(napi_env env, napi_value o, const char *k, double v) {
  napi_value x;
  napi_create_double(env, v, &x);
  napi_set_named_property(env, o, k, x);
}

/* ringInfo(fd) -> {device, queues, mode, chunk, rxDropped, rxInvalid, txInvalid, rxRingFull,
 * fillRingEmpty, txRingEmpty} (XDP_STATISTICS summed over the queues), or null. */
static napi_value ring_info(napi_env env, napi_callback_info info) {
  ring_port *p = port_arg(env, info, NULL);
  napi_value out, s;
  if (!p) {
    napi_get_null(env, &out);
    return out;
  }
  napi_create_object(env, &out);
  napi_create_string_utf8(env, p->name, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, out, "device", s);
  napi_create_string_utf8(env, p->generic ? "generic" : "native", NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, out, "mode", s);
  set_num(env, out, "queues", p->n_queues);
  set_num(env, out, "chunk", p->chunk);
  napi_value b;
  napi_get_boolean(env, p->veth, &b);
  napi_set_named_property(env, out, "veth", b);
  double sum[6] = {0};
  for (int k = 0; k < p->n_queues; k++) {
    struct xdp_statistics st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (getsockopt(p->q[k].fd, SOL_XDP, XDP_STATISTICS, &st, &len) < 0) continue;
    sum[0] += (double)st.rx_dropped;
    sum[1] += (double)st.rx_invalid_descs;
    sum[2] += (double)st.tx_invalid_descs;
    sum[3] += (double)st.rx_ring_full;
    sum[4] += (double)st.rx_fill_ring_empty_descs;
    sum[5] += (double)st.tx_ring_empty_descs;
  }
  const char *names[6] = {"rxDropped", "rxInvalid", "txInvalid", "rxRingFull", "fillRingEmpty", "txRingEmpty"};
  for (int k = 0; k < 6; k++) set_num(env, out, names[k], sum[k]);
  /* The ARP copies' socket: PACKET_STATISTICS counts since its last reading, so they are summed here. */
  struct tpacket_stats ps;
  socklen_t plen = sizeof ps;
  memset(&ps, 0, sizeof ps);
  if (getsockopt(p->arp_fd, SOL_PACKET, PACKET_STATISTICS, &ps, &plen) == 0) p->arp_drops += (double)ps.tp_drops;
  set_num(env, out, "arpDropped", p->arp_drops);
  return out;
}

/* ringClassify(fd, frame) -> what the port's XDP program does with frame as received on queue 0
 * (BPF_PROG_TEST_RUN): 2 XDP_PASS (the host's), 4 XDP_REDIRECT (the engine's), ... — the
 * program's own test, on the kernel's verifier-checked code, with no frame on any wire. */
static napi_value ring_classify(napi_env env, napi_callback_info info) {
  napi_value arg = NULL;
  ring_port *p = port_arg(env, info, &arg);
  size_t len = 0;
  void *data = NULL;
  bool is_buffer = false;
  if (arg) napi_is_buffer(env, arg, &is_buffer);
  if (!p || !is_buffer || napi_get_buffer_info(env, arg, &data, &len) != napi_ok || len < 14 || len > 4000) {
    napi_throw_type_error(env, NULL, "ringClassify(fd, frame): a ring port and a Buffer of 14 to 4000 bytes");
    return NULL;
  }
  struct xdp_md ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.data_end = (uint32_t)len;
  ctx.ingress_ifindex = (uint32_t)p->ifindex;
  ctx.rx_queue_index = 0;
  uint8_t out[4096];
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.test.prog_fd = (uint32_t)p->prog_fd;
  a.test.data_in = (uint64_t)(uintptr_t)data;
  a.test.data_size_in = (uint32_t)len;
  a.test.data_out = (uint64_t)(uintptr_t)out;
  a.test.data_size_out = sizeof out;
  a.test.ctx_in = (uint64_t)(uintptr_t)&ctx;
  a.test.ctx_size_in = sizeof ctx;
  a.test.repeat = 1;
  if (sys_bpf(BPF_PROG_TEST_RUN, &a) < 0) return fail(env, p->name, "BPF_PROG_TEST_RUN", errno);
  napi_value r;
  napi_create_uint32(env, a.test.retval, &r);
  return r;
}

void rings_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"ringOpen", NULL, ring_open, NULL, NULL, NULL, napi_default, NULL},
    {"ringClose", NULL, ring_close, NULL, NULL, NULL, napi_default, NULL},
    {"ringRefresh", NULL, ring_refresh, NULL, NULL, NULL, napi_default, NULL},
    {"ringInfo", NULL, ring_info, NULL, NULL, NULL, napi_default, NULL},
    {"ringClassify", NULL, ring_classify, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
