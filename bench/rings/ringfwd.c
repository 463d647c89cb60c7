/*
 * ringfwd: an L2 forwarder between two interfaces through shared rings, with two backends,
 * to measure which ring design a wasmvs data path should use (issue 18). Frames that come
 * in on A go out on B and back, untouched (as bench/e2e/pktfwd.c does); batches of 32.
 *
 *   ringfwd --tpacket DEV_A DEV_B
 *     AF_PACKET, TPACKET_V3 RX ring (blocks handed over whole, closed by the kernel when
 *     full or after a retirement timeout) and a TPACKET_V3 TX ring flushed by one send()
 *     per batch. Why the TX ring: one send() walks every ready slot, where sendmmsg runs
 *     the whole packet_snd() per message after copying each msghdr in; and tpacket_snd()
 *     copies only the link-layer header, hanging the rest of the slot on the skb as page
 *     fragments (tpacket_fill_skb) - which a NIC's DMA reads in place. The price is our
 *     memcpy from the RX block into the TX slot, and on a veth the fragments are copied
 *     anyway: the skb is marked zero-copy (skb_zcopy_set_nouarg), so crossing to the peer
 *     (____dev_forward_skb -> skb_orphan_frags -> skb_copy_ubufs) copies them.
 *   ringfwd --tpacket-sendmmsg DEV_A DEV_B
 *     The same RX ring; TX by sendmmsg() straight from the RX block (one copy, in
 *     packet_snd, none in user space), measured because on a veth it copies less.
 *     AF_PACKET taps, it does not steal: every frame also goes up the host stack.
 *
 *   ringfwd --xdp DEV_A DEV_B          (--xdp-generic: the program in generic/SKB mode)
 *     AF_XDP in copy mode (XDP_COPY) bound to queue 0 of each device, one UMEM shared by
 *     both sockets (XDP_SHARED_UMEM with its own fill and completion rings per device), so
 *     forwarding is moving a descriptor from A's RX ring to B's TX ring: no copy in user
 *     space. The kernel copies twice: into the UMEM (__xsk_rcv) and out of it into a new
 *     skb (xsk_build_skb); on a veth a third time before that, when veth_xdp_rcv_skb()
 *     moves an skb with less than XDP_PACKET_HEADROOM (256 bytes) of headroom - any frame a
 *     local socket sent - into a page-pool page (skb_pp_cow_data). Each device gets a minimal XDP program, hand-assembled below and attached in
 *     driver mode with BPF_LINK_CREATE, that redirects every frame to the XSKMAP entry of
 *     its RX queue. XDP_REDIRECT steals the frame: the host stack never sees it.
 *
 * Runs until SIGINT/SIGTERM, then prints the frames moved and its own CPU (getrusage) per
 * frame. As root (or CAP_NET_RAW; for --xdp also CAP_BPF + CAP_NET_ADMIN, and CAP_IPC_LOCK
 * or an RLIMIT_MEMLOCK above the UMEM size).
 *
 * No L4 checksum is finished on the --xdp path: an XDP frame carries no "checksum partial"
 * mark, so a sender on the same host must not leave checksums to offload (ethtool -K tx off).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define BATCH 32

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static unsigned long moved, dropped_too_long;

static int fail(const char *what, const char *dev) {
  fprintf(stderr, "ringfwd: %s %s: %s\n", what, dev, strerror(errno));
  return -1;
}

/* ------------------------------------------------------------------ checksums */

static unsigned add16(const unsigned char *p, unsigned n, unsigned sum) {
  for (; n > 1; p += 2, n -= 2) sum += (unsigned)(p[0] << 8 | p[1]);
  if (n) sum += (unsigned)p[0] << 8;
  return sum;
}

/* AF_PACKET marks frames whose TCP/UDP checksum the sender left to "hardware"
 * (TP_STATUS_CSUMNOTREADY): finish it over the pseudo-header (RFC 1071, RFC 768's zero rule). */
