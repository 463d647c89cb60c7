/*
 * The floor for any TAP design: a minimal forwarder between two TAP devices that does
 * one read and one write per frame and nothing else (no parsing, no batching).
 * By default it reads one frame per readable device per poll(); with --drain it reads
 * (and writes) until the device is empty before polling again, as wasmvs does: still
 * one read and one write per frame, but one wakeup for many frames.
 * usage: tapfwd [--drain] TAP_A TAP_B   (as root; the devices are created if missing)
 * Runs until SIGINT/SIGTERM; prints the frames it moved.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static int tap(const char *name) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
  if (fd < 0) { perror("/dev/net/tun"); return -1; }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0) { perror(name); close(fd); return -1; }
  return fd;
}

int main(int argc, char **argv) {
  int drain = argc == 4 && strcmp(argv[1], "--drain") == 0;
  if (argc != 3 + drain) { fprintf(stderr, "usage: tapfwd [--drain] TAP_A TAP_B\n"); return 2; }
  argv += drain;
  int fd[2] = {tap(argv[1]), tap(argv[2])};
  if (fd[0] < 0 || fd[1] < 0) return 1;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("forwarding %s <-> %s%s\n", argv[1], argv[2], drain ? ", draining" : "");
  fflush(stdout);
  static unsigned char buf[65536];
  unsigned long moved = 0;
  struct pollfd p[2] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}};
  while (!stop) {
    if (poll(p, 2, 500) < 0) { if (errno == EINTR) continue; perror("poll"); break; }
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & POLLIN)) continue;
      ssize_t n;
      do {
        n = read(fd[i], buf, sizeof buf);
        if (n > 0 && write(fd[1 - i], buf, (size_t)n) == n) moved++;
      } while (drain && n > 0);
    }
  }
  printf("moved %lu frames\n", moved);
  return 0;
}
