//! Reverse route injection: routes to the networks behind each tunnel end (remote proxy
//! identities), made from IPsec SA events and the configuration as Cisco's VPN availability
//! guide (12.4(15)T and later behaviour) describes.
//!
//! Which routes:
//! - **Dynamic crypto maps, and static maps without `static`**: when an SA comes up, one route
//!   per remote proxy via the remote peer, in the VRF of the interface the crypto map is
//!   applied to (or the global table). It goes when the last SA that needs it goes.
//! - **`reverse-route static`** on a static map: one route per destination network of the
//!   crypto ACL's permit entries, via the first `set peer`, present whenever RRI, a peer and
//!   the ACL are configured on a map applied to an interface, SA or no SA.
//! - **`reverse-route remote-peer ADDR`**: the proxy via ADDR instead of the peer. With
//!   `gateway`: the proxy via the peer, plus peer/32 via ADDR. Legacy `remote-peer` with no
//!   address: the proxy via the peer, plus peer/32 via the map's interface.
//! - **IPsec profiles** (virtual tunnel interfaces): the proxy via the session's Virtual-Access
//!   interface, without `reverse-route` (VTIs always have routes).
//! - `set reverse-route distance N` (administrative distance, default 1) and
//!   `set reverse-route tag N` (or legacy `reverse-route tag N`) go on every route the entry
//!   makes.
//!
//! Routes are refcounted by what needs them: two SAs protecting one proxy via one next hop
//! (a rekey overlap, two map entries) share one route, which stays until both are gone.
//! Where contributors disagree on distance or tag, the lowest distance wins.
//!
//! A new configuration is applied as a diff: the routes it implies are computed from the
//! configuration and the live SAs, and only the routes that differ are added, changed or
//! removed.

use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use config::{AclKind, Action, Config, CryptoMapKind, MapEntryBody, RemotePeer, ReverseRoute};

use crate::{mask, IfIndex, Names, Prefix, Rib, Route, Source, VrfId};

/// An IPsec SA (pair) as the key engine names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SaId(pub u64);

/// Which configuration an SA was made from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SaOrigin {
    /// An entry of a static crypto map (`ipsec-isakmp` or `ipsec-manual`).
    CryptoMap {
        /// Crypto map name.
        map: String,
        /// Entry sequence number.
        seq: u32,
    },
    /// A dynamic map template entry, reached through the crypto map entry that references it.
    DynamicMap {
        /// Crypto map name.
        map: String,
        /// The crypto map entry (`ipsec-isakmp dynamic NAME`).
        seq: u32,
        /// The template entry that matched.
        dynamic_seq: u32,
    },
    /// A virtual tunnel interface session of an IPsec profile.
    Profile {
        /// Profile name.
        profile: String,
        /// The session's interface (`Virtual-Access2`).
        virtual_access: String,
    },
}

/// An SA that came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaUp {
    /// Its id.
    pub id: SaId,
    /// The configuration it belongs to.
    pub origin: SaOrigin,
    /// The remote tunnel endpoint.
    pub peer: Ipv4Addr,
    /// The interface the SA was negotiated on (a crypto map applied to several interfaces);
    /// `None` uses the first interface the map is applied to.
    pub interface: Option<String>,
    /// The remote proxy identities (networks behind the peer).
    pub remote_proxies: Vec<Prefix>,
}

/// What a route points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// A next-hop address (resolved recursively by the RIB).
    Addr(Ipv4Addr),
    /// An interface.
    Interface(IfIndex),
}

/// The kind shown in `show crypto route`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteCode {
    /// From an SA of a crypto map (`RRI`).
    Rri,
    /// From a static map's crypto ACL (`S`).
    StaticAcl,
    /// From a virtual tunnel interface session (`VTI`).
    Vti,
}

/// One route the manager keeps: where, via what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    /// The table.
    pub vrf: VrfId,
    /// The destination.
    pub prefix: Prefix,
    /// The next hop.
    pub via: Via,
}

