/*
 * blast: a bounded UDP load for bench/rings, written straight to a device over AF_PACKET
 * (no qdisc, sendmmsg in batches of 32), so that the sender costs little and frame sizes
 * are exact. Frames cycle over FLOWS source ports (many flows); every checksum is complete,
 * because a frame that crosses an XDP hook loses any "checksum partial" mark.
 * usage: blast DEV DST_MAC SRC_IP DST_IP DST_PORT FRAME_BYTES SECONDS [PPS]
 *   FRAME_BYTES without the FCS: 60 is a 64-byte frame on the wire, 1514 a 1500-byte IP packet.
 *   PPS 0 or absent: as fast as the device takes them. Stops after SECONDS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOWS 1024
#define BATCH 32

static unsigned add16(const unsigned char *p, unsigned n, unsigned sum) {
  for (; n > 1; p += 2, n -= 2) sum += (unsigned)(p[0] << 8 | p[1]);
  if (n) sum += (unsigned)p[0] << 8;
  return sum;
}
static unsigned fold(unsigned s) { while (s >> 16) s = (s & 0xffff) + (s >> 16); return ~s & 0xffff; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (double)t.tv_sec + (double)t.tv_nsec / 1e9; }

int main(int argc, char **argv) {
  if (argc < 8) { fprintf(stderr, "usage: blast DEV DST_MAC SRC_IP DST_IP DST_PORT FRAME_BYTES SECONDS [PPS]\n"); return 2; }
  unsigned frame_len = (unsigned)atoi(argv[6]);
  double seconds = atof(argv[7]), pps = argc > 8 ? atof(argv[8]) : 0;
  if (frame_len < 60 || frame_len > 1514 || seconds <= 0) { fprintf(stderr, "blast: FRAME_BYTES in [60,1514], SECONDS > 0\n"); return 2; }
  int fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: this socket receives nothing */
  if (fd < 0) { perror("blast: socket"); return 1; }
  int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) { perror(argv[1]); return 1; }
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(argv[1]), .sll_halen = 6};
  unsigned char dst[6];
  struct in_addr src_ip, dst_ip;
  if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dst[0], &dst[1], &dst[2], &dst[3], &dst[4], &dst[5]) != 6 ||
      !inet_aton(argv[3], &src_ip) || !inet_aton(argv[4], &dst_ip)) { fprintf(stderr, "blast: bad MAC or address\n"); return 2; }
  if (bind(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("blast: bind"); return 1; }
  unsigned dst_port = (unsigned)atoi(argv[5]);

  static unsigned char frames[FLOWS][1514];
  for (unsigned f = 0; f < FLOWS; f++) {
    unsigned char *e = frames[f], *ip = e + 14, *udp = ip + 20;
    unsigned ip_len = frame_len - 14, udp_len = ip_len - 20, sport = 10000 + f;
    memcpy(e, dst, 6);
    memcpy(e + 6, ifr.ifr_hwaddr.sa_data, 6);
    e[12] = 0x08; e[13] = 0x00;
    ip[0] = 0x45; ip[2] = (unsigned char)(ip_len >> 8); ip[3] = (unsigned char)ip_len;
    ip[6] = 0x40; /* DF */
    ip[8] = 64; ip[9] = 17;
    memcpy(ip + 12, &src_ip, 4);
    memcpy(ip + 16, &dst_ip, 4);
    unsigned c = fold(add16(ip, 20, 0));
    ip[10] = (unsigned char)(c >> 8); ip[11] = (unsigned char)c;
    udp[0] = (unsigned char)(sport >> 8); udp[1] = (unsigned char)sport;
    udp[2] = (unsigned char)(dst_port >> 8); udp[3] = (unsigned char)dst_port;
    udp[4] = (unsigned char)(udp_len >> 8); udp[5] = (unsigned char)udp_len;
    for (unsigned i = 8; i < udp_len; i++) udp[i] = (unsigned char)(i * 7 + f);
    c = fold(add16(udp, udp_len, add16(ip + 12, 8, 0) + 17 + udp_len));
    if (c == 0) c = 0xffff;
    udp[6] = (unsigned char)(c >> 8); udp[7] = (unsigned char)c;
  }
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  unsigned long sent = 0, refused = 0, next_flow = 0;
  double start = now(), end = start + seconds;
  for (;;) {
    double t = now();
    if (t >= end) break;
    if (pps > 0) {
      double due = start + (double)sent / pps; /* pace in batches against the clock */
      if (due > t) { struct timespec d = {0, (long)((due - t) * 1e9)}; nanosleep(&d, NULL); continue; }
    }
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = frames[next_flow++ % FLOWS];
      iov[i].iov_len = frame_len;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(fd, msgs, BATCH, 0);
    if (n < 0) {
      if (errno != ENOBUFS && errno != EAGAIN) { perror("blast: sendmmsg"); return 1; }
      refused++;
      continue;
    }
    sent += (unsigned long)n;
    next_flow -= (unsigned long)(BATCH - n);
  }
  printf("sent %lu frames of %u bytes in %.2f s (%.0f pps), %lu batches refused\n", sent, frame_len, now() - start, (double)sent / (now() - start), refused);
  return 0;
}
