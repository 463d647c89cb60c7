/*
 * The ring backend of the wasmvs addon (rings.c): an existing interface of the host attached
 * through AF_XDP sockets, beside the TAP backend of tap.c. A ring port is known by the
 * descriptor of its first socket, so the pump's by-ifindex descriptor table (FramePump.fds),
 * readBatch, writeBatch and epollOpen take either kind.
 */
#ifndef WASMVS_RINGS_H
#define WASMVS_RINGS_H

#include <node_api.h>
#include <stdint.h>

typedef struct ring_port ring_port;

/* The ring port whose key descriptor is fd, or NULL for any other descriptor (a TAP). */
ring_port *ring_port_of(int fd);

/* Up to max received frames into RX slots first.. (the layout read_frames in tap.c uses). */
uint32_t ring_read(ring_port *p, uint8_t *mem, uint32_t desc, uint32_t slots, uint32_t slot, uint32_t head,
                   uint32_t first, uint32_t max, uint32_t ifindex);

/* One frame onto the port's TX ring (sent at ring_kick); 0 when the ring or its frames are full. */
int ring_queue(ring_port *p, const uint8_t *frame, uint32_t len);

/* Hand the queued frames to the kernel. */
void ring_kick(ring_port *p);

/* Every descriptor of the port, for epoll (its sockets and its ARP socket); returns how many. */
int ring_fds(ring_port *p, int *out, int max);

/* The port's ARP socket, among ring_fds's: epoll reports it apart (ring_arp_ready). */
int ring_arp_fd(ring_port *p);

/* Epoll said the ARP socket has frames: the next ring_read reads them. Otherwise ring_read
 * leaves that socket alone, which saves a recv() that finds nothing on every read. */
void ring_arp_ready(ring_port *p);

/* Throws an Error with message msg and its errno property set to err (tap.c); returns NULL. */
napi_value throw_with_errno(napi_env env, const char *msg, int err);

/* Adds the ring functions to the addon's exports. */
void rings_init(napi_env env, napi_value exports);

#endif