/// What one contributor asks of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contribution {
    /// `set reverse-route distance`, if configured.
    pub distance: Option<u8>,
    /// The tag (0 when none).
    pub tag: u32,
    /// The kind.
    pub code: RouteCode,
    /// The interface the crypto map is applied to (shown as "on IFACE").
    pub on: Option<IfIndex>,
    /// The peer it is for.
    pub peer: Ipv4Addr,
}

impl Contribution {
    fn effective_distance(&self) -> u8 {
        self.distance.unwrap_or(1)
    }
}

/// Who needs a route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Contributor {
    /// A live SA.
    Sa(SaId),
    /// A static map entry with `reverse-route static`.
    StaticMap {
        /// Crypto map name.
        map: Arc<str>,
        /// Entry sequence number.
        seq: u32,
    },
}

/// Who needs a route and what each asks, sorted by contributor (almost always one).
pub type Contributors = SmallVec<[(Contributor, Contribution); 1]>;

/// A route the manager has installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RriRoute {
    /// Its owner id in the RIB.
    pub owner: u32,
    /// Everyone who needs it, and what each asks.
    pub contributors: Contributors,
}

impl RriRoute {
    /// How many contributors keep it.
    pub fn refcount(&self) -> usize {
        self.contributors.len()
    }

    /// The contribution whose attributes the route carries: the lowest distance, then the
    /// lowest tag, then the first contributor.
    pub fn governing(&self) -> &Contribution {
        self.contributors
            .iter()
            .map(|(_, c)| c)
            .min_by_key(|c| (c.effective_distance(), c.tag))
            .expect("an installed route has a contributor")
    }

    fn add(&mut self, who: Contributor, what: Contribution) {
        match self.contributors.binary_search_by(|(c, _)| c.cmp(&who)) {
            Ok(i) => self.contributors[i].1 = what,
            Err(i) => self.contributors.insert(i, (who, what)),
        }
    }

    fn drop_contributor(&mut self, who: &Contributor) {
        if let Ok(i) = self.contributors.binary_search_by(|(c, _)| c.cmp(who)) {
            self.contributors.remove(i);
        }
    }
}

/// A line of `debug crypto ipsec` about routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RriEvent {
    /// Routes are being made for a peer.
    CreateRoutes {
        /// The peer.
        peer: Ipv4Addr,
    },
    /// Routes are being removed for a peer.
    DeleteRoutes {
        /// The peer.
        peer: Ipv4Addr,
    },
    /// A route's new reference count.
    Refcount {
        /// The count.
        count: usize,
        /// The interface the routes are for.
        interface: String,
    },
    /// A route entered the routing table (or changed its attributes).
    Added {
        /// `IP DEFAULT TABLE` or the VRF.
        table: String,
        /// The destination.
        prefix: Prefix,
        /// The next hop, as text.
        via: String,
        /// Its tag.
        tag: u32,
        /// Its administrative distance.
        distance: u8,
    },
    /// A route left the routing table.
    Deleted {
        /// `IP DEFAULT TABLE` or the VRF.
        table: String,
        /// The destination.
        prefix: Prefix,
        /// The next hop, as text.
        via: String,
    },
}

impl fmt::Display for RriEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IPSEC(rte_mgr): ")?;
        match self {
            RriEvent::CreateRoutes { peer } => {
                write!(
                    f,
                    "VPN Route Event create routes for peer or rekeying for {peer}"
                )
            }
            RriEvent::DeleteRoutes { peer } => {
                write!(f, "VPN Route Event delete routes for peer {peer}")
            }
            RriEvent::Refcount { count, interface } => {
                write!(f, "VPN Route Refcount {count} {interface}")
            }
            RriEvent::Added {
                table,
                prefix,
                via,
                tag,
                distance,
            } => write!(
                f,
                "VPN Route Added {} {} via {via} in {table} with tag {tag} distance {distance}",
                prefix.addr,
                prefix.mask()
            ),
            RriEvent::Deleted { table, prefix, via } => write!(
                f,
                "VPN Route Deleted {} {} via {via} in {table}",
                prefix.addr,
                prefix.mask()
            ),
        }
    }
}

