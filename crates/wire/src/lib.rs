//! Zero-copy views of the headers rri reads and writes.
//!
//! Each view wraps a byte slice that the caller has checked once with `new_checked`; after
//! that, accessors read fixed offsets without further bounds reasoning and never panic.
//! Views validate structure (lengths, version, header length), not policy: whether a packet
//! is *wanted* is the caller's business. Everything is in network byte order on the wire and
//! host order at the accessor.
//!
//! The modules follow smoltcp's shape: a `Packet<T: AsRef<[u8]>>` view with getters, setters
//! when `T: AsMut<[u8]>`, and free functions to emit headers into fresh bytes.

#![forbid(unsafe_code)]

pub mod arp;
pub mod checksum;
pub mod esp;
pub mod ether;
pub mod icmp;
pub mod ipv4;
pub mod udp;

use std::fmt;

/// Why bytes are not a well-formed header of the kind asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the fixed header, or than a length field claims.
    Truncated,
    /// A field holds a value the format does not allow (IPv4 version, header length).
    Malformed,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated header",
            WireError::Malformed => "malformed header",
        })
    }
}

impl std::error::Error for WireError {}

// One range check and one load each: indexing byte by byte checked every byte and assembled
// the value from single-byte loads (23 instructions for an IPv4 address).
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    let mut w = [0u8; 2];
    w.copy_from_slice(&b[at..at + 2]);
    u16::from_be_bytes(w)
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

#[inline]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
