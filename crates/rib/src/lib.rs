//! The routing information base and reverse route injection.
//!
//! - [`Rib`]: routes from every source (connected, static, RRI, VTI, routing protocols) in
//!   per-VRF tables, several candidates per prefix, best-route selection by administrative
//!   distance then metric then a stable tie-break, recursive next-hop resolution with loop
//!   protection, and a batched change stream for the FIB builder.
//! - [`rri::RriManager`]: turns IPsec SA events and the configuration into RRI routes exactly
//!   as Cisco's VPN availability guide describes, refcounted, with `debug crypto ipsec`-style
//!   events and `show crypto route`.
//! - [`ConfigRoutes`]: connected and static routes from the configuration, applied as diffs.
//! - [`show`]: `show ip route [vrf NAME]` in IOS's format.
//!
//! No I/O, no clock: events come in as arguments, changes go out as values.

#![forbid(unsafe_code)]

mod config_routes;
mod names;
pub mod rri;
pub mod show;
mod table;

use std::net::Ipv4Addr;

pub use config::Prefix;
pub use config_routes::ConfigRoutes;
pub use names::Names;
pub use table::{FibEntry, Resolved, Rib, RibChange, MAX_RECURSION};

/// A routing table: 0 is the global table, others are VRFs named in [`Names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VrfId(pub u16);

impl VrfId {
    /// The global routing table.
    pub const GLOBAL: VrfId = VrfId(0);
}

/// An interface, by its index in [`Names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfIndex(pub u32);

/// Where a route comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// An interface's own subnet.
    Connected,
    /// `ip route`.
    Static,
    /// Reverse route injection from a crypto map.
    Rri,
    /// A virtual tunnel interface session (IPsec profile).
    Vti,
    /// OSPF.
    Ospf,
    /// BGP.
    Bgp,
    /// EIGRP.
    Eigrp,
    /// RIP.
    Rip,
}

impl Source {
    /// The administrative distance IOS gives the source by default.
    pub fn default_distance(self) -> u8 {
        match self {
            Source::Connected => 0,
            Source::Static | Source::Rri | Source::Vti => 1,
            Source::Eigrp => 90,
            Source::Ospf => 110,
            Source::Rip => 120,
            Source::Bgp => 20,
        }
    }

    /// Tie-break order between sources of equal distance and metric.
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The code `show ip route` prints (RRI and VTI routes are static routes to IOS).
    pub fn code(self) -> &'static str {
        match self {
            Source::Connected => "C",
            Source::Static | Source::Rri | Source::Vti => "S",
            Source::Ospf => "O",
            Source::Bgp => "B",
            Source::Eigrp => "D",
            Source::Rip => "R",
        }
    }
}

/// One candidate route for a prefix. `(source, owner)` identifies it within the prefix:
/// the owner is the source's own id for what made it (an interface, a static route, an RRI
/// route of the RRI manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The source.
    pub source: Source,
    /// The source's id of the route's owner.
    pub owner: u32,
    /// Administrative distance.
    pub distance: u8,
    /// Metric.
    pub metric: u32,
    /// Route tag (0 when none).
    pub tag: u32,
    /// Next-hop address.
    pub next_hop: Option<Ipv4Addr>,
    /// Egress interface.
    pub interface: Option<IfIndex>,
}

/// The routing state of a router: names, the RIB, the configured routes and RRI, driven as
/// one. The control thread owns one; tests drive it directly.
#[derive(Debug, Clone, Default)]
pub struct RouteEngine {
    /// Interned VRF and interface names.
    pub names: Names,
    /// The routing table.
    pub rib: Rib,
    /// Connected and static routes from the configuration.
    pub config_routes: ConfigRoutes,
    /// Reverse route injection.
    pub rri: rri::RriManager,
}

impl RouteEngine {
    /// An engine with empty tables.
    pub fn new() -> Self {
        RouteEngine {
            rib: Rib::new(),
            ..Default::default()
        }
    }

    /// Applies a configuration: connected, static and RRI routes follow it.
    pub fn apply_config(&mut self, config: &config::Config) {
        self.config_routes
            .apply(config, &mut self.names, &mut self.rib);
        self.rri
            .apply_config(config, &mut self.names, &mut self.rib);
    }

    /// An SA came up.
    pub fn sa_up(&mut self, sa: rri::SaUp) {
        self.rri.sa_up(sa, &mut self.names, &mut self.rib);
    }

    /// An SA went away.
    pub fn sa_down(&mut self, id: rri::SaId) {
        self.rri.sa_down(id, &mut self.names, &mut self.rib);
    }

    /// `show ip route [vrf NAME]`; an unknown VRF gives IOS's error text.
    pub fn show_ip_route(&self, vrf: Option<&str>) -> String {
        match self.names.find_vrf(vrf) {
            Some(id) => show::show_ip_route(&self.rib, &self.names, id),
            None => format!(
                "% IP routing table {} does not exist\n",
                vrf.unwrap_or_default()
            ),
        }
    }

    /// `show crypto route`.
    pub fn show_crypto_route(&self) -> String {
        self.rri.show_crypto_route(&self.names)
    }
}

/// The netmask of a prefix length as an integer.
#[inline]
pub fn mask(len: u8) -> u32 {
    config::mask_bits(len)
}
