/*
 * wasmvs_tap: TAP devices for the wasmvs data path, as a small N-API addon.
 *
 * Frames move between TAP file descriptors and the engine's frame slots in
 * WebAssembly memory directly: readBatch() reads up to N frames into consecutive RX
 * slots and fills their descriptors, writeBatch() writes every frame the TX
 * descriptors point at. One call per batch, no per-frame copy or call in JavaScript.
 * Readiness comes from the event loop (uv_poll), so an idle director uses no CPU.
 *
 * The descriptor layout is the engine's (assembly/abi.ts), handed over as WASMVS_*
 * defines by binding.gyp (host/io/native/abi-defines.cjs reads them from abi.ts):
 * RX {ifindex, len} and TX {ptr, len, ifindex}, u32 fields, little endian.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rings.h"

/* net/if.h clashes with linux/if.h; only this is wanted from it. */
extern unsigned int if_nametoindex(const char *ifname);

#if !defined(WASMVS_DESC_SIZE) || !defined(WASMVS_RX_LEN) || !defined(WASMVS_TX_IFINDEX) || !defined(WASMVS_VNET_HDR_LEN)
#error "build through binding.gyp: the descriptor layout comes from assembly/abi.ts"
#endif
#define DESC_SIZE WASMVS_DESC_SIZE

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, NULL, "wasmvs_tap: N-API call failed: " #call); \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

napi_value throw_with_errno(napi_env env, const char *msg, int err) {
  napi_value code, message, error;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_int32(env, err, &code);
  napi_create_error(env, NULL, message, &error);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_errno(napi_env env, const char *what, const char *dev, int err) {
  char msg[256];
  const char *hint = "";
  if (err == EPERM || err == EACCES) hint = " (needs root or CAP_NET_ADMIN)";
  else if (err == EBUSY) hint = " (the device is in use by another process)";
  else if (err == ENOENT || err == ENODEV) hint = " (is the tun module loaded? /dev/net/tun must exist)";
  snprintf(msg, sizeof msg, "%s %s: %s%s", what, dev, strerror(err), hint);
  return throw_with_errno(env, msg, err);
}

static int32_t arg_i32(napi_env env, napi_value v) {
  int32_t x = 0;
  napi_get_value_int32(env, v, &x);
  return x;
}

/* The bytes of a WebAssembly.Memory's buffer (or any ArrayBuffer / typed array) and their
 * number in *len. */
static uint8_t *buffer_bytes(napi_env env, napi_value v, size_t *len) {
  bool is_ab = false, is_ta = false;
  void *data = NULL;
  napi_is_arraybuffer(env, v, &is_ab);
  if (is_ab) {
    if (napi_get_arraybuffer_info(env, v, &data, len) != napi_ok) return NULL;
    return data;
  }
  napi_is_typedarray(env, v, &is_ta);
  if (is_ta) {
    napi_typedarray_type t;
    size_t n, off;
    napi_value ab;
    if (napi_get_typedarray_info(env, v, &t, &n, &data, &ab, &off) != napi_ok) return NULL;
    /* Bytes, not elements: every caller sizes its checks in bytes. */
    size_t size = 1;
    switch (t) {
      case napi_int16_array: case napi_uint16_array: size = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: size = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: size = 8; break;
      default: size = 1;
    }
    *len = n * size;
    return data;
  }
  return NULL;
}

/* open(name, vnetHdr) -> fd. Creates the device if it does not exist (non-persistent:
 * it goes away with the last descriptor). */
static napi_value tap_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ + 1] = {0};
  size_t n = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok || n == 0 || n >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "open(name): name must be a string of 1 to 15 characters");
    return NULL;
  }
  bool vnet = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &vnet);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "cannot open /dev/net/tun for", name, errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, n);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    /* EINVAL: the name is an interface of another kind (a NIC, a veth, a bridge). */
    if (e == EINVAL && if_nametoindex(name) != 0) {
      char msg[320];
      snprintf(msg, sizeof msg, "cannot attach TAP device %s: %s exists and is not a TAP device; to attach to an existing interface "
               "name it with 'device %s' instead of 'tap' (AF_XDP rings: no bridge, no TAP)", name, name, name);
      return throw_with_errno(env, msg, e);
    }
    return throw_errno(env, "cannot attach TAP device", name, e);
  }
  /* Without virtio-net headers, offloads must be off: a device an earlier user left
   * with them on would hand over oversized or unchecksummed frames. With them, the
   * kernel may pass TCP segments up to 64 KB and leave checksums partial. */
  int hdr = WASMVS_VNET_HDR_LEN;
  if (vnet && ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "cannot set the virtio-net header size of", name, e);
  }
  if (ioctl(fd, TUNSETOFFLOAD, vnet ? (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN) : 0UL) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, vnet ? "cannot turn on offloads of" : "cannot clear offloads of", name, e);
  }
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