static void finish_checksum(unsigned char *f, unsigned len) {
  if (len < 34 || f[12] != 0x08 || f[13] != 0x00) return;
  unsigned char *ip = f + 14;
  unsigned ihl = (ip[0] & 15u) * 4, total = (unsigned)(ip[2] << 8 | ip[3]), proto = ip[9];
  unsigned at = proto == 6 ? 16 : proto == 17 ? 6 : 0;
  if (!at || total < ihl || 14 + total > len || total - ihl < at + 2) return;
  unsigned char *l4 = ip + ihl;
  unsigned l4len = total - ihl;
  l4[at] = l4[at + 1] = 0;
  unsigned sum = add16(l4, l4len, add16(ip + 12, 8, 0) + proto + l4len);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  unsigned c = ~sum & 0xffff;
  if (proto == 17 && c == 0) c = 0xffff;
  l4[at] = (unsigned char)(c >> 8);
  l4[at + 1] = (unsigned char)c;
}

/* ------------------------------------------------------------------ TPACKET_V3 */

#define V3_RX_BLOCK_SIZE (64u << 10) /* small blocks: a block is handed over only when full or retired */
#define V3_RX_BLOCKS 32u             /* 2 MiB, the same RX memory as pktfwd's TPACKET_V2 ring */
#define V3_RETIRE_MS 1u              /* the longest a frame waits in a half-filled block */
#define V3_TX_SLOT 2048u
#define V3_TX_SLOTS_PER_BLOCK 64u
#define V3_TX_SLOTS 1024u
/* tpacket_snd() reads a V3 TX frame at TPACKET3_HDRLEN - sizeof(struct sockaddr_ll). */
#define V3_TX_DATA (TPACKET3_HDRLEN - sizeof(struct sockaddr_ll))

typedef struct {
  int fd;
  unsigned char *rx, *tx;
  unsigned rx_block;        /* the block we read or wait for */
  unsigned rx_left;         /* frames still unread in it, 0 when we do not hold it */
  unsigned char *rx_frame;  /* the next unread frame in it */
  unsigned tx_next;
} v3_port;

static int v3_open(v3_port *p, const char *dev, int with_tx_ring) {
  p->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (p->fd < 0) return fail("socket(AF_PACKET)", dev);
  int version = TPACKET_V3, one = 1;
  struct tpacket_req3 rx = {
      .tp_block_size = V3_RX_BLOCK_SIZE, .tp_block_nr = V3_RX_BLOCKS, .tp_frame_size = 2048,
      .tp_frame_nr = V3_RX_BLOCK_SIZE / 2048 * V3_RX_BLOCKS, .tp_retire_blk_tov = V3_RETIRE_MS};
  /* A V3 TX ring is frame-based like V2; packet_set_ring() refuses a retire timeout on it. */
  struct tpacket_req3 tx = {
      .tp_block_size = V3_TX_SLOT * V3_TX_SLOTS_PER_BLOCK, .tp_block_nr = V3_TX_SLOTS / V3_TX_SLOTS_PER_BLOCK,
      .tp_frame_size = V3_TX_SLOT, .tp_frame_nr = V3_TX_SLOTS};
  if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
      /* our own transmissions must not come back on the RX ring */
      setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 ||
      setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0 ||
      setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &rx, sizeof rx) < 0 ||
      (with_tx_ring && setsockopt(p->fd, SOL_PACKET, PACKET_TX_RING, &tx, sizeof tx) < 0))
    return fail("TPACKET_V3 rings on", dev);
  size_t rx_bytes = (size_t)V3_RX_BLOCK_SIZE * V3_RX_BLOCKS, tx_bytes = with_tx_ring ? (size_t)V3_TX_SLOT * V3_TX_SLOTS : 0;
  unsigned char *m = mmap(NULL, rx_bytes + tx_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
  if (m == MAP_FAILED) return fail("mmap rings of", dev);
  p->rx = m;
  p->tx = m + rx_bytes;
  p->rx_block = p->rx_left = p->tx_next = 0;
  p->rx_frame = NULL;
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)if_nametoindex(dev)};
  if (sll.sll_ifindex == 0 || bind(p->fd, (struct sockaddr *)&sll, sizeof sll) < 0) return fail("bind", dev);
  return 0;
}