/// Turns SA events and configuration into RRI routes in a [`Rib`].
#[derive(Debug, Clone, Default)]
pub struct RriManager {
    config: Config,
    /// Where each applied crypto map is: its first interface and that interface's VRF.
    map_places: FxHashMap<String, (IfIndex, VrfId)>,
    /// The VRF each IPsec profile's sessions go in (that of the template protected by it).
    profile_vrfs: FxHashMap<String, VrfId>,
    sas: FxHashMap<SaId, SaUp>,
    sa_keys: FxHashMap<SaId, SmallVec<[RouteKey; 2]>>,
    routes: FxHashMap<RouteKey, RriRoute>,
    free_owners: Vec<u32>,
    next_owner: u32,
    /// Record `debug crypto ipsec` lines (as IOS prints them only while debugging is on).
    debug: bool,
    events: Vec<RriEvent>,
}

type Desired = FxHashMap<RouteKey, BTreeMap<Contributor, Contribution>>;

type Shaped = SmallVec<[(RouteKey, Contribution); 2]>;

impl RriManager {
    /// A manager with an empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a configuration: adds, changes and removes exactly the routes it implies for
    /// the live SAs and the static maps.
    pub fn apply_config(&mut self, config: &Config, names: &mut Names, rib: &mut Rib) {
        self.config = config.clone();
        self.map_places.clear();
        self.profile_vrfs.clear();
        for i in &config.interfaces {
            let vrf = names.vrf(i.vrf.as_ref().map(|v| v.name.as_str()));
            if let Some(m) = &i.crypto_map {
                let place = (names.interface(&i.name.value), vrf);
                self.map_places.entry(m.name.clone()).or_insert(place);
            }
            if let Some(p) = &i.tunnel_protection {
                self.profile_vrfs.entry(p.value.clone()).or_insert(vrf);
            }
        }
        let mut desired: Desired = FxHashMap::default();
        self.sa_keys.clear();
        let mut ids: Vec<SaId> = self.sas.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let contributions = self.contributions(names, &self.sas[&id]);
            let keys = contributions.iter().map(|(k, _)| *k).collect();
            self.sa_keys.insert(id, keys);
            for (key, c) in contributions {
                desired
                    .entry(key)
                    .or_default()
                    .insert(Contributor::Sa(id), c);
            }
        }
        for (contributor, key, c) in static_acl_contributions(&self.config, &self.map_places) {
            desired.entry(key).or_default().insert(contributor, c);
        }
        let gone: Vec<RouteKey> = self
            .routes
            .keys()
            .filter(|k| !desired.contains_key(k))
            .copied()
            .collect();
        for key in gone {
            let route = self.routes.remove(&key).expect("listed");
            let source = source_of(route.governing());
            self.withdraw(key, route.owner, source, names, rib);
        }
        let mut keys: Vec<RouteKey> = desired.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let contributors: Contributors =
                desired.remove(&key).expect("listed").into_iter().collect();
            match self.routes.get_mut(&key) {
                Some(route) if route.contributors == contributors => {}
                Some(route) => {
                    let before = *route.governing();
                    route.contributors = contributors;
                    let (after, owner) = (*route.governing(), route.owner);
                    if !same_attributes(&before, &after) {
                        if before.code != after.code {
                            rib.remove(key.vrf, key.prefix, source_of(&before), owner);
                        }
                        self.install(key, owner, after, names, rib);
                    }
                }
                None => {
                    let owner = allocate_owner(&mut self.free_owners, &mut self.next_owner);
                    let route = RriRoute {
                        owner,
                        contributors,
                    };
                    let g = *route.governing();
                    self.routes.insert(key, route);
                    self.install(key, owner, g, names, rib);
                }
            }
        }
    }

    /// An SA came up: its routes are added or their reference counts raised.
    pub fn sa_up(&mut self, sa: SaUp, names: &mut Names, rib: &mut Rib) {
        if self.sas.contains_key(&sa.id) {
            self.sa_down(sa.id, names, rib);
        }
        let contributions = self.contributions(names, &sa);
        if !contributions.is_empty() {
            self.event(|| RriEvent::CreateRoutes { peer: sa.peer });
        }
        let mut keys = SmallVec::new();
        for (key, c) in contributions {
            keys.push(key);
            let (before, route) = match self.routes.entry(key) {
                Entry::Occupied(o) => {
                    let route = o.into_mut();
                    (Some(*route.governing()), route)
                }
                Entry::Vacant(v) => {
                    let owner = allocate_owner(&mut self.free_owners, &mut self.next_owner);
                    let route = v.insert(RriRoute {
                        owner,
                        contributors: SmallVec::new(),
                    });
                    (None, route)
                }
            };
            route.add(Contributor::Sa(sa.id), c);
            let (after, count, owner) = (*route.governing(), route.refcount(), route.owner);
            self.event(|| RriEvent::Refcount {
                count,
                interface: on_name(names, &after, key.via),
            });
            if before.is_none_or(|b| !same_attributes(&b, &after)) {
                if before.is_some_and(|b| b.code != after.code) {
                    rib.remove(
                        key.vrf,
                        key.prefix,
                        source_of(&before.expect("some")),
                        owner,
                    );
                }
                self.install(key, owner, after, names, rib);
            }
        }
        self.sa_keys.insert(sa.id, keys);
        self.sas.insert(sa.id, sa);
    }

    /// An SA went away: its routes' reference counts drop, and routes nobody needs go.
    pub fn sa_down(&mut self, id: SaId, names: &mut Names, rib: &mut Rib) {
        let Some(sa) = self.sas.remove(&id) else {
            return;
        };
        let keys = self.sa_keys.remove(&id).unwrap_or_default();
        if !keys.is_empty() {
            self.event(|| RriEvent::DeleteRoutes { peer: sa.peer });
        }
        for key in keys {
            let Entry::Occupied(mut entry) = self.routes.entry(key) else {
                continue;
            };
            let route = entry.get_mut();
            let before = *route.governing();
            route.drop_contributor(&Contributor::Sa(id));
            let count = route.refcount();
            if count == 0 {
                let route = entry.remove();
                self.event(|| RriEvent::Refcount {
                    count,
                    interface: on_name(names, &before, key.via),
                });
                self.withdraw(key, route.owner, source_of(&before), names, rib);
                continue;
            }
            let (after, owner) = (*route.governing(), route.owner);
            self.event(|| RriEvent::Refcount {
                count,
                interface: on_name(names, &before, key.via),
            });
            if !same_attributes(&before, &after) {
                if before.code != after.code {
                    rib.remove(key.vrf, key.prefix, source_of(&before), owner);
                }
                self.install(key, owner, after, names, rib);
            }
        }
    }

    fn install(
        &mut self,
        key: RouteKey,
        owner: u32,
        g: Contribution,
        names: &Names,
        rib: &mut Rib,
    ) {
        let (next_hop, interface) = match key.via {
            Via::Addr(a) => (Some(a), None),
            Via::Interface(i) => (None, Some(i)),
        };
        rib.upsert(
            key.vrf,
            key.prefix,
            Route {
                source: source_of(&g),
                owner,
                distance: g.effective_distance(),
                metric: 0,
                tag: g.tag,
                next_hop,
                interface,
            },
        );
        self.event(|| RriEvent::Added {
            table: table_name(names, key.vrf),
            prefix: key.prefix,
            via: via_name(names, key.via),
            tag: g.tag,
            distance: g.effective_distance(),
        });
    }

    /// Takes a route that nobody needs any more out of the RIB.
    fn withdraw(
        &mut self,
        key: RouteKey,
        owner: u32,
        source: Source,
        names: &Names,
        rib: &mut Rib,
    ) {
        rib.remove(key.vrf, key.prefix, source, owner);
        self.free_owners.push(owner);
        self.event(|| RriEvent::Deleted {
            table: table_name(names, key.vrf),
            prefix: key.prefix,
            via: via_name(names, key.via),
        });
    }

    /// Records a `debug crypto ipsec` line, built only if someone listens: debugging is on,
    /// or a tracing subscriber wants `rri` at debug level.
    fn event(&mut self, make: impl FnOnce() -> RriEvent) {
        let traced = tracing::enabled!(target: "rri", tracing::Level::DEBUG);
        if !self.debug && !traced {
            return;
        }
        let e = make();
        if traced {
            tracing::debug!(target: "rri", event = ?e, "{e}");
        }
        if self.debug {
            self.events.push(e);
        }
    }

    /// Turns `debug crypto ipsec` recording on or off (off by default, as on IOS).
    pub fn set_debug(&mut self, on: bool) {
        self.debug = on;
        if !on {
            self.events.clear();
        }
    }

    /// The `debug crypto ipsec` lines since the last call.
    pub fn take_events(&mut self) -> Vec<RriEvent> {
        std::mem::take(&mut self.events)
    }

    /// The routes the manager keeps.
    pub fn routes(&self) -> impl Iterator<Item = (&RouteKey, &RriRoute)> {
        self.routes.iter()
    }

    /// The route for a key.
    pub fn route(&self, key: &RouteKey) -> Option<&RriRoute> {
        self.routes.get(key)
    }

    /// The live SAs.
    pub fn sas(&self) -> impl Iterator<Item = &SaUp> {
        self.sas.values()
    }

    /// `show crypto route`.
    pub fn show_crypto_route(&self, names: &Names) -> String {
        let mut out = String::from(
            "VPN Routing Table: Shows RRI and VTI created routes\n\
             Codes: RRI - Reverse-Route, VTI- Virtual Tunnel Interface\n\
             \x20       S - Static Map ACLs\n",
        );
        let mut by_vrf: BTreeMap<VrfId, Vec<(&RouteKey, &RriRoute)>> = BTreeMap::new();
        for (k, r) in &self.routes {
            by_vrf.entry(k.vrf).or_default().push((k, r));
        }
        for (vrf, mut routes) in by_vrf {
            routes.sort_by_key(|(k, _)| (k.prefix.addr, k.prefix.len, k.via));
            let table = match names.vrf_name(vrf) {
                None => "GLOBAL DEFAULT".to_string(),
                Some(n) => n.to_string(),
            };
            out += &format!("Routes created in table {table}\n");
            for (k, r) in routes {
                let g = r.governing();
                let code = match g.code {
                    RouteCode::Rri => "RRI",
                    RouteCode::StaticAcl => "S",
                    RouteCode::Vti => "VTI",
                };
                let head = format!(
                    "{}/{} [{}/0] via {}",
                    k.prefix.addr,
                    k.prefix.mask(),
                    g.distance.unwrap_or(0),
                    via_name(names, k.via)
                );
                match (k.via, g.on) {
                    (Via::Addr(_), Some(on)) => {
                        out +=
                            &format!("{head}\n{:32}on {} {code}\n", "", names.interface_name(on));
                    }
                    _ => out += &format!("{head} {code}\n"),
                }
            }
        }
        out
    }
}

