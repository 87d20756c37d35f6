//! IPv4 headers (RFC 791).

use crate::{be16, be32, checksum, put16, WireError};
use std::net::Ipv4Addr;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// IP protocol numbers rri handles.
pub mod proto {
    pub const ICMP: u8 = 1;
    pub const IPV4: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ESP: u8 = 50;
}

/// The Don't Fragment bit in the flags-and-fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
/// The More Fragments bit.
pub const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A checked view of an IPv4 packet: version 4, header length at least 20 bytes and within
/// the buffer, total length at least the header length and within the buffer. Bytes behind
/// the total length (Ethernet padding) are allowed and ignored by [`Ipv4Packet::payload`].
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Checks the structure described on the type.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::Malformed);
        }
        let header_len = usize::from(b[0] & 0x0f) * 4;
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        let total = usize::from(be16(b, 2));
        if total < header_len {
            return Err(WireError::Malformed);
        }
        if b.len() < total {
            return Err(WireError::Truncated);
        }
        Ok(Ipv4Packet { buf })
    }

    /// The underlying bytes, as given.
    pub fn into_inner(self) -> T {
        self.buf
    }

    #[inline]
    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    /// Header length in bytes (20 to 60).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[0] & 0x0f) * 4
    }

    /// Type of service byte (DSCP and ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.b()[1]
    }

    /// Total length from the header.
    #[inline]
    pub fn total_len(&self) -> usize {
        usize::from(be16(self.b(), 2))
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.b(), 4)
    }

    /// The flags and fragment offset word.
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        be16(self.b(), 6)
    }

    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }

    /// Whether this is a fragment (more fragments set, or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.b()[9]
    }

    #[inline]
    pub fn header_checksum(&self) -> u16 {
        be16(self.b(), 10)
    }

    #[inline]
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.b(), 12))
    }

    #[inline]
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(be32(self.b(), 16))
    }

    /// Whether the header checksum verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let b = self.b();
        let header_len = self.header_len();
        // Nearly every header has no options. Those are checked as five 32-bit words added
        // into 64 bits: the header verifies when its one's complement sum is 0xffff, i.e. the
        // plain sum is a nonzero multiple of 0xffff, and a 32-bit word is congruent to the sum
        // of its halves modulo 0xffff. Byte order does not matter either (swapping the bytes
        // of a 16-bit value multiplies it by 256 modulo 0xffff), so the words are loaded as
        // they lie.
        match b.first_chunk::<HEADER_LEN>() {
            Some(fixed) if header_len == HEADER_LEN => {
                let sum: u64 = fixed
                    .chunks_exact(4)
                    .map(|w| u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
                    .sum();
                sum != 0 && sum.is_multiple_of(0xffff)
            }
            _ => checksum::checksum(&b[..header_len]) == 0,
        }
    }

    /// The bytes between the header and the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    #[inline]
    fn bm(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }

    /// Sets the TTL, updating the checksum incrementally.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        let old_word = be16(self.b(), 8);
        let new_word = (u16::from(ttl) << 8) | (old_word & 0xff);
        let check = checksum::update16(self.header_checksum(), old_word, new_word);
        let b = self.bm();
        b[8] = ttl;
        put16(b, 10, check);
    }

    /// Decrements the TTL by one with an incremental checksum update; returns the new TTL, or
    /// `None` (and leaves the packet unchanged) when the TTL is already 0 or 1 and the packet
    /// must not be forwarded.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Option<u8> {
        decrement_ttl(self.bm())
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.bm();
        put16(b, 10, 0);
        let c = checksum::checksum(&b[..hl]);
        put16(b, 10, c);
    }
}

/// [`Ipv4Packet::decrement_ttl`] on bytes already known to start with an IPv4 header (a
/// forwarding path that checked the packet once need not check it again): `None`, and
/// nothing changed, when the TTL is 0 or 1 or the bytes are shorter than a header.
///
/// The TTL is the high byte of the word at offset 8, so taking one off it adds 0x0100 to the
/// checksum with an end-around carry (RFC 1624's equation 3 worked out for this change; a
/// checksum of 0xffff comes out as 0x0000, as a full recomputation would give).
#[inline]
pub fn decrement_ttl(header: &mut [u8]) -> Option<u8> {
    let h = header.first_chunk_mut::<HEADER_LEN>()?;
    let ttl = h[8];
    if ttl <= 1 {
        return None;
    }
    h[8] = ttl - 1;
    let check = u32::from(u16::from_be_bytes([h[10], h[11]])) + 0x0100;
    let check = (check + u32::from(check >= 0xffff)) as u16;
    h[10..12].copy_from_slice(&check.to_be_bytes());
    Some(ttl - 1)
}

/// The fields of an option-less IPv4 header to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    pub ttl: u8,
    /// Payload length (total length minus 20).
    pub payload_len: u16,
}

