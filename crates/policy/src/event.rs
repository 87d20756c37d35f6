//! What workers hand the control thread: punted frames (with why) and events.

use std::net::Ipv4Addr;

/// Why a frame goes to the control thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PuntReason {
    Arp,
    /// IKE on UDP 500, or on 4500 behind the non-ESP marker.
    Ike,
    /// ICMP to one of our addresses.
    Icmp,
    /// Anything else addressed to us.
    Local,
    /// The TTL ran out; the control thread answers with ICMP time exceeded.
    TtlExceeded,
}

/// Something the control thread should act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Traffic matched crypto map entry `entry` of map `map`, which has no SA.
    Acquire {
        map: u32,
        entry: u32,
        peer: Option<Ipv4Addr>,
    },
    /// A next hop's MAC is unknown: resolve `addr` on `port` by ARP.
    Resolve { port: u16, addr: Ipv4Addr },
}