static napi_value tap_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  close(arg_i32(env, argv[0]));
  return NULL;
}

/* Read frames from fd into RX slots first, first+1, ... until it is empty (EAGAIN) or
 * max are read; each descriptor gets ifindex and the frame's length. One byte more than
 * the slot holds is asked for: the next slot's headroom (or the region after the last
 * slot) absorbs it, and a frame that fills it is known to be too big (the engine drops and
 * counts it); nothing is truncated silently. With pre = the virtio-net header's size, that
 * header lands in the headroom right before the frame. Returns the frames read. */
static uint32_t read_frames(int fd, uint8_t *mem, uint32_t desc, uint32_t slots, uint32_t slot, uint32_t head, uint32_t pre,
                            uint32_t first, uint32_t max, uint32_t ifindex) {
  uint32_t cap = slot - head, got = 0;
  while (got < max) {
    uint32_t i = first + got;
    uint8_t *p = mem + slots + (size_t)i * slot + head;
    ssize_t r = read(fd, p - pre, cap + 1 + pre);
    if (r < (ssize_t)pre) {
      if (r < 0 && errno == EINTR) continue;
      break; /* EAGAIN: drained */
    }
    uint8_t *d = mem + desc + (size_t)i * DESC_SIZE;
    uint32_t len = (uint32_t)r - pre;
    memcpy(d + WASMVS_RX_IFINDEX, &ifindex, 4);
    memcpy(d + WASMVS_RX_LEN, &len, 4);
    got++;
  }
  return got;
}

/* readBatch(fd, memory, descBase, slotsBase, slotSize, headroom, first, max, ifindex, vnet)
 * -> frames read (read_frames above). */
static napi_value tap_read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool vnet = false;
  if (argc > 9) napi_get_value_bool(env, argv[9], &vnet);
  uint32_t pre = vnet ? WASMVS_VNET_HDR_LEN : 0;
  if (argc < 9) {
    napi_throw_type_error(env, NULL, "readBatch(fd, memory, descBase, slotsBase, slotSize, headroom, first, max, ifindex)");
    return NULL;
  }
  int fd = arg_i32(env, argv[0]);
  size_t mlen = 0;
  uint8_t *mem = buffer_bytes(env, argv[1], &mlen);
  uint32_t desc = (uint32_t)arg_i32(env, argv[2]), slots = (uint32_t)arg_i32(env, argv[3]);
  uint32_t slot = (uint32_t)arg_i32(env, argv[4]), head = (uint32_t)arg_i32(env, argv[5]);
  uint32_t first = (uint32_t)arg_i32(env, argv[6]), max = (uint32_t)arg_i32(env, argv[7]);
  uint32_t ifindex = (uint32_t)arg_i32(env, argv[8]);
  if (!mem || (uint64_t)slots + (uint64_t)(first + max) * slot > mlen || (uint64_t)desc + (uint64_t)(first + max) * DESC_SIZE > mlen) {
    napi_throw_range_error(env, NULL, "readBatch: slots or descriptors outside the memory");
    return NULL;
  }
  ring_port *ring = ring_port_of(fd);
  uint32_t got = ring ? ring_read(ring, mem, desc, slots, slot, head, first, max, ifindex)
                      : read_frames(fd, mem, desc, slots, slot, head, pre, first, max, ifindex);
  napi_value out;
  CHECK(napi_create_uint32(env, got, &out));
  return out;
}

