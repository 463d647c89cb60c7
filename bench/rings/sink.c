/*
 * sink: the receiver of bench/rings: drains UDP datagrams on PORT with recvmmsg until
 * SIGTERM and prints how many arrived (the kernel has checked their checksums).
 * usage: sink PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: sink PORT\n"); return 2; }
  struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: recvmmsg returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int fd = socket(AF_INET, SOCK_DGRAM, 0), size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
  if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) < 0) { perror("sink"); return 1; }
  printf("listening\n");
  fflush(stdout);
  enum { BATCH = 64 };
  static char buf[BATCH][2048];
  struct iovec iov[BATCH];
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) { iov[i].iov_base = buf[i]; iov[i].iov_len = sizeof buf[i]; msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1; }
  unsigned long got = 0, bytes = 0;
  while (!stop) {
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) { if (errno == EINTR) continue; perror("sink: recvmmsg"); return 1; }
    got += (unsigned long)n;
    for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
  }
  printf("received %lu datagrams, %lu bytes\n", got, bytes);
  return 0;
}