static void v3_return_block(v3_port *a) {
  struct tpacket_block_desc *bd = (void *)(a->rx + (size_t)a->rx_block * V3_RX_BLOCK_SIZE);
  __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  a->rx_block = (a->rx_block + 1) % V3_RX_BLOCKS;
  a->rx_frame = NULL;
}

/* Up to one batch from a's RX blocks into b's TX ring, then one send() to flush it. */
static unsigned v3_pump(v3_port *a, v3_port *b) {
  unsigned n = 0;
  while (n < BATCH) {
    if (a->rx_left == 0) {
      struct tpacket_block_desc *bd = (void *)(a->rx + (size_t)a->rx_block * V3_RX_BLOCK_SIZE);
      if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
      a->rx_left = bd->hdr.bh1.num_pkts;
      a->rx_frame = (unsigned char *)bd + bd->hdr.bh1.offset_to_first_pkt;
      if (a->rx_left == 0) { v3_return_block(a); continue; }
    }
    struct tpacket3_hdr *out = (void *)(b->tx + (size_t)b->tx_next * V3_TX_SLOT);
    if (__atomic_load_n(&out->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) break; /* TX ring full: the rest waits on the RX ring */
    struct tpacket3_hdr *in = (void *)a->rx_frame;
    if (in->tp_snaplen < in->tp_len || in->tp_snaplen > V3_TX_SLOT - V3_TX_DATA) {
      dropped_too_long++;
    } else {
      unsigned char *frame = (unsigned char *)out + V3_TX_DATA;
      memcpy(frame, (unsigned char *)in + in->tp_mac, in->tp_snaplen);
      if (in->tp_status & TP_STATUS_CSUMNOTREADY) finish_checksum(frame, in->tp_snaplen);
      out->tp_len = in->tp_snaplen;
      out->tp_next_offset = 0; /* tpacket_snd() refuses anything else on a V3 TX ring */
      __atomic_store_n(&out->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
      b->tx_next = (b->tx_next + 1) % V3_TX_SLOTS;
      n++;
    }
    a->rx_frame += in->tp_next_offset;
    if (--a->rx_left == 0) v3_return_block(a); /* hand the block back as soon as it is read */
  }
  if (n && send(b->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) perror("ringfwd: send");
  moved += n;
  return n;
}

/* The other way to transmit: sendmmsg() straight from the RX block, no TX ring and no copy in
 * user space; packet_snd() copies each frame once into a fresh linear skb. The block goes back
 * to the kernel once the call has returned. A batch stops at the end of a block. */
static unsigned v3_pump_sendmmsg(v3_port *a, v3_port *b) {
  static struct iovec iov[BATCH];
  static struct mmsghdr msgs[BATCH];
  unsigned n = 0;
  if (a->rx_left == 0) {
    struct tpacket_block_desc *bd = (void *)(a->rx + (size_t)a->rx_block * V3_RX_BLOCK_SIZE);
    if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) return 0;
    a->rx_left = bd->hdr.bh1.num_pkts;
    a->rx_frame = (unsigned char *)bd + bd->hdr.bh1.offset_to_first_pkt;
    if (a->rx_left == 0) { v3_return_block(a); return 0; }
  }
  while (n < BATCH && a->rx_left) {
    struct tpacket3_hdr *in = (void *)a->rx_frame;
    if (in->tp_snaplen < in->tp_len) {
      dropped_too_long++;
    } else {
      unsigned char *frame = (unsigned char *)in + in->tp_mac;
      if (in->tp_status & TP_STATUS_CSUMNOTREADY) finish_checksum(frame, in->tp_snaplen);
      iov[n].iov_base = frame;
      iov[n].iov_len = in->tp_snaplen;
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      n++;
    }
    a->rx_frame += in->tp_next_offset;
    a->rx_left--;
  }
  unsigned sent = 0;
  while (sent < n) { /* a full device queue refuses the rest: drop them, as a full TX ring would stall */
    int k = sendmmsg(b->fd, msgs + sent, n - sent, MSG_DONTWAIT);
    if (k <= 0) { if (k < 0 && errno != EAGAIN && errno != ENOBUFS) perror("ringfwd: sendmmsg"); break; }
    sent += (unsigned)k;
  }
  if (a->rx_left == 0) v3_return_block(a);
  moved += sent;
  return n;
}

static int run_tpacket(const char *dev_a, const char *dev_b, int with_tx_ring) {
  static v3_port p[2];
  if (v3_open(&p[0], dev_a, with_tx_ring) || v3_open(&p[1], dev_b, with_tx_ring)) return 1;
  unsigned (*pump)(v3_port *, v3_port *) = with_tx_ring ? v3_pump : v3_pump_sendmmsg;
  printf("forwarding %s <-> %s (TPACKET_V3 RX blocks, %s)\n", dev_a, dev_b, with_tx_ring ? "V3 TX ring" : "sendmmsg from the RX block");
  fflush(stdout);
  struct pollfd ready[2] = {{p[0].fd, POLLIN, 0}, {p[1].fd, POLLIN, 0}};
  while (!stop) {
    if (pump(&p[0], &p[1]) + pump(&p[1], &p[0])) continue;
    if (poll(ready, 2, 500) < 0 && errno != EINTR) { perror("ringfwd: poll"); return 1; }
  }
  return 0;
}

/* ------------------------------------------------------------------ AF_XDP */

#define UMEM_CHUNK 2048u  /* aligned chunks: a power of two in [2048, PAGE_SIZE] */
#define UMEM_CHUNKS 8192u /* 16 MiB for both devices */
#define XSK_RING 2048u    /* every ring: RX, TX, fill, completion */

typedef struct {
  uint32_t *producer, *consumer;
  void *descs;
  uint32_t mask;
  uint32_t local; /* our producer (fill, TX) or consumer (RX, completion) index */
} xsk_ring;

typedef struct {
  int fd, map_fd, prog_fd, link_fd;
  xsk_ring rx, tx, fill, done;
  unsigned in_flight; /* chunks on this device's TX ring or not yet completed */
} xsk_port;

static uint64_t free_chunks[UMEM_CHUNKS];
static unsigned free_count;

static long bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

/* The whole XDP program, hand-assembled:
 *   r2 = ctx->rx_queue_index          (struct xdp_md, offset 16)
 *   r1 = the XSKMAP (ld_imm64 with BPF_PSEUDO_MAP_FD: the verifier swaps the fd for the map)
 *   r3 = XDP_PASS                     (bpf_redirect_map's fallback when the slot holds no socket)
 *   call bpf_redirect_map; exit       (returns XDP_REDIRECT, or XDP_PASS)                       */
static int load_redirect_program(int map_fd, const char *dev) {
  struct bpf_insn prog[] = {
      {.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1, .off = 16},
      {.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd},
      {.code = 0}, /* the upper 32 bits of the 64-bit immediate */
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = XDP_PASS},
      {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_redirect_map},
      {.code = BPF_JMP | BPF_EXIT},
  };
  static char log[65536];
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.expected_attach_type = BPF_XDP;
  attr.insns = (uint64_t)(uintptr_t)prog;
  attr.insn_cnt = sizeof prog / sizeof prog[0];
  attr.license = (uint64_t)(uintptr_t)"GPL";
  attr.log_buf = (uint64_t)(uintptr_t)log;
  attr.log_size = sizeof log;
  attr.log_level = 1;
  int fd = (int)bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) fprintf(stderr, "ringfwd: BPF_PROG_LOAD for %s: %s\n%s", dev, strerror(errno), log);
  return fd;
}

