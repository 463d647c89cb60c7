// A connection entry's real server: 20 bits split over ConnField.DEST (bits 0-15) and the
// high nibble of ConnField.FLAGS2 (bits 16-19), so that 1,048,576 real servers fit in the
// 40-byte entry (abi.ts ConnField). DEST, FLAGS and FLAGS2 are bytes 20-23: one u32 load.

import { ConnField, ConnFlag2 } from "../abi";

/** The real server of connection (or template) e. */
@inline export function connDest(e: usize): u32 {
  let w = load<u32>(e, ConnField.DEST);
  return (w & 0xffff) | ((w >>> (24 + <u32>ConnFlag2.DEST_HI_SHIFT)) << 16);
}

/** Store dest as connection e's real server, with flags2 (the ConnFlag2 bits below the
 *  high nibble) as its FLAGS2. */
@inline export function connStoreDest(e: usize, flags2: u32, dest: u32): void {
  store<u16>(e, <u16>dest, ConnField.DEST);
  store<u8>(e, <u8>((flags2 & ~(<u32>ConnFlag2.DEST_HI_MASK)) | ((dest >> 16) << <u32>ConnFlag2.DEST_HI_SHIFT)), ConnField.FLAGS2);
}

/** Whether e was made by sync and matched by no packet yet. */
@inline export function connIsSynced(e: usize): bool {
  return (<u32>load<u8>(e, ConnField.FLAGS2) & ConnFlag2.SYNCED) != 0;
}
