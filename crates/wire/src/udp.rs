//! UDP headers (RFC 768) and the NAT-traversal port (RFC 3948).

use crate::{be16, put16, WireError};

pub const HEADER_LEN: usize = 8;
/// IKE and ESP-in-UDP after NAT detection.
pub const NAT_T_PORT: u16 = 4500;
/// IKE without NAT traversal.
pub const IKE_PORT: u16 = 500;

/// A checked view of a UDP datagram: at least 8 bytes, and the length field at least 8 and
/// within the buffer.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = usize::from(be16(b, 4));
        if len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if len > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(UdpPacket { buf })
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), 0)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), 2)
    }

    /// Length from the header, header included.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(be16(self.buf.as_ref(), 4))
    }

    /// Whether the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), 6)
    }

    /// The bytes between the header and the length field's end.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..self.len()]
    }
}

/// Writes a UDP header with a zero checksum (allowed over IPv4, and what RFC 3948 section 2.1
/// asks of ESP-in-UDP senders) into the first 8 bytes of `out`. `payload_len` excludes the
/// header.
///
/// # Panics
/// If `out` is shorter than 8 bytes or the length does not fit 16 bits.
pub fn emit_header(out: &mut [u8], src_port: u16, dst_port: u16, payload_len: usize) {
    let len = u16::try_from(payload_len + HEADER_LEN).expect("UDP length over 65535");
    put16(out, 0, src_port);
    put16(out, 2, dst_port);
    put16(out, 4, len);
    put16(out, 6, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut b = [0u8; 12];
        emit_header(&mut b, 4500, 4500, 4);
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port(), u.len(), u.checksum()),
            (4500, 4500, 12, 0)
        );
        assert_eq!(u.payload().len(), 4);
        assert_eq!(
            UdpPacket::new_checked(&b[..11]).unwrap_err(),
            WireError::Truncated
        );
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            WireError::Malformed
        );
    }
}
