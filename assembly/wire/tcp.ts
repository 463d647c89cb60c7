// TCP (RFC 9293 section 3.1).
//
//  0                   1                   2                   3
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |          Source Port          |       Destination Port        |
// |                        Sequence Number                        |
// |                    Acknowledgment Number                      |
// |  Data |       |C|E|U|A|P|R|S|F|                               |
// | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
// |           Checksum            |         Urgent Pointer        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

export namespace TcpField {
  @inline export const SRC_PORT: usize = 0;
  @inline export const DST_PORT: usize = 2;
  @inline export const SEQ: usize = 4;
  @inline export const ACK: usize = 8;
  @inline export const DATA_OFF: usize = 12;
  @inline export const FLAGS: usize = 13;
  @inline export const WINDOW: usize = 14;
  @inline export const CHECKSUM: usize = 16;
  @inline export const URGENT: usize = 18;
}
@inline export const TCP_HEADER_LEN: u32 = <u32>TcpField.URGENT + 2;
@inline export const TCP_FIN: u32 = 0x01;
@inline export const TCP_SYN: u32 = 0x02;
@inline export const TCP_RST: u32 = 0x04;
@inline export const TCP_ACK: u32 = 0x10;

/** The validation gate: true if len bytes at tcp hold a header whose data offset fits. */
@inline export function tcpCheck(tcp: usize, len: u32): bool {
  if (len < TCP_HEADER_LEN) return false;
  let off = (<u32>load<u8>(tcp, TcpField.DATA_OFF) >>> 4) << 2;
  return off >= TCP_HEADER_LEN && off <= len;
}

@inline export function tcpFlags(tcp: usize): u32 { return <u32>load<u8>(tcp, TcpField.FLAGS); }