impl Ipv4Repr {
    /// Writes the header, checksum included, into the first 20 bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than 20 bytes, or the payload length exceeds 65515.
    pub fn emit(&self, out: &mut [u8]) {
        let total = self
            .payload_len
            .checked_add(HEADER_LEN as u16)
            .expect("IPv4 total length over 65535");
        let h = &mut out[..HEADER_LEN];
        h[0] = 0x45;
        h[1] = self.tos;
        put16(h, 2, total);
        put16(h, 4, self.ident);
        put16(h, 6, if self.dont_fragment { FLAG_DF } else { 0 });
        h[8] = self.ttl;
        h[9] = self.protocol;
        put16(h, 10, 0);
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(h);
        put16(h, 10, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GCM_INNER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x3e, 0x69, 0x8f, 0x00, 0x00, 0x80, 0x11, 0x4d, 0xcc, 0xc0, 0xa8, 0x01,
        0x02, 0xc0, 0xa8, 0x01, 0x01,
    ];

    #[test]
    fn reads_a_known_header() {
        let mut bytes = GCM_INNER.to_vec();
        bytes.resize(0x3e, 0);
        let p = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x3e);
        assert_eq!(p.protocol(), proto::UDP);
        assert_eq!(p.ttl(), 0x80);
        assert_eq!(p.src(), Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(p.dst(), Ipv4Addr::new(192, 168, 1, 1));
        assert!(p.verify_checksum());
        assert!(!p.dont_fragment() && !p.is_fragment());
        assert_eq!(p.payload().len(), 0x3e - 20);
    }

    #[test]
    fn emit_reproduces_the_known_header() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(192, 168, 1, 2),
            dst: Ipv4Addr::new(192, 168, 1, 1),
            protocol: proto::UDP,
            tos: 0,
            ident: 0x698f,
            dont_fragment: false,
            ttl: 0x80,
            payload_len: 0x3e - 20,
        };
        let mut out = [0u8; 20];
        repr.emit(&mut out);
        assert_eq!(out, GCM_INNER);
    }

    #[test]
    fn rejects_bad_structure() {
        assert_eq!(
            Ipv4Packet::new_checked(&GCM_INNER[..19]).unwrap_err(),
            WireError::Truncated
        );
        // total length 0x3e beyond 20 bytes of buffer
        assert_eq!(
            Ipv4Packet::new_checked(&GCM_INNER[..]).unwrap_err(),
            WireError::Truncated
        );
        let mut v6 = GCM_INNER;
        v6[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v6[..]).unwrap_err(),
            WireError::Malformed
        );
        let mut short_ihl = GCM_INNER;
        short_ihl[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&short_ihl[..]).unwrap_err(),
            WireError::Malformed
        );
        let mut small_total = GCM_INNER;
        small_total[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&small_total[..]).unwrap_err(),
            WireError::Malformed
        );
    }

    #[test]
    fn ttl_decrement_keeps_checksum_valid_and_stops_at_one() {
        let mut h = GCM_INNER;
        h[2..4].copy_from_slice(&20u16.to_be_bytes());
        let mut p = Ipv4Packet::new_checked(&mut h[..]).unwrap();
        p.fill_checksum();
        assert_eq!(p.decrement_ttl(), Some(0x7f));
        assert!(p.verify_checksum());
        p.set_ttl(1);
        assert!(p.verify_checksum());
        assert_eq!(p.decrement_ttl(), None);
        assert_eq!(p.ttl(), 1);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Ipv4Packet::new_checked(&bytes[..]) {
                let _ = (p.src(), p.dst(), p.payload().len(), p.verify_checksum(), p.is_fragment());
            }
        }

        /// The fixed 20-byte sum and the general one agree with RFC 1071's definition (the
        /// 16-bit one's complement sum of the header is 0xffff), with and without options.
        #[test]
        fn verify_checksum_matches_the_definition(
            mut header in proptest::collection::vec(any::<u8>(), 60),
            words in 5usize..=15,
            fix in any::<bool>(),
        ) {
            header[0] = 0x40 | words as u8;
            header[2..4].copy_from_slice(&60u16.to_be_bytes());
            let header_len = words * 4;
            if fix {
                header[10..12].fill(0);
                let c = checksum::checksum(&header[..header_len]);
                header[10..12].copy_from_slice(&c.to_be_bytes());
            }
            let mut sum = 0u32;
            for pair in header[..header_len].chunks(2) {
                sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let p = Ipv4Packet::new_checked(&header[..]).unwrap();
            prop_assert_eq!(p.verify_checksum(), sum == 0xffff);
            if fix {
                prop_assert!(p.verify_checksum());
            }
        }

        /// The one-add update gives exactly the checksum a full recomputation gives.
        #[test]
        fn decrement_matches_recomputation(mut header in proptest::collection::vec(any::<u8>(), 20), ttl in 2u8..) {
            header[0] = 0x45;
            header[2..4].copy_from_slice(&20u16.to_be_bytes());
            header[8] = ttl;
            let mut p = Ipv4Packet::new_checked(&mut header[..]).unwrap();
            p.fill_checksum();
            prop_assert_eq!(p.decrement_ttl(), Some(ttl - 1));
            let incremental = p.header_checksum();
            p.fill_checksum();
            prop_assert_eq!(incremental, p.header_checksum());
        }

        #[test]
        fn decrement_is_incrementally_correct(ttl in 2u8.., tos in any::<u8>(), id in any::<u16>()) {
            let repr = Ipv4Repr { src: Ipv4Addr::new(10, 0, 0, 1), dst: Ipv4Addr::new(10, 0, 0, 2),
                protocol: proto::TCP, tos, ident: id, dont_fragment: true, ttl, payload_len: 0 };
            let mut h = [0u8; 20];
            repr.emit(&mut h);
            let mut p = Ipv4Packet::new_checked(&mut h[..]).unwrap();
            p.decrement_ttl();
            prop_assert!(p.verify_checksum());
        }
    }
}