/// A RIB owner id for a new route: a freed one, or the next.
fn allocate_owner(free: &mut Vec<u32>, next: &mut u32) -> u32 {
    free.pop().unwrap_or_else(|| {
        *next += 1;
        *next - 1
    })
}

/// Whether two contributions put the same attributes on a route.
fn same_attributes(a: &Contribution, b: &Contribution) -> bool {
    (a.effective_distance(), a.tag, a.code) == (b.effective_distance(), b.tag, b.code)
}

/// The RIB source of a route with these attributes.
fn source_of(c: &Contribution) -> Source {
    if c.code == RouteCode::Vti {
        Source::Vti
    } else {
        Source::Rri
    }
}

fn table_name(names: &Names, vrf: VrfId) -> String {
    match names.vrf_name(vrf) {
        None => "IP DEFAULT TABLE".into(),
        Some(n) => format!("VRF {n}"),
    }
}

fn via_name(names: &Names, via: Via) -> String {
    match via {
        Via::Addr(a) => a.to_string(),
        Via::Interface(i) => names.interface_name(i).to_string(),
    }
}

fn on_name(names: &Names, c: &Contribution, via: Via) -> String {
    match (c.on, via) {
        (Some(on), _) | (None, Via::Interface(on)) => names.interface_name(on).to_string(),
        (None, Via::Addr(_)) => "-".into(),
    }
}