/* writeBatch(fds: Int32Array by ifindex, memory, txDescBase, count, errors: Float64Array?, vnet)
 * -> frames written. Frames that cannot be written (queue full, device down) are
 * counted in errors[ifindex] when given. With vnet, each frame's virtio-net header is
 * the 10 bytes before it and is written with it. */
static napi_value tap_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool vnet = false;
  if (argc > 5) napi_get_value_bool(env, argv[5], &vnet);
  uint32_t pre = vnet ? WASMVS_VNET_HDR_LEN : 0;
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "writeBatch(fds, memory, txDescBase, count[, errors])");
    return NULL;
  }
  size_t flen = 0, mlen = 0, elen = 0;
  int32_t *fds = (int32_t *)buffer_bytes(env, argv[0], &flen);
  uint8_t *mem = buffer_bytes(env, argv[1], &mlen);
  uint32_t desc = (uint32_t)arg_i32(env, argv[2]), count = (uint32_t)arg_i32(env, argv[3]);
  double *errors = NULL;
  if (argc > 4) {
    napi_valuetype t;
    napi_typeof(env, argv[4], &t);
    if (t == napi_object) errors = (double *)buffer_bytes(env, argv[4], &elen);
    elen /= sizeof(double);
  }
  if (!fds || !mem || (uint64_t)desc + (uint64_t)count * DESC_SIZE > mlen) {
    napi_throw_range_error(env, NULL, "writeBatch: descriptors outside the memory");
    return NULL;
  }
  uint32_t written = 0;
  /* Ring ports by ifindex, looked up once per call; each kicked once, after the loop. */
  ring_port *rings[32] = {0};
  uint32_t looked = 0, touched = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *d = mem + desc + (size_t)i * DESC_SIZE;
    uint32_t ptr, len, ifindex;
    memcpy(&ptr, d + WASMVS_TX_PTR, 4);
    memcpy(&len, d + WASMVS_TX_LEN, 4);
    memcpy(&ifindex, d + WASMVS_TX_IFINDEX, 4);
    if (ifindex >= flen / 4 || ifindex >= 32 || fds[ifindex] < 0 || (uint64_t)ptr + len > mlen || ptr < pre) {
      if (errors && ifindex < elen) errors[ifindex]++;
      continue;
    }
    if (!(looked & (1u << ifindex))) {
      looked |= 1u << ifindex;
      rings[ifindex] = ring_port_of(fds[ifindex]);
    }
    if (rings[ifindex]) {
      if (ring_queue(rings[ifindex], mem + ptr, len)) {
        written++;
        touched |= 1u << ifindex;
      } else if (errors && ifindex < elen) errors[ifindex]++;
      continue;
    }
    ssize_t w;
    do w = write(fds[ifindex], mem + ptr - pre, len + pre);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)(len + pre)) written++;
    else if (errors && ifindex < elen) errors[ifindex]++;
  }
  for (uint32_t k = 0; touched; k++, touched >>= 1)
    if (touched & 1) ring_kick(rings[k]);
  napi_value out;
  CHECK(napi_create_uint32(env, written, &out));
  return out;
}

/* ---- readiness ------------------------------------------------------------------- */

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int closed;
} watch_t;

static void on_ready(uv_poll_t *h, int status, int events) {
  watch_t *w = (watch_t *)h->data;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, global, arg, result;
  napi_get_reference_value(env, w->callback, &cb);
  /* The receiver must be an object: with undefined, napi_make_callback fails and the
   * poll, never drained, would spin. */
  napi_get_global(env, &global);
  napi_create_int32(env, status, &arg);
  if (napi_make_callback(env, w->context, global, cb, 1, &arg, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ex;
      napi_get_and_clear_last_exception(env, &ex);
      napi_fatal_exception(env, ex);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void on_closed(uv_handle_t *h) {
  watch_t *w = (watch_t *)h->data;
  napi_delete_reference(w->env, w->callback);
  napi_async_destroy(w->env, w->context);
  free(w);
}

static void watch_finalize(napi_env env, void *data, void *hint) {
  watch_t *w = (watch_t *)data;
  if (!w->closed) {
    w->closed = 1;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, on_closed);
  }
}

/* watch(fd, callback) -> handle: callback() runs whenever fd is readable, until
 * unwatch(handle). */
static napi_value tap_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd = arg_i32(env, argv[0]);
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  watch_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "watch: out of memory");
    return NULL;
  }
  w->env = env;
  napi_value name;
  CHECK(napi_create_string_utf8(env, "wasmvs:tap", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &w->context));
  CHECK(napi_create_reference(env, argv[1], 1, &w->callback));
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    free(w);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, on_ready);
  napi_value handle;
  CHECK(napi_create_external(env, w, watch_finalize, NULL, &handle));
  return handle;
}