static int map_ring(int fd, uint64_t pgoff, size_t desc_size, const struct xdp_ring_offset *off, xsk_ring *r, const char *dev) {
  size_t bytes = off->desc + XSK_RING * desc_size;
  unsigned char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, (off_t)pgoff);
  if (m == MAP_FAILED) return fail("mmap an AF_XDP ring of", dev);
  r->producer = (uint32_t *)(m + off->producer);
  r->consumer = (uint32_t *)(m + off->consumer);
  r->descs = m + off->desc;
  r->mask = XSK_RING - 1;
  r->local = 0;
  return 0;
}

static uint32_t ring_ready(xsk_ring *r) { return __atomic_load_n(r->producer, __ATOMIC_ACQUIRE) - r->local; }
static uint32_t ring_room(xsk_ring *r) { return XSK_RING - (r->local - __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE)); }

static void refill(xsk_port *p) {
  uint32_t n = ring_room(&p->fill);
  if (n > free_count) n = free_count;
  uint64_t *addr = p->fill.descs;
  for (uint32_t i = 0; i < n; i++) addr[(p->fill.local + i) & p->fill.mask] = free_chunks[--free_count];
  p->fill.local += n;
  __atomic_store_n(p->fill.producer, p->fill.local, __ATOMIC_RELEASE);
}

