// The ring ports' kernel counters (XDP_STATISTICS) as drops, each frame once: for metrics and
// the stop summary. Pure, no addon: the playground bundles the summary.

import type { RingInfo } from "./tap.js";

/** The frames the kernel dropped on their way to a ring port's sockets, each once. In copy mode a
 *  frame that finds the fill ring empty is counted twice by XDP_STATISTICS: in
 *  rx_fill_ring_empty_descs (xp_alloc found no address) and in rx_dropped (__xsk_rcv's failed
 *  allocation) — measured, a flood gave equal counts in both on both devices — so "other" is
 *  rx_dropped less those. With the fill ring as large as the receive ring (rings.c), a data path
 *  that falls behind empties the fill ring first: it shows as fill_ring_empty, rarely as rx_ring_full.
 *  rx_invalid counts fill-ring entries the kernel skipped, tx_invalid frames not sent. */
export function ringDrops(g: RingInfo): { rxRingFull: number; fillRingEmpty: number; invalid: number; other: number; arpCopy: number; total: number } {
  const other = Math.max(0, g.rxDropped - g.fillRingEmpty);
  const invalid = g.rxInvalid + g.txInvalid;
  // ARP copies the engine's AF_PACKET socket lost (PACKET_STATISTICS): the host had the frame.
  const arpCopy = g.arpDropped ?? 0;
  return { rxRingFull: g.rxRingFull, fillRingEmpty: g.fillRingEmpty, invalid, other, arpCopy, total: g.rxRingFull + g.fillRingEmpty + invalid + other + arpCopy };
}
