//! Per-SA packet, byte and drop counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a packet was not encapsulated or not accepted. Each is counted on the SA (or, for
/// [`DropReason::BadSpi`] and [`DropReason::TooShort`] before an SA is known, by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than the headers, IV, trailer and ICV require.
    TooShort,
    /// No SA has this SPI, or the packet's SPI is not the SA's.
    BadSpi,
    /// The sequence number was seen already (or is 0).
    Replay,
    /// The sequence number is at or behind the left edge of the replay window.
    OutsideWindow,
    /// The ICV did not verify.
    AuthFailed,
    /// The padding bytes are not 1, 2, 3, ... or the pad length exceeds the payload.
    BadPadding,
    /// The next header is not IPv4 (4).
    BadNextHeader,
    /// The SA has passed a hard lifetime (seconds, kilobytes or packets).
    LifetimeExpired,
    /// The SA has used its last sequence number and must be rekeyed.
    SequenceExhausted,
    /// The buffer lacks the headroom or tailroom for the outer headers and trailer.
    NoRoom,
    /// The inner packet is not a well-formed IPv4 packet.
    MalformedInner,
    /// The outer packet would exceed 65535 bytes.
    TooBig,
    /// The outer packet is an IP fragment (fragments must be reassembled first).
    Fragment,
    /// The outer IPv4 header is malformed or its checksum is wrong.
    BadOuterHeader,
    /// The AEAD (or the framing around it) did not seal the packet. The packet is dropped,
    /// never sent: what it holds may be cleartext.
    SealFailed,
    /// Decrypted, but the inner packet is outside the SA's traffic selectors (counted by the
    /// data plane, which checks the selectors after decapsulation).
    SelectorMismatch,
    /// The SA reached the end of the block of sequence numbers persisted for it (manual
    /// keys): refused until the next block is on stable storage, so that no number can be
    /// used twice across a restart.
    SequenceNotReserved,
}

impl DropReason {
    /// Number of reasons, for counter arrays.
    pub const COUNT: usize = 17;

    /// Every reason, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::TooShort,
        DropReason::BadSpi,
        DropReason::Replay,
        DropReason::OutsideWindow,
        DropReason::AuthFailed,
        DropReason::BadPadding,
        DropReason::BadNextHeader,
        DropReason::LifetimeExpired,
        DropReason::SequenceExhausted,
        DropReason::NoRoom,
        DropReason::MalformedInner,
        DropReason::TooBig,
        DropReason::Fragment,
        DropReason::BadOuterHeader,
        DropReason::SealFailed,
        DropReason::SelectorMismatch,
        DropReason::SequenceNotReserved,
    ];

    /// The name used in `show` output and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooShort => "too short",
            DropReason::BadSpi => "bad SPI",
            DropReason::Replay => "replay",
            DropReason::OutsideWindow => "outside window",
            DropReason::AuthFailed => "authentication failed",
            DropReason::BadPadding => "bad padding",
            DropReason::BadNextHeader => "bad next header",
            DropReason::LifetimeExpired => "lifetime expired",
            DropReason::SequenceExhausted => "sequence number exhausted",
            DropReason::NoRoom => "no headroom or tailroom",
            DropReason::MalformedInner => "malformed inner packet",
            DropReason::TooBig => "too big",
            DropReason::Fragment => "outer fragment",
            DropReason::BadOuterHeader => "bad outer header",
            DropReason::SealFailed => "seal failed",
            DropReason::SelectorMismatch => "selector mismatch",
            DropReason::SequenceNotReserved => "sequence block not persisted",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counters shared by every core working on one SA. Burst functions add once per burst, so
/// the atomics are touched a few times per burst rather than per packet.
#[derive(Debug, Default)]
pub struct SaCounters {
    packets: AtomicU64,
    bytes: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
}

/// A copy of an SA's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CounterSnapshot {
    /// Packets encapsulated or accepted.
    pub packets: u64,
    /// Inner-packet bytes encapsulated or accepted.
    pub bytes: u64,
    /// Drops, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
}

impl CounterSnapshot {
    /// Drops for one reason.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Drops for all reasons together.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}

impl SaCounters {
    #[inline]
    pub(crate) fn add_ok(&self, packets: u64, bytes: u64) {
        if packets != 0 {
            self.packets.fetch_add(packets, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Counts `n` drops for `reason`. Public so that the caller can count drops that happen
    /// before an SA is found (a bad SPI) on a table-wide instance.
    #[inline]
    pub fn add_drops(&self, reason: DropReason, n: u64) {
        if n != 0 {
            self.drops[reason as usize].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Bytes counted so far (for byte lifetimes).
    #[inline]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Packets counted so far (for packet lifetimes).
    #[inline]
    pub(crate) fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        let mut drops = [0; DropReason::COUNT];
        for (d, a) in drops.iter_mut().zip(&self.drops) {
            *d = a.load(Ordering::Relaxed);
        }
        CounterSnapshot {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            drops,
        }
    }
}

/// Drop tallies of one burst, added to the SA's counters once at the end.
#[derive(Debug, Default)]
pub(crate) struct BurstTally {
    pub packets: u64,
    pub bytes: u64,
    pub drops: [u64; DropReason::COUNT],
}

impl BurstTally {
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Takes back a packet counted as sealed whose sealing then failed, and counts it as a
    /// [`DropReason::SealFailed`] drop.
    #[inline]
    pub fn unseal(&mut self, inner_len: u16) {
        self.packets -= 1;
        self.bytes -= u64::from(inner_len);
        self.drop(DropReason::SealFailed);
    }

    pub fn flush(&self, counters: &SaCounters) {
        counters.add_ok(self.packets, self.bytes);
        for (reason, &n) in DropReason::ALL.iter().zip(&self.drops) {
            counters.add_drops(*reason, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
