//! ESP headers (RFC 4303) and telling ESP from IKE on the NAT-traversal port (RFC 3948).

use crate::{be32, put32, WireError};

/// SPI and sequence number.
pub const HEADER_LEN: usize = 8;
/// SPI values 1 to 255 are reserved by IANA and 0 is never sent (RFC 4303 section 2.1).
pub const MIN_SPI: u32 = 256;

/// A view of the ESP header at the front of `buf`; the payload (IV, ciphertext, ICV) follows.
#[derive(Debug, Clone, Copy)]
pub struct EspPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> EspPacket<T> {
    /// Checks that the 8-byte header is present.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        if buf.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(EspPacket { buf })
    }

    #[inline]
    pub fn spi(&self) -> u32 {
        be32(self.buf.as_ref(), 0)
    }

    /// The low 32 bits of the sequence number, as sent.
    #[inline]
    pub fn seq(&self) -> u32 {
        be32(self.buf.as_ref(), 4)
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

/// Writes SPI and the low 32 bits of the sequence number into the first 8 bytes of `out`.
///
/// # Panics
/// If `out` is shorter than 8 bytes.
#[inline]
pub fn emit_header(out: &mut [u8], spi: u32, seq_low: u32) {
    put32(out, 0, spi);
    put32(out, 4, seq_low);
}

/// What a UDP datagram to port 4500 carries (RFC 3948 section 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatTPayload {
    /// ESP: the first four bytes are a non-zero SPI.
    Esp,
    /// IKE: the four-byte non-ESP marker (zero) precedes the IKE header.
    Ike,
    /// A NAT-keepalive: one byte, 0xFF.
    Keepalive,
    /// Too short for ESP and not a keepalive.
    Invalid,
}

/// Classifies a UDP payload received on port 4500.
pub fn classify_nat_t(payload: &[u8]) -> NatTPayload {
    match payload {
        [0xff] => NatTPayload::Keepalive,
        [0, 0, 0, 0, ..] => NatTPayload::Ike,
        p if p.len() >= HEADER_LEN => NatTPayload::Esp,
        _ => NatTPayload::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_classification() {
        let b = [0, 0, 0xa5, 0xf8, 0, 0, 0, 1, 0xfa];
        let e = EspPacket::new_checked(&b[..]).unwrap();
        assert_eq!((e.spi(), e.seq(), e.payload()), (0xa5f8, 1, &[0xfa][..]));
        assert!(EspPacket::new_checked(&b[..7]).is_err());
        assert_eq!(classify_nat_t(&b), NatTPayload::Esp);
        assert_eq!(classify_nat_t(&[0xff]), NatTPayload::Keepalive);
        assert_eq!(classify_nat_t(&[0, 0, 0, 0, 1, 2]), NatTPayload::Ike);
        assert_eq!(classify_nat_t(&[1, 2, 3]), NatTPayload::Invalid);
        assert_eq!(classify_nat_t(&[]), NatTPayload::Invalid);
    }
}
