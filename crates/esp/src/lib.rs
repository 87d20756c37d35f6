//! Per-SA IPsec ESP in tunnel mode (RFC 4303), free of DPDK and of I/O.
//!
//! * [`OutboundSa::encapsulate`] turns an inner IPv4 packet into an outer IPv4 packet
//!   carrying ESP, or ESP in UDP (RFC 3948), in place in any [`pktbuf::PacketBuf`] with enough
//!   headroom and tailroom.
//! * [`classify`] finds the SPI of a received packet so that the caller can look the SA up;
//!   [`InboundSa::decapsulate`] then checks the replay window, authenticates and decrypts,
//!   commits the window, validates the trailer and leaves the inner packet in the buffer.
//! * Transforms: AES-GCM with 128- and 256-bit keys (RFC 4106) and ChaCha20-Poly1305
//!   (RFC 7634), all with a 16-byte ICV, a 4-byte salt and an 8-byte explicit IV, through
//!   ring's `LessSafeKey`.
//!
//! Time is passed in as nanoseconds from any monotonic origin the caller keeps fixed; nothing
//! here reads a clock. Every refusal is a [`DropReason`] counted on the SA, and no input
//! panics. Both SA kinds are `Sync`: any number of cores may send on one outbound SA
//! (sequence numbers are reserved atomically) and receive on one inbound SA (the replay
//! window is lock-free; see [`replay`]).
//!
//! The invariant that keeps AEAD safe: **for one SA, and so one key, no nonce is used twice.**
//! The nonce is `salt || IV` and the IV is the 64-bit sequence number. Sequence numbers come
//! from a single atomic counter that only moves forward and refuses to pass the SA's limit
//! (2^32 - 1 without ESN, 2^64 - 1 with), so each sealed packet has its own nonce. Keys are
//! never shared between SAs (IKE derives fresh keying material for every SA).

#![forbid(unsafe_code)]

mod counters;
mod inbound;
mod outbound;
pub mod replay;
mod sa;

pub use counters::{CounterSnapshot, DropReason, SaCounters};
pub use inbound::{classify, Classified, Decapsulated, EspLocation, InboundSa, PacketOpen};
pub use outbound::{BurstSeal, OutboundSa, SealJob};
pub use sa::{
    DfPolicy, IdentPolicy, Lifetime, LifetimeLimits, Padding, RekeyReason, SaError, SaParams,
    Transform, TunnelTemplate, UdpEncap,
};

/// Length of the explicit IV of every supported transform.
pub const IV_LEN: usize = 8;
/// Length of the ICV (authentication tag) of every supported transform.
pub const ICV_LEN: usize = 16;
/// Bytes in front of the inner packet that encapsulation adds without UDP: outer IPv4 header,
/// ESP header, IV.
pub const FRONT_OVERHEAD: usize = wire::ipv4::HEADER_LEN + wire::esp::HEADER_LEN + IV_LEN;
/// The most bytes encapsulation appends behind the inner packet: up to 15 of padding, pad
/// length, next header, ICV.
pub const MAX_TRAILER: usize = 15 + 2 + ICV_LEN;

/// The longest a burst passed to the batch functions may be; longer slices are processed in
/// chunks of this size.
pub const MAX_BURST: usize = 64;

/// The link-layer header [`OutboundSa::encapsulate_burst_linked`] puts in front of outer
/// packets: an Ethernet header without VLAN tag.
pub const LINK_HEADER_LEN: usize = 14;

/// What padding must hold (RFC 4303 section 2.4): 1, 2, 3, ... A slice compare against this
/// is a memcmp rather than a byte loop.
pub(crate) const PAD_PATTERN: [u8; 255] = {
    let mut p = [0u8; 255];
    let mut i = 0;
    while i < 255 {
        p[i] = i as u8 + 1;
        i += 1;
    }
    p
};

#[cfg(test)]
mod kat;