static void reclaim(xsk_port *p) {
  uint32_t n = ring_ready(&p->done);
  uint64_t *addr = p->done.descs;
  for (uint32_t i = 0; i < n; i++) free_chunks[free_count++] = addr[(p->done.local + i) & p->done.mask] & ~(uint64_t)(UMEM_CHUNK - 1);
  p->done.local += n;
  __atomic_store_n(p->done.consumer, p->done.local, __ATOMIC_RELEASE);
  p->in_flight -= n;
}

/* umem_owner < 0: this socket registers the UMEM; otherwise it shares umem_owner's. */
static int xsk_open(xsk_port *p, const char *dev, void *umem, int umem_owner, unsigned xdp_mode) {
  unsigned ifindex = if_nametoindex(dev);
  if (!ifindex) return fail("no such device", dev);
  p->fd = socket(AF_XDP, SOCK_RAW, 0);
  if (p->fd < 0) return fail("socket(AF_XDP)", dev);
  if (umem_owner < 0) {
    struct xdp_umem_reg reg = {.addr = (uint64_t)(uintptr_t)umem, .len = (uint64_t)UMEM_CHUNK * UMEM_CHUNKS, .chunk_size = UMEM_CHUNK};
    if (setsockopt(p->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof reg) < 0) return fail("XDP_UMEM_REG (RLIMIT_MEMLOCK without CAP_IPC_LOCK?) on", dev);
  }
  /* A socket sharing the UMEM on another device or queue needs its own fill and completion
   * rings (xp_assign_dev_shared); they are set on this socket, before bind. */
  unsigned ring = XSK_RING;
  if (setsockopt(p->fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof ring) < 0 ||
      setsockopt(p->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof ring) < 0 ||
      setsockopt(p->fd, SOL_XDP, XDP_RX_RING, &ring, sizeof ring) < 0 ||
      setsockopt(p->fd, SOL_XDP, XDP_TX_RING, &ring, sizeof ring) < 0)
    return fail("AF_XDP ring sizes on", dev);
  struct xdp_mmap_offsets off;
  socklen_t len = sizeof off;
  if (getsockopt(p->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &len) < 0) return fail("XDP_MMAP_OFFSETS of", dev);
  if (map_ring(p->fd, XDP_PGOFF_RX_RING, sizeof(struct xdp_desc), &off.rx, &p->rx, dev) ||
      map_ring(p->fd, XDP_PGOFF_TX_RING, sizeof(struct xdp_desc), &off.tx, &p->tx, dev) ||
      map_ring(p->fd, XDP_UMEM_PGOFF_FILL_RING, sizeof(uint64_t), &off.fr, &p->fill, dev) ||
      map_ring(p->fd, XDP_UMEM_PGOFF_COMPLETION_RING, sizeof(uint64_t), &off.cr, &p->done, dev))
    return -1;
  /* Copy mode on purpose: veth has no zero-copy AF_XDP. A socket joining a shared UMEM must
   * pass no mode flag at all (xsk_bind() answers EINVAL); it inherits the owner's mode. */
  struct sockaddr_xdp sxdp = {.sxdp_family = AF_XDP, .sxdp_ifindex = ifindex, .sxdp_queue_id = 0};
  if (umem_owner < 0) {
    sxdp.sxdp_flags = XDP_COPY;
  } else {
    sxdp.sxdp_flags = XDP_SHARED_UMEM;
    sxdp.sxdp_shared_umem_fd = (uint32_t)umem_owner;
  }
  /* Right after an earlier AF_XDP user of this queue exited, bind() answers EBUSY for a while:
   * the old socket's buffer pool leaves the queue only when its deferred release has run. */
  int waited_ms = 0;
  while (bind(p->fd, (struct sockaddr *)&sxdp, sizeof sxdp) < 0) {
    if (errno != EBUSY || waited_ms >= 5000) return fail("bind AF_XDP to queue 0 of", dev);
    usleep(10000);
    waited_ms += 10;
  }
  if (waited_ms) fprintf(stderr, "ringfwd: queue 0 of %s was busy for %d ms (an earlier socket's deferred release)\n", dev, waited_ms);

  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_XSKMAP;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1; /* one entry per RX queue we serve: queue 0 */
  p->map_fd = (int)bpf(BPF_MAP_CREATE, &attr);
  if (p->map_fd < 0) return fail("BPF_MAP_CREATE(XSKMAP) for", dev);
  uint32_t key = 0, value = (uint32_t)p->fd;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (uint32_t)p->map_fd;
  attr.key = (uint64_t)(uintptr_t)&key;
  attr.value = (uint64_t)(uintptr_t)&value;
  if (bpf(BPF_MAP_UPDATE_ELEM, &attr) < 0) return fail("XSKMAP update for", dev);
  p->prog_fd = load_redirect_program(p->map_fd, dev);
  if (p->prog_fd < 0) return -1;
  /* Driver mode: veth runs native XDP in its NAPI poll; generic (SKB) mode runs the program on
   * the skb in the core receive path, on any device. A link detaches when its last fd closes,
   * so a crashed forwarder leaves no program behind. */
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = (uint32_t)p->prog_fd;
  attr.link_create.target_ifindex = ifindex;
  attr.link_create.attach_type = BPF_XDP;
  attr.link_create.flags = xdp_mode;
  p->link_fd = (int)bpf(BPF_LINK_CREATE, &attr);
  if (p->link_fd < 0) return fail("BPF_LINK_CREATE(BPF_XDP, driver mode) on", dev);
  p->in_flight = 0;
  return 0;
}