/// The routes one entry's RRI options make for `peer` and `proxies`.
fn shape(
    body: &MapEntryBody,
    rr: &ReverseRoute,
    peer: Ipv4Addr,
    proxies: &[Prefix],
    on: Option<IfIndex>,
    vrf: VrfId,
    code: RouteCode,
) -> Shaped {
    let c = Contribution {
        distance: body.rri_distance.as_ref().map(|d| d.value),
        tag: body
            .rri_tag
            .as_ref()
            .map(|t| t.value)
            .or(rr.tag)
            .unwrap_or(0),
        code,
        on,
        peer,
    };
    let proxy_via = match rr.remote_peer {
        Some(RemotePeer::NextHop {
            addr,
            gateway: false,
        }) => addr,
        _ => peer,
    };
    let mut out: Shaped = proxies
        .iter()
        .map(|&prefix| {
            (
                RouteKey {
                    vrf,
                    prefix,
                    via: Via::Addr(proxy_via),
                },
                c,
            )
        })
        .collect();
    let peer_host = Prefix {
        addr: peer,
        len: 32,
    };
    match rr.remote_peer {
        Some(RemotePeer::NextHop {
            addr,
            gateway: true,
        }) => out.push((
            RouteKey {
                vrf,
                prefix: peer_host,
                via: Via::Addr(addr),
            },
            c,
        )),
        Some(RemotePeer::Interface) => {
            if let Some(iface) = on {
                out.push((
                    RouteKey {
                        vrf,
                        prefix: peer_host,
                        via: Via::Interface(iface),
                    },
                    c,
                ));
            }
        }
        _ => {}
    }
    dedup(out)
}