static napi_value tap_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  watch_t *w = NULL;
  CHECK(napi_get_value_external(env, argv[0], (void **)&w));
  if (w && !w->closed) {
    w->closed = 1;
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, on_closed);
  }
  return NULL;
}

/* ---- a blocking loop on a thread of its own ------------------------------------------
 * The data-path thread waits in epoll_wait itself (nothing else is scheduled on it), and
 * the control plane wakes it with an eventfd "doorbell" after posting a message. */

#define BELL_BIT 31u
/* In an epoll event's data: the ring port's ARP socket, beside its ifindex. */
#define ARP_MARK (1u << 8)

/* The ring ports by ifindex, for the ARP sockets' events (one data-path thread, one epoll set). */
static ring_port *epoll_rings[32];

/* epollOpen(fds: Int32Array by ifindex, bellFd) -> epfd, level-triggered, each fd's
 * event carrying its ifindex; the doorbell carries BELL_BIT. */
static napi_value loop_epoll_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t flen = 0;
  int32_t *fds = argc > 0 ? (int32_t *)buffer_bytes(env, argv[0], &flen) : NULL;
  if (!fds || argc < 2) {
    napi_throw_type_error(env, NULL, "epollOpen(fds: Int32Array, bellFd)");
    return NULL;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return throw_errno(env, "epoll_create1", "", errno);
  for (uint32_t i = 0; i < flen / 4 && i < BELL_BIT; i++) {
    if (fds[i] < 0) continue;
    /* A ring port is several descriptors (a socket per queue, the ARP socket), one ifindex. */
    int each[40] = {fds[i]}, n = 1;
    ring_port *ring = ring_port_of(fds[i]);
    if (ring) n = ring_fds(ring, each, 40);
    if (i < 32) epoll_rings[i] = ring;
    for (int k = 0; k < n; k++) {
      struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i | (ring && each[k] == ring_arp_fd(ring) ? ARP_MARK : 0)};
      if (epoll_ctl(ep, EPOLL_CTL_ADD, each[k], &ev) < 0) {
        int e = errno;
        close(ep);
        return throw_errno(env, "epoll_ctl", "", e);
      }
    }
  }
  struct epoll_event bell = {.events = EPOLLIN, .data.u32 = BELL_BIT};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, arg_i32(env, argv[1]), &bell) < 0) {
    int e = errno;
    close(ep);
    return throw_errno(env, "epoll_ctl (doorbell)", "", e);
  }
  napi_value out;
  CHECK(napi_create_int32(env, ep, &out));
  return out;
}

/* epollWait(epfd, timeoutMs) -> bit mask of the ready ifindexes, bit 31 for the doorbell
 * (0 on timeout or signal). Blocks the calling thread. The data-path thread then reads
 * each ready TAP with readBatch and hands each batch to the engine before the next: measured
 * with bench:e2e, reading all ready TAPs into one batch first cost a fifth of a bulk TCP
 * transfer's throughput through NAT (its data and its ACKs no longer alternate). */
static napi_value loop_epoll_wait(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct epoll_event evs[32];
  int n = epoll_wait(arg_i32(env, argv[0]), evs, 32, arg_i32(env, argv[1]));
  uint32_t mask = 0;
  for (int i = 0; i < n; i++) {
    uint32_t ifindex = evs[i].data.u32 & 31u;
    mask |= 1u << ifindex;
    if ((evs[i].data.u32 & ARP_MARK) && epoll_rings[ifindex]) ring_arp_ready(epoll_rings[ifindex]);
  }
  napi_value out;
  CHECK(napi_create_uint32(env, mask, &out));
  return out;
}

