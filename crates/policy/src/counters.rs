//! Per-worker counters: written by one worker without read-modify-write atomics (relaxed
//! stores of values it keeps itself), read by the control thread at any time.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why the data plane did not forward a packet (or handed it elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    /// Shorter than an Ethernet header, or more than two VLAN tags.
    L2Malformed,
    /// Not IPv4 and not ARP.
    NotIpv4,
    /// IPv4 header or total length beyond the frame.
    IpTruncated,
    /// IPv4 version or header length wrong.
    IpMalformed,
    /// IPv4 header checksum wrong.
    IpChecksum,
    /// TTL would reach 0 (handed to the control thread for ICMP time exceeded when possible).
    TtlExpired,
    /// No route to the destination.
    NoRoute,
    /// The next hop's MAC is unknown (an ARP request is asked for).
    NoNeighbour,
    /// A crypto map entry matched but has no outbound SA yet (an acquire is raised).
    NoSa,
    /// Larger than the egress MTU without DF: fragmentation before encryption is not done.
    NeedsFragmentation,
    /// Larger than the egress MTU with DF: an ICMP fragmentation-needed was sent back.
    FragNeededSent,
    /// ESP for an SPI with no inbound SA.
    BadSpi,
    /// Refused by the inbound SA (replay, authentication, ...; the SA counts which).
    EspRejected,
    /// Refused by the outbound SA (sequence exhausted, lifetime, room; the SA counts which).
    EspEncapFailed,
    /// The AEAD did not seal the packet: dropped, never sent (it may hold cleartext).
    SealFailed,
    /// The decapsulated packet is outside the SA's traffic selectors.
    PolicyViolation,
    /// Arrived on a port the policy does not know.
    UnknownPort,
    /// The control thread's punt queue for ARP, ICMP and other local traffic was full.
    PuntQueueFull,
    /// The control thread's IKE queue was full (an IKE flood, or a control thread behind).
    IkeQueueFull,
    /// The device did not take the packet on transmit.
    TxFull,
    /// A NAT-keepalive, or malformed port-4500 traffic.
    NatKeepalive,
    /// Addressed to us, and nothing here wants it (punted packets count as punts, not this).
    LocalOther,
}

impl Reason {
    pub const COUNT: usize = 22;
    pub const ALL: [Reason; Self::COUNT] = [
        Reason::L2Malformed,
        Reason::NotIpv4,
        Reason::IpTruncated,
        Reason::IpMalformed,
        Reason::IpChecksum,
        Reason::TtlExpired,
        Reason::NoRoute,
        Reason::NoNeighbour,
        Reason::NoSa,
        Reason::NeedsFragmentation,
        Reason::FragNeededSent,
        Reason::BadSpi,
        Reason::EspRejected,
        Reason::EspEncapFailed,
        Reason::SealFailed,
        Reason::PolicyViolation,
        Reason::UnknownPort,
        Reason::PuntQueueFull,
        Reason::IkeQueueFull,
        Reason::TxFull,
        Reason::NatKeepalive,
        Reason::LocalOther,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::L2Malformed => "l2-malformed",
            Reason::NotIpv4 => "not-ipv4",
            Reason::IpTruncated => "ip-truncated",
            Reason::IpMalformed => "ip-malformed",
            Reason::IpChecksum => "ip-checksum",
            Reason::TtlExpired => "ttl-expired",
            Reason::NoRoute => "no-route",
            Reason::NoNeighbour => "no-neighbour",
            Reason::NoSa => "no-sa",
            Reason::NeedsFragmentation => "needs-fragmentation",
            Reason::FragNeededSent => "frag-needed-sent",
            Reason::BadSpi => "bad-spi",
            Reason::EspRejected => "esp-rejected",
            Reason::EspEncapFailed => "esp-encap-failed",
            Reason::SealFailed => "seal-failed",
            Reason::PolicyViolation => "policy-violation",
            Reason::UnknownPort => "unknown-port",
            Reason::PuntQueueFull => "punt-queue-full",
            Reason::IkeQueueFull => "ike-queue-full",
            Reason::TxFull => "tx-full",
            Reason::NatKeepalive => "nat-keepalive",
            Reason::LocalOther => "local-other",
        }
    }
}

/// The most ports a worker counts separately.
pub const MAX_PORTS: usize = 16;

/// Counters of one worker. The worker keeps running totals in plain integers and publishes
/// them with relaxed stores once per burst; readers see each counter monotonic, possibly a
/// burst behind.
#[derive(Debug, Default)]
pub struct WorkerCounters {
    rx: [AtomicU64; MAX_PORTS],
    tx: [AtomicU64; MAX_PORTS],
    encapsulated: AtomicU64,
    decapsulated: AtomicU64,
    punted: AtomicU64,
    bursts: AtomicU64,
    busy_bursts: AtomicU64,
    busy_cycles: AtomicU64,
    drops: [AtomicU64; Reason::COUNT],
}

/// A copy of a worker's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCountersSnapshot {
    pub rx: [u64; MAX_PORTS],
    pub tx: [u64; MAX_PORTS],
    pub encapsulated: u64,
    pub decapsulated: u64,
    pub punted: u64,
    /// Rounds of the worker loop.
    pub bursts: u64,
    /// Rounds that received something.
    pub busy_bursts: u64,
    /// TSC cycles spent in rounds that received something (polling empty queues excluded).
    pub busy_cycles: u64,
    pub drops: [u64; Reason::COUNT],
}

impl WorkerCountersSnapshot {
    pub fn drops(&self, r: Reason) -> u64 {
        self.drops[r as usize]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds another worker's counters (for totals).
    pub fn add(&mut self, o: &WorkerCountersSnapshot) {
        for i in 0..MAX_PORTS {
            self.rx[i] += o.rx[i];
            self.tx[i] += o.tx[i];
        }
        for i in 0..Reason::COUNT {
            self.drops[i] += o.drops[i];
        }
        self.encapsulated += o.encapsulated;
        self.decapsulated += o.decapsulated;
        self.punted += o.punted;
        self.bursts += o.bursts;
        self.busy_bursts += o.busy_bursts;
        self.busy_cycles += o.busy_cycles;
    }
}

impl WorkerCounters {
    /// Publishes the worker's running totals.
    pub fn publish(&self, local: &WorkerCountersSnapshot) {
        let store = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
        for i in 0..MAX_PORTS {
            store(&self.rx[i], local.rx[i]);
            store(&self.tx[i], local.tx[i]);
        }
        for i in 0..Reason::COUNT {
            store(&self.drops[i], local.drops[i]);
        }
        store(&self.encapsulated, local.encapsulated);
        store(&self.decapsulated, local.decapsulated);
        store(&self.punted, local.punted);
        store(&self.bursts, local.bursts);
        store(&self.busy_bursts, local.busy_bursts);
        store(&self.busy_cycles, local.busy_cycles);
    }

    pub fn snapshot(&self) -> WorkerCountersSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = WorkerCountersSnapshot::default();
        for i in 0..MAX_PORTS {
            s.rx[i] = load(&self.rx[i]);
            s.tx[i] = load(&self.tx[i]);
        }
        for i in 0..Reason::COUNT {
            s.drops[i] = load(&self.drops[i]);
        }
        s.encapsulated = load(&self.encapsulated);
        s.decapsulated = load(&self.decapsulated);
        s.punted = load(&self.punted);
        s.bursts = load(&self.bursts);
        s.busy_bursts = load(&self.busy_bursts);
        s.busy_cycles = load(&self.busy_cycles);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_in_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