fn dedup(mut v: Shaped) -> Shaped {
    let mut i = 0;
    while i < v.len() {
        if v[..i].iter().any(|(k, _)| *k == v[i].0) {
            v.remove(i);
        } else {
            i += 1;
        }
    }
    v
}

impl RriManager {
    /// The routes an SA makes under the current configuration.
    fn contributions(&self, names: &mut Names, sa: &SaUp) -> Shaped {
        let config = &self.config;
        let proxies: SmallVec<[Prefix; 2]> = sa
            .remote_proxies
            .iter()
            .map(|p| Prefix {
                addr: Ipv4Addr::from(u32::from(p.addr) & mask(p.len)),
                len: p.len,
            })
            .collect();
        match &sa.origin {
            SaOrigin::CryptoMap { map, seq } | SaOrigin::DynamicMap { map, seq, .. } => {
                let Some(entry) = config.crypto_maps.get(map).and_then(|m| m.entries.get(seq))
                else {
                    return Shaped::new();
                };
                let body = match (&sa.origin, &entry.kind) {
                    (SaOrigin::DynamicMap { dynamic_seq, .. }, CryptoMapKind::Dynamic(d)) => {
                        match config
                            .dynamic_maps
                            .get(&d.value)
                            .and_then(|m| m.entries.get(dynamic_seq))
                        {
                            Some(e) => &e.body,
                            None => return Shaped::new(),
                        }
                    }
                    (SaOrigin::CryptoMap { .. }, CryptoMapKind::Isakmp | CryptoMapKind::Manual) => {
                        &entry.body
                    }
                    _ => return Shaped::new(),
                };
                let Some(rr) = body.reverse_route.as_ref() else {
                    return Shaped::new();
                };
                // Static maps with `static` route by ACL, not by SA; on a dynamic template the
                // keyword has no ACL to work from and SAs make the routes.
                let dynamic = matches!(sa.origin, SaOrigin::DynamicMap { .. });
                if rr.static_routes && !dynamic {
                    return Shaped::new();
                }
                let placed = match &sa.interface {
                    Some(i) => config
                        .interfaces
                        .iter()
                        .find(|x| &x.name.value == i)
                        .map(|x| {
                            (
                                names.interface(&x.name.value),
                                names.vrf(x.vrf.as_ref().map(|v| v.name.as_str())),
                            )
                        }),
                    None => self.map_places.get(map.as_str()).copied(),
                };
                let (on, vrf) = match placed {
                    Some((i, v)) => (Some(i), v),
                    None => (None, VrfId::GLOBAL),
                };
                shape(body, rr, sa.peer, &proxies, on, vrf, RouteCode::Rri)
            }
            SaOrigin::Profile {
                profile,
                virtual_access,
            } => {
                let Some(p) = config.ipsec_profiles.get(profile) else {
                    return Shaped::new();
                };
                // The session inherits the VRF of the template that protects with this profile.
                let vrf = self
                    .profile_vrfs
                    .get(profile.as_str())
                    .copied()
                    .unwrap_or(VrfId::GLOBAL);
                let va = names.interface(virtual_access);
                let c = Contribution {
                    distance: p.body.rri_distance.as_ref().map(|d| d.value),
                    tag: p.body.rri_tag.as_ref().map_or(0, |t| t.value),
                    code: RouteCode::Vti,
                    on: None,
                    peer: sa.peer,
                };
                dedup(
                    proxies
                        .iter()
                        .map(|&prefix| {
                            (
                                RouteKey {
                                    vrf,
                                    prefix,
                                    via: Via::Interface(va),
                                },
                                c,
                            )
                        })
                        .collect(),
                )
            }
        }
    }
}