/* Up to one batch of descriptors from a's RX ring onto b's TX ring: the frames stay where
 * the kernel copied them in the shared UMEM; one sendto() makes copy mode transmit them. */
static unsigned xsk_pump(xsk_port *a, xsk_port *b) {
  reclaim(b);
  uint32_t n = ring_ready(&a->rx), room = ring_room(&b->tx);
  if (n > BATCH) n = BATCH;
  if (n > room) n = room;
  struct xdp_desc *in = a->rx.descs, *out = b->tx.descs;
  for (uint32_t i = 0; i < n; i++) out[(b->tx.local + i) & b->tx.mask] = in[(a->rx.local + i) & a->rx.mask];
  if (n) {
    a->rx.local += n;
    __atomic_store_n(a->rx.consumer, a->rx.local, __ATOMIC_RELEASE);
    b->tx.local += n;
    __atomic_store_n(b->tx.producer, b->tx.local, __ATOMIC_RELEASE);
    b->in_flight += n;
  }
  /* Copy-mode TX happens only inside sendmsg (xsk_generic_xmit, 32 frames per call). */
  if (b->tx.local != __atomic_load_n(b->tx.consumer, __ATOMIC_ACQUIRE) &&
      sendto(b->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
    perror("ringfwd: sendto(AF_XDP)");
  refill(a);
  moved += n;
  return n;
}

static int run_xdp(const char *dev_a, const char *dev_b, unsigned xdp_mode) {
  void *umem = mmap(NULL, (size_t)UMEM_CHUNK * UMEM_CHUNKS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (umem == MAP_FAILED) return fail("mmap", "UMEM");
  for (unsigned i = 0; i < UMEM_CHUNKS; i++) free_chunks[free_count++] = (uint64_t)(UMEM_CHUNKS - 1 - i) * UMEM_CHUNK;
  static xsk_port p[2];
  if (xsk_open(&p[0], dev_a, umem, -1, xdp_mode) || xsk_open(&p[1], dev_b, umem, p[0].fd, xdp_mode)) return 1;
  refill(&p[0]);
  refill(&p[1]);
  printf("forwarding %s <-> %s (AF_XDP copy mode, shared UMEM, XDP in %s mode)\n", dev_a, dev_b,
         xdp_mode == XDP_FLAGS_DRV_MODE ? "driver" : "generic");
  fflush(stdout);
  struct pollfd ready[2] = {{p[0].fd, POLLIN, 0}, {p[1].fd, POLLIN, 0}};
  while (!stop) {
    if (xsk_pump(&p[0], &p[1]) + xsk_pump(&p[1], &p[0])) continue;
    /* Completions are not signalled by poll(): while frames are in flight, look again soon. */
    int wait_ms = p[0].in_flight + p[1].in_flight ? 1 : 500;
    if (poll(ready, 2, wait_ms) < 0 && errno != EINTR) { perror("ringfwd: poll"); return 1; }
  }
  struct xdp_statistics st[2];
  for (int i = 0; i < 2; i++) {
    socklen_t len = sizeof st[i];
    if (getsockopt(p[i].fd, SOL_XDP, XDP_STATISTICS, &st[i], &len) < 0) memset(&st[i], 0, sizeof st[i]);
  }
  printf("AF_XDP drops: %s rx_dropped %llu rx_ring_full %llu fill_empty %llu; %s rx_dropped %llu rx_ring_full %llu fill_empty %llu\n",
         dev_a, (unsigned long long)st[0].rx_dropped, (unsigned long long)st[0].rx_ring_full, (unsigned long long)st[0].rx_fill_ring_empty_descs,
         dev_b, (unsigned long long)st[1].rx_dropped, (unsigned long long)st[1].rx_ring_full, (unsigned long long)st[1].rx_fill_ring_empty_descs);
  return 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  int xdp = argc == 4 && strcmp(argv[1], "--xdp") == 0, xdp_generic = argc == 4 && strcmp(argv[1], "--xdp-generic") == 0,
      tpacket = argc == 4 && strcmp(argv[1], "--tpacket") == 0,
      tpacket_sendmmsg = argc == 4 && strcmp(argv[1], "--tpacket-sendmmsg") == 0;
  if (!xdp && !xdp_generic && !tpacket && !tpacket_sendmmsg) {
    fprintf(stderr, "usage: ringfwd --tpacket|--tpacket-sendmmsg|--xdp|--xdp-generic DEV_A DEV_B\n");
    return 2;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  int rc = xdp || xdp_generic ? run_xdp(argv[2], argv[3], xdp ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE)
                              : run_tpacket(argv[2], argv[3], tpacket);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
  printf("moved %lu frames, dropped %lu too long for a slot; cpu %.0f us (user %ld.%06ld s, sys %ld.%06ld s), %.3f us/frame\n",
         moved, dropped_too_long, cpu_us, (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
         (long)ru.ru_stime.tv_usec, moved ? cpu_us / (double)moved : 0.0);
  return rc;
}