/* bellOpen() -> a non-blocking eventfd. */
static napi_value bell_open(napi_env env, napi_callback_info info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "eventfd", "", errno);
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

/* bellRing(fd): wake whoever waits on it. */
static napi_value bell_ring(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint64_t one = 1;
  ssize_t w = write(arg_i32(env, argv[0]), &one, sizeof one);
  (void)w; /* EAGAIN: the counter is saturated, the waiter wakes anyway */
  return NULL;
}

/* bellClear(fd): consume the rings so far. */
static napi_value bell_clear(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint64_t v;
  ssize_t r = read(arg_i32(env, argv[0]), &v, sizeof v);
  (void)r;
  return NULL;
}

/* peerCredentials(fd) -> {pid, uid, gid} of a connected Unix socket's peer (SO_PEERCRED). */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(arg_i32(env, argv[0]), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, "SO_PEERCRED", "", errno);
  napi_value out, v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_int32(env, cred.pid, &v));
  CHECK(napi_set_named_property(env, out, "pid", v));
  CHECK(napi_create_uint32(env, cred.uid, &v));
  CHECK(napi_set_named_property(env, out, "uid", v));
  CHECK(napi_create_uint32(env, cred.gid, &v));
  CHECK(napi_set_named_property(env, out, "gid", v));
  return out;
}

/* tcpSocket(src, sport, dst, dport) -> {uid, rqueue, wqueue} of the IPv4 TCP socket of this
 * network namespace whose local end is src:sport and remote end dst:dport, or null when there is
 * none. Addresses are host-order 32-bit numbers. An exact lookup by sock_diag (the kernel hashes
 * the four-tuple, as `ss -e` asks), so its cost does not grow with the sockets there are. The
 * metrics and dashboard ask it of a client's own socket, when the client is on this host, to tell
 * the local users who share 127.0.0.1 apart (uid) and to see what a page has not read (rqueue:
 * received, unread); of their own socket for a remote client (wqueue: sent, not acknowledged). */
static napi_value tcp_socket(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t src, dst, sport, dport;
  CHECK(napi_get_value_uint32(env, argv[0], &src));
  CHECK(napi_get_value_uint32(env, argv[1], &sport));
  CHECK(napi_get_value_uint32(env, argv[2], &dst));
  CHECK(napi_get_value_uint32(env, argv[3], &dport));
  napi_value out;
  CHECK(napi_get_null(env, &out));
  /* One netlink socket per thread, kept: asked at every accept, opening one each time cost
   * half the lookup. A request gets exactly one answer (the socket or an error). */
  static __thread int fd = -1;
  static __thread uint32_t seq = 0;
  if (fd < 0) fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return out;
  struct { struct nlmsghdr nlh; struct inet_diag_req_v2 r; } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_len = sizeof req;
  req.nlh.nlmsg_seq = ++seq;
  req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.nlh.nlmsg_flags = NLM_F_REQUEST; /* no NLM_F_DUMP: one socket, found by its four-tuple */
  req.r.sdiag_family = AF_INET;
  req.r.sdiag_protocol = IPPROTO_TCP;
  req.r.idiag_states = ~0U;
  req.r.id.idiag_src[0] = htonl(src);
  req.r.id.idiag_dst[0] = htonl(dst);
  req.r.id.idiag_sport = htons((uint16_t)sport);
  req.r.id.idiag_dport = htons((uint16_t)dport);
  req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  struct sockaddr_nl nl;
  memset(&nl, 0, sizeof nl);
  nl.nl_family = AF_NETLINK;
  union { struct nlmsghdr h; char b[4096]; } buf;
  struct inet_diag_msg m;
  int found = 0;
  if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&nl, sizeof nl) == (ssize_t)sizeof req) {
    ssize_t n = recv(fd, &buf, sizeof buf, 0);
    if (n < 0 || (n >= (ssize_t)sizeof buf.h && buf.h.nlmsg_seq != seq)) {
      /* Out of step (never expected): start again with a fresh socket next time. */
      close(fd);
      fd = -1;
    } else if (n >= (ssize_t)NLMSG_LENGTH(sizeof m) && NLMSG_OK(&buf.h, (size_t)n) && buf.h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      memcpy(&m, NLMSG_DATA(&buf.h), sizeof m);
      found = 1;
    }
  } else {
    close(fd);
    fd = -1;
  }
  if (!found) return out;
  napi_value v;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_uint32(env, m.idiag_uid, &v));
  CHECK(napi_set_named_property(env, out, "uid", v));
  CHECK(napi_create_uint32(env, m.idiag_rqueue, &v));
  CHECK(napi_set_named_property(env, out, "rqueue", v));
  CHECK(napi_create_uint32(env, m.idiag_wqueue, &v));
  CHECK(napi_set_named_property(env, out, "wqueue", v));
  return out;
}