/// The routes of static maps with `reverse-route static`: from the crypto ACL's permit
/// entries, via the first peer, on maps applied to an interface.
fn static_acl_contributions(
    config: &Config,
    places: &FxHashMap<String, (IfIndex, VrfId)>,
) -> Vec<(Contributor, RouteKey, Contribution)> {
    let mut out = Vec::new();
    for (map_name, map) in &config.crypto_maps {
        let Some(&(on, vrf)) = places.get(map_name.as_str()) else {
            continue;
        };
        let map_name: Arc<str> = Arc::from(map_name.as_str());
        for (seq, entry) in &map.entries {
            if matches!(entry.kind, CryptoMapKind::Dynamic(_)) {
                continue;
            }
            let body = &entry.body;
            let Some(rr) = body.reverse_route.as_ref().filter(|rr| rr.static_routes) else {
                continue;
            };
            // "The next hop is taken from the first set peer statement." A host name has no
            // address until the peer manager resolves it.
            let Some(peer) = body.peers.first().and_then(|p| match p.target {
                config::PeerTarget::Address(a) => Some(a),
                config::PeerTarget::Host { .. } => None,
            }) else {
                continue;
            };
            let Some(acl) = body
                .match_address
                .as_ref()
                .and_then(|a| config.access_lists.get(&a.value))
                .filter(|a| a.kind == AclKind::Extended)
            else {
                continue;
            };
            let proxies: Vec<Prefix> = acl
                .entries
                .iter()
                .filter(|e| e.action == Action::Permit)
                .filter_map(|e| e.dst.as_prefix())
                .collect();
            let contributor = Contributor::StaticMap {
                map: map_name.clone(),
                seq: *seq,
            };
            for (key, c) in shape(
                body,
                rr,
                peer,
                &proxies,
                Some(on),
                vrf,
                RouteCode::StaticAcl,
            ) {
                out.push((contributor.clone(), key, c));
            }
        }
    }
    out
}
