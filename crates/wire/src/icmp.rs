//! ICMP for IPv4 (RFC 792): the messages a gateway originates.

use crate::{be16, checksum, put16, WireError};

pub const HEADER_LEN: usize = 8;
pub const TYPE_ECHO_REPLY: u8 = 0;
pub const TYPE_DEST_UNREACHABLE: u8 = 3;
pub const TYPE_ECHO_REQUEST: u8 = 8;
pub const TYPE_TIME_EXCEEDED: u8 = 11;
/// Destination unreachable, fragmentation needed and DF set (RFC 1191).
pub const CODE_FRAG_NEEDED: u8 = 4;

/// A checked view of an ICMP message: at least the 8-byte header.
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(IcmpPacket { buf })
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buf.as_ref()[0]
    }

    #[inline]
    pub fn code(&self) -> u8 {
        self.buf.as_ref()[1]
    }

    /// The next-hop MTU of a fragmentation-needed message.
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buf.as_ref()) == 0
    }
}

/// Writes an ICMP header of `msg_type`/`code` with the 4-byte "rest of header" `rest` in
/// front of `body` (already in place at `out[8..]`), and fills the checksum over the whole
/// of `out`.
///
/// # Panics
/// If `out` is shorter than 8 bytes.
pub fn emit(out: &mut [u8], msg_type: u8, code: u8, rest: [u8; 4]) {
    out[0] = msg_type;
    out[1] = code;
    put16(out, 2, 0);
    out[4..8].copy_from_slice(&rest);
    let c = checksum::checksum(out);
    put16(out, 2, c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frag_needed_round_trip() {
        let mut m = [0u8; 36];
        m[8..].fill(0x45);
        let mut rest = [0u8; 4];
        rest[2..].copy_from_slice(&1400u16.to_be_bytes());
        emit(&mut m, TYPE_DEST_UNREACHABLE, CODE_FRAG_NEEDED, rest);
        let p = IcmpPacket::new_checked(&m[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!((p.msg_type(), p.code(), p.next_hop_mtu()), (3, 4, 1400));
        assert!(IcmpPacket::new_checked(&m[..7]).is_err());
    }
}
