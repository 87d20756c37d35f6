//! The non-route state workers need, published as one immutable value.

use acl::Classifier;
use arc_swap::ArcSwap;
use esp::{InboundSa, OutboundSa};
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One DPDK port as the data plane sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPolicy {
    /// The configured interface name (`GigabitEthernet0/0`).
    pub name: String,
    pub mac: [u8; 6],
    /// Our addresses on the port, with prefix lengths.
    pub addresses: Vec<(Ipv4Addr, u8)>,
    /// IP MTU: the largest IPv4 packet sent out of this port.
    pub mtu: u16,
    pub vrf: u16,
    /// Index into [`Policy::maps`] of the crypto map applied to the port.
    pub crypto_map: Option<u32>,
}

impl PortPolicy {
    /// Our first address (the source of ICMP errors we send out of this port).
    pub fn primary_address(&self) -> Option<Ipv4Addr> {
        self.addresses.first().map(|a| a.0)
    }
}

/// One entry of a crypto map: its peer and current outbound SA.
#[derive(Debug)]
pub struct MapEntryPolicy {
    pub seq: u32,
    /// The peer traffic goes to now (the current peer of the preferred-peer list).
    pub peer: Option<Ipv4Addr>,
    /// The SA to encapsulate with; `None` until keys exist.
    pub outbound: Option<Arc<OutboundSa>>,
    /// When the last acquire for this entry was raised (ns), for rate limiting.
    last_acquire_ns: AtomicU64,
}

impl Clone for MapEntryPolicy {
    fn clone(&self) -> Self {
        MapEntryPolicy {
            seq: self.seq,
            peer: self.peer,
            outbound: self.outbound.clone(),
            last_acquire_ns: AtomicU64::new(self.last_acquire_ns.load(Ordering::Relaxed)),
        }
    }
}

impl MapEntryPolicy {
    pub fn new(seq: u32, peer: Option<Ipv4Addr>, outbound: Option<Arc<OutboundSa>>) -> Self {
        MapEntryPolicy {
            seq,
            peer,
            outbound,
            last_acquire_ns: AtomicU64::new(0),
        }
    }

    /// Whether an acquire may be raised now (at most one per [`crate::ACQUIRE_INTERVAL_NS`]);
    /// claims the slot if so. Called by the pipeline, on the fast path.
    pub fn claim_acquire(&self, now_ns: u64) -> bool {
        let last = self.last_acquire_ns.load(Ordering::Relaxed);
        if last != 0 && now_ns.saturating_sub(last) < crate::ACQUIRE_INTERVAL_NS {
            return false;
        }
        self.last_acquire_ns
            .compare_exchange(last, now_ns.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// A crypto map compiled for the data plane: every entry's ACL in sequence order in one
/// classifier whose tags are indexes into `entries`.
#[derive(Debug, Clone)]
pub struct CryptoMapPolicy {
    pub name: String,
    pub classifier: Classifier,
    pub entries: Vec<MapEntryPolicy>,
}

/// An inbound SA and what traffic it may carry.
#[derive(Debug, Clone)]
pub struct InboundBinding {
    pub sa: Arc<InboundSa>,
    /// The crypto ACL mirrored: inner packets must be permitted by it.
    pub selectors: Classifier,
    /// The VRF the inner packets are routed in.
    pub vrf: u16,
}

/// Everything but routes. Cloning shares the SAs (they are the same SAs in the next
/// snapshot) and copies the rest.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    pub generation: u64,
    /// By DPDK port id.
    pub ports: Vec<Option<PortPolicy>>,
    /// RIB interface index to DPDK port id (routes name interfaces by RIB index).
    pub interface_ports: Vec<Option<u16>>,
    /// Our addresses on every port.
    pub local: LocalAddresses,
    /// (port, address) to MAC.
    pub neighbours: FxHashMap<(u16, u32), [u8; 6]>,
    pub maps: Vec<CryptoMapPolicy>,
    /// By SPI.
    pub inbound: FxHashMap<u32, InboundBinding>,
}

impl Policy {
    #[inline]
    pub fn port(&self, port: u16) -> Option<&PortPolicy> {
        self.ports.get(usize::from(port))?.as_ref()
    }

    #[inline]
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.local.contains(u32::from(addr))
    }

    #[inline]
    pub fn neighbour(&self, port: u16, addr: Ipv4Addr) -> Option<[u8; 6]> {
        self.neighbours.get(&(port, u32::from(addr))).copied()
    }

    /// The DPDK port behind a RIB interface index.
    #[inline]
    pub fn interface_port(&self, interface: u32) -> Option<u16> {
        *self.interface_ports.get(interface as usize)?
    }

    /// The port's address whose subnet holds `addr`, if any.
    pub fn address_on_subnet(&self, port: u16, addr: Ipv4Addr) -> Option<Ipv4Addr> {
        let p = self.port(port)?;
        p.addresses
            .iter()
            .find(|(a, len)| same_subnet(*a, addr, *len))
            .map(|a| a.0)
    }

    /// Recomputes `local` from the ports' addresses.
    pub fn index_local_addresses(&mut self) {
        self.local = self
            .ports
            .iter()
            .flatten()
            .flat_map(|p| p.addresses.iter().map(|a| u32::from(a.0)))
            .collect();
    }
}

/// Our addresses: a set, behind a one-word filter. Nearly every packet a worker sees is for
/// somebody else, and the filter turns those away with a multiply, a shift and a bit test
/// (the set's lookup alone was some 30 instructions per packet).
#[derive(Debug, Default, Clone)]
pub struct LocalAddresses {
    /// Bit [`filter_bit`] of every address in `set` (a one-hash Bloom filter).
    filter: u64,
    set: FxHashSet<u32>,
}

impl LocalAddresses {
    #[inline]
    pub fn contains(&self, addr: u32) -> bool {
        self.filter & filter_bit(addr) != 0 && self.set.contains(&addr)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

impl FromIterator<u32> for LocalAddresses {
    fn from_iter<I: IntoIterator<Item = u32>>(addresses: I) -> Self {
        let set: FxHashSet<u32> = addresses.into_iter().collect();
        let filter = set.iter().fold(0, |f, &a| f | filter_bit(a));
        LocalAddresses { filter, set }
    }
}

/// One of 64 bits, from the top six bits of a multiplicative hash (addresses that differ
/// only in their low bits, as a site's do, still spread).
#[inline]
fn filter_bit(addr: u32) -> u64 {
    1 << (addr.wrapping_mul(0x9e37_79b9) >> 26)
}

/// Where the control thread publishes the policy and workers load it.
pub type PolicyHandle = Arc<ArcSwap<Policy>>;

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    };
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::LocalAddresses;
    use proptest::prelude::*;
    use std::collections::HashSet;

    proptest! {
        /// The filter never hides an address of the set, and never lets another one in.
        #[test]
        fn local_addresses_answer_like_a_set(
            ours in proptest::collection::vec(any::<u32>(), 0..100),
            probes in proptest::collection::vec(any::<u32>(), 0..200),
        ) {
            let local: LocalAddresses = ours.iter().copied().collect();
            let model: HashSet<u32> = ours.iter().copied().collect();
            prop_assert_eq!(local.len(), model.len());
            for a in ours.iter().chain(&probes) {
                prop_assert_eq!(local.contains(*a), model.contains(a), "address {:#x}", a);
            }
        }
    }
}