/* linkFlags(name) -> the interface's flags (SIOCGIFFLAGS: IFF_UP, IFF_RUNNING ...) in the
 * process's own network namespace, or -1 when there is no such interface. Sysfs may show
 * another namespace (entered without remounting it); a socket is always the caller's. */
static napi_value link_flags(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  size_t len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[0], ifr.ifr_name, IFNAMSIZ, &len));
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return throw_errno(env, "socket", ifr.ifr_name, errno);
  int flags = -1;
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) flags = ifr.ifr_flags & 0xffff;
  close(sock);
  napi_value out;
  CHECK(napi_create_int32(env, flags, &out));
  return out;
}

/* sendDatagram(path, bytes) -> 0, or the errno: one datagram to the Unix datagram socket at
 * path (a leading '@' names an abstract socket, as $NOTIFY_SOCKET may). Node's dgram has no
 * AF_UNIX; syslog's /dev/log and systemd's $NOTIFY_SOCKET are both such sockets. One socket
 * per thread, kept, non-blocking: a log line is dropped (EAGAIN) rather than stall the
 * control plane behind a syslog daemon that does not read. */
static napi_value send_datagram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t len = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof sa.sun_path, &len) != napi_ok || len == 0 ||
      len >= sizeof sa.sun_path - 1) {
    napi_throw_type_error(env, NULL, "sendDatagram(path, bytes): path must be a string of 1 to 106 characters");
    return NULL;
  }
  size_t n = 0;
  uint8_t *data = buffer_bytes(env, argv[1], &n);
  if (!data && n != 0) {
    napi_throw_type_error(env, NULL, "sendDatagram(path, bytes): bytes must be a Buffer");
    return NULL;
  }
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
  static __thread int fd = -1;
  if (fd < 0) fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int err = 0;
  if (fd < 0) err = errno;
  else if (sendto(fd, data, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) err = errno;
  napi_value out;
  CHECK(napi_create_int32(env, err, &out));
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, tap_open, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, tap_close, NULL, NULL, NULL, napi_default, NULL},
    {"readBatch", NULL, tap_read_batch, NULL, NULL, NULL, napi_default, NULL},
    {"writeBatch", NULL, tap_write_batch, NULL, NULL, NULL, napi_default, NULL},
    {"watch", NULL, tap_watch, NULL, NULL, NULL, napi_default, NULL},
    {"unwatch", NULL, tap_unwatch, NULL, NULL, NULL, napi_default, NULL},
    {"epollOpen", NULL, loop_epoll_open, NULL, NULL, NULL, napi_default, NULL},
    {"epollWait", NULL, loop_epoll_wait, NULL, NULL, NULL, napi_default, NULL},
    {"bellOpen", NULL, bell_open, NULL, NULL, NULL, napi_default, NULL},
    {"bellRing", NULL, bell_ring, NULL, NULL, NULL, napi_default, NULL},
    {"bellClear", NULL, bell_clear, NULL, NULL, NULL, napi_default, NULL},
    {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_default, NULL},
    {"linkFlags", NULL, link_flags, NULL, NULL, NULL, napi_default, NULL},
    {"tcpSocket", NULL, tcp_socket, NULL, NULL, NULL, napi_default, NULL},
    {"sendDatagram", NULL, send_datagram, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  rings_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
