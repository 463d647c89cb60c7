/*
 * A reference for user-space forwarding without TAP: a minimal L2 forwarder between two
 * interfaces (veths) over AF_PACKET with memory-mapped rings (TPACKET_V2). Frames are
 * read from one RX ring and copied to the other TX ring with no syscall per frame: one
 * send() per batch to flush a TX ring, one poll() when both RX rings are empty. It
 * shows whether the per-frame syscalls of a TAP design are what costs.
 * usage: pktfwd DEV_A DEV_B   (as root; the devices must exist and be up)
 * Frames the kernel left checksum-partial get their TCP/UDP checksum here; frames
 * longer than a ring slot are dropped and counted. Runs until SIGINT/SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOT 2048
#define SLOTS 1024
#define SLOTS_PER_BLOCK 64

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

typedef struct {
  int fd;
  unsigned char *rx, *tx;
  unsigned rx_next, tx_next;
} ring_port;

static unsigned long moved, too_long;

static int open_port(ring_port *p, const char *dev) {
  p->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (p->fd < 0) { perror("socket"); return -1; }
  int version = TPACKET_V2, one = 1;
  struct tpacket_req req = {SLOT * SLOTS_PER_BLOCK, SLOTS / SLOTS_PER_BLOCK, SLOT, SLOTS};
  if (setsockopt(p->fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0 ||
      /* Our own transmissions must not come back on the RX ring. */
      setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 ||
      setsockopt(p->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0 ||
      setsockopt(p->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0 ||
      setsockopt(p->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) {
    perror(dev);
    return -1;
  }
  size_t bytes = (size_t)SLOT * SLOTS;
  unsigned char *m = mmap(NULL, 2 * bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, p->fd, 0);
  if (m == MAP_FAILED) { perror("mmap"); return -1; }
  p->rx = m;
  p->tx = m + bytes;
  p->rx_next = p->tx_next = 0;
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)if_nametoindex(dev)};
  if (sll.sll_ifindex == 0 || bind(p->fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror(dev); return -1; }
  return 0;
}

static unsigned add16(const unsigned char *p, unsigned n, unsigned sum) {
  for (; n > 1; p += 2, n -= 2) sum += (unsigned)(p[0] << 8 | p[1]);
  if (n) sum += (unsigned)p[0] << 8;
  return sum;
}

/* The TCP or UDP checksum of an IPv4 frame the sender left for "hardware" (RFC 1071). */
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

/* Everything waiting on a's RX ring to b's TX ring, then one send() to flush it. */
static unsigned pump(ring_port *a, ring_port *b) {
  unsigned n = 0;
  for (;;) {
    struct tpacket2_hdr *in = (void *)(a->rx + (size_t)a->rx_next * SLOT);
    if (!(__atomic_load_n(&in->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
    struct tpacket2_hdr *out = (void *)(b->tx + (size_t)b->tx_next * SLOT);
    if (__atomic_load_n(&out->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) break; /* TX ring full */
    if (in->tp_snaplen < in->tp_len) {
      too_long++;
    } else {
      unsigned char *frame = (unsigned char *)out + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
      memcpy(frame, (unsigned char *)in + in->tp_mac, in->tp_snaplen);
      if (in->tp_status & TP_STATUS_CSUMNOTREADY) finish_checksum(frame, in->tp_snaplen);
      out->tp_len = in->tp_snaplen;
      __atomic_store_n(&out->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
      b->tx_next = (b->tx_next + 1) % SLOTS;
      n++;
    }
    __atomic_store_n(&in->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    a->rx_next = (a->rx_next + 1) % SLOTS;
  }
  if (n && send(b->fd, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) perror("send");
  moved += n;
  return n;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: pktfwd DEV_A DEV_B\n"); return 2; }
  ring_port p[2];
  if (open_port(&p[0], argv[1]) || open_port(&p[1], argv[2])) return 1;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("forwarding %s <-> %s (AF_PACKET rings)\n", argv[1], argv[2]);
  fflush(stdout);
  struct pollfd ready[2] = {{p[0].fd, POLLIN, 0}, {p[1].fd, POLLIN, 0}};
  while (!stop) {
    if (pump(&p[0], &p[1]) + pump(&p[1], &p[0])) continue;
    if (poll(ready, 2, 500) < 0 && errno != EINTR) { perror("poll"); break; }
  }
  printf("moved %lu frames, dropped %lu too long for a slot\n", moved, too_long);
  return 0;
}
