// The virtio-net header a TAP opened with IFF_VNET_HDR puts in front of every frame
// (struct virtio_net_hdr, 10 bytes, little endian on the hosts wasmvs runs on). It
// lets the kernel hand over and accept TCP segments up to 64 KB (GSO) and frames whose
// TCP/UDP checksum is left for later (NEEDS_CSUM: the field holds only the
// pseudo-header sum, and the sum from csum_start on is completed by whoever segments or
// delivers the frame).
//
//  0      1          2         4          6            8             10
// +------+----------+---------+----------+------------+-------------+
// |flags | gso_type | hdr_len | gso_size | csum_start | csum_offset |
// +------+----------+---------+----------+------------+-------------+
//
// In vnet mode the engine keeps this header in the 10 bytes of headroom right before
// each frame, in RX and TX slots alike, so the addon reads and writes it with the frame.

export namespace VnetField {
  @inline export const FLAGS: usize = 0;
  @inline export const GSO_TYPE: usize = 1;
  @inline export const HDR_LEN: usize = 2;
  @inline export const GSO_SIZE: usize = 4;
  @inline export const CSUM_START: usize = 6;
  @inline export const CSUM_OFFSET: usize = 8;
}
@inline export const VNET_HDR_LEN: usize = 10;
@inline export const VNET_F_NEEDS_CSUM: u32 = 1;
@inline export const VNET_GSO_NONE: u32 = 0;

/** The header of the frame at frame. */
@inline export function vnetHeader(frame: usize): usize { return frame - VNET_HDR_LEN; }

/** True if the frame's TCP/UDP checksum is partial (pseudo-header sum only). */
@inline export function vnetNeedsCsum(frame: usize): bool {
  return (<u32>load<u8>(vnetHeader(frame), VnetField.FLAGS) & VNET_F_NEEDS_CSUM) != 0;
}

@inline export function vnetGsoType(frame: usize): u32 {
  return <u32>load<u8>(vnetHeader(frame), VnetField.GSO_TYPE);
}

/** A plain frame: no offload state (frames the engine builds or fully checksums). */
@inline export function vnetClear(frame: usize): void {
  let h = vnetHeader(frame);
  store<u64>(h, 0);
  store<u16>(h, 0, 8);
}

/** Move the frame's header along with the frame (from old start to new start), with
 *  csum_start shifted by the bytes inserted in front of the checksummed part. */
@inline export function vnetMove(oldFrame: usize, newFrame: usize, inserted: u32): void {
  let from = vnetHeader(oldFrame);
  let to = vnetHeader(newFrame);
  store<u64>(to, load<u64>(from));
  store<u16>(to, load<u16>(from, 8), 8);
  if ((<u32>load<u8>(to, VnetField.FLAGS) & VNET_F_NEEDS_CSUM) != 0) {
    store<u16>(to, <u16>(<u32>load<u16>(to, VnetField.CSUM_START) + inserted), VnetField.CSUM_START);
  }
}
