//! Property tests.
//!
//! - RRI: for any sequence of SA up/down events and configuration changes, the RIB and the RRI
//!   routes (with their exact refcounts) equal those computed from scratch from the final
//!   configuration and the set of live SAs.
//! - RIB: the result of any sequence of route additions and removals equals a RIB built
//!   fresh from the surviving routes in another order, and lookups agree with a linear scan.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use proptest::prelude::*;
use rib::rri::{SaId, SaOrigin, SaUp};
use rib::{IfIndex, Prefix, Rib, Route, RouteEngine, Source, VrfId};

/// The number of cases: `PROPTEST_CASES` when set (for long runs), else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- RRI against a fresh build

/// A configuration with knobs the test turns: RRI options per entry, which entries exist,
/// the ACL's contents, and where the map is applied.
#[derive(Debug, Clone)]
struct Knobs {
    static_rr: &'static str,
    static_distance: Option<u8>,
    dynamic_rr: &'static str,
    dynamic_tag: Option<u32>,
    second_entry: bool,
    acl_second_line: bool,
    applied: bool,
    profile_distance: Option<u8>,
    extra_static_route: bool,
}

fn render_config(k: &Knobs) -> String {
    let mut t = String::from(
        "crypto ipsec transform-set ts esp-gcm 128\n\
         ip vrf blue\n rd 1:1\n\
         interface GigabitEthernet0/0\n ip address 192.0.2.2 255.255.255.0\n",
    );
    if k.applied {
        t += " crypto map mymap\n";
    }
    t += "interface GigabitEthernet0/1\n ip vrf forwarding blue\n ip address 198.51.100.2 255.255.255.0\n crypto map other\n";
    t += "ip route 0.0.0.0 0.0.0.0 192.0.2.1\nip route vrf blue 0.0.0.0 0.0.0.0 198.51.100.1\n";
    if k.extra_static_route {
        t += "ip route 10.1.0.0 255.255.255.0 192.0.2.77 5\n";
    }
    t += "crypto map mymap 10 ipsec-isakmp\n set peer 203.0.113.1\n set transform-set ts\n match address 101\n";
    if !k.static_rr.is_empty() {
        t += &format!(" {}\n", k.static_rr);
    }
    if let Some(d) = k.static_distance {
        t += &format!(" set reverse-route distance {d}\n");
    }
    if k.second_entry {
        t += "crypto map mymap 20 ipsec-isakmp\n set peer 203.0.113.2\n set transform-set ts\n match address 101\n reverse-route\n";
    }
    t += "crypto map mymap 30 ipsec-isakmp dynamic dyn\n";
    t += "crypto dynamic-map dyn 1\n set transform-set ts\n";
    if !k.dynamic_rr.is_empty() {
        t += &format!(" {}\n", k.dynamic_rr);
    }
    if let Some(tag) = k.dynamic_tag {
        t += &format!(" set reverse-route tag {tag}\n");
    }
    t += "crypto map other 10 ipsec-isakmp dynamic dyn\n";
    t += "crypto ipsec profile vti\n set transform-set ts\n";
    if let Some(d) = k.profile_distance {
        t += &format!(" set reverse-route distance {d}\n");
    }
    t += "interface Virtual-Template1 type tunnel\n ip unnumbered GigabitEthernet0/0\n tunnel mode ipsec ipv4\n tunnel protection ipsec profile vti\n";
    t += "access-list 101 permit ip 192.168.1.0 0.0.0.255 10.1.0.0 0.0.0.255\n";
    if k.acl_second_line {
        t += "access-list 101 permit ip 192.168.1.0 0.0.0.255 10.2.0.0 0.0.255.255\n";
    }
    t
}

fn knobs() -> impl Strategy<Value = Knobs> {
    let rr = prop::sample::select(vec![
        "",
        "reverse-route",
        "reverse-route static",
        "reverse-route remote-peer 192.0.2.9",
        "reverse-route remote-peer 192.0.2.9 gateway",
        "reverse-route remote-peer",
        "reverse-route tag 7",
        "reverse-route remote-peer 192.0.2.9 gateway static",
    ]);
    (
        rr.clone(),
        proptest::option::of(1u8..40),
        rr,
        proptest::option::of(1u32..9),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(1u8..40),
        any::<bool>(),
    )
        .prop_map(|(s, sd, d, dt, second, acl2, applied, pd, extra)| Knobs {
            static_rr: s,
            static_distance: sd,
            dynamic_rr: d,
            dynamic_tag: dt,
            second_entry: second,
            acl_second_line: acl2,
            applied,
            profile_distance: pd,
            extra_static_route: extra,
        })
}

#[derive(Debug, Clone)]
enum Op {
    Up {
        id: u64,
        origin: u8,
        peer: u8,
        proxies: Vec<u8>,
    },
    Down {
        id: u64,
    },
    Config(Knobs),
}

fn proxy(i: u8) -> Prefix {
    match i % 5 {
        0 => Prefix {
            addr: Ipv4Addr::new(10, 1, 0, 0),
            len: 24,
        },
        1 => Prefix {
            addr: Ipv4Addr::new(10, 2, 0, 0),
            len: 16,
        },
        2 => Prefix {
            addr: Ipv4Addr::new(172, 16, i, 0),
            len: 24,
        },
        3 => Prefix {
            addr: Ipv4Addr::new(203, 0, 113, 1),
            len: 32,
        },
        _ => Prefix {
            addr: Ipv4Addr::UNSPECIFIED,
            len: 0,
        },
    }
}

fn sa(id: u64, origin: u8, peer: u8, proxies: &[u8]) -> SaUp {
    let origin = match origin % 5 {
        0 => SaOrigin::CryptoMap {
            map: "mymap".into(),
            seq: 10,
        },
        1 => SaOrigin::CryptoMap {
            map: "mymap".into(),
            seq: 20,
        },
        2 => SaOrigin::DynamicMap {
            map: "mymap".into(),
            seq: 30,
            dynamic_seq: 1,
        },
        3 => SaOrigin::DynamicMap {
            map: "other".into(),
            seq: 10,
            dynamic_seq: 1,
        },
        _ => SaOrigin::Profile {
            profile: "vti".into(),
            virtual_access: format!("Virtual-Access{}", peer % 3 + 1),
        },
    };
    SaUp {
        id: SaId(id),
        origin,
        peer: Ipv4Addr::new(203, 0, 113, peer % 4 + 1),
        interface: None,
        remote_proxies: proxies.iter().map(|&p| proxy(p)).collect(),
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0u64..12, any::<u8>(), any::<u8>(), prop::collection::vec(any::<u8>(), 1..3))
            .prop_map(|(id, origin, peer, proxies)| Op::Up { id, origin, peer, proxies }),
        3 => (0u64..12).prop_map(|id| Op::Down { id }),
        1 => knobs().prop_map(Op::Config),
    ];
    prop::collection::vec(op, 1..40)
}

fn apply(e: &mut RouteEngine, k: &Knobs) {
    let text = render_config(k);
    let checked = config::check(&text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{}",
        checked.diagnostics.render("knobs", &text)
    );
    e.apply_config(&checked.config);
}

/// Everything observable about the routing state, independent of owner ids.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    candidates: BTreeSet<String>,
    best: BTreeMap<String, String>,
    rri: BTreeMap<String, String>,
}

fn snapshot(e: &RouteEngine) -> Snapshot {
    let mut candidates = BTreeSet::new();
    let mut best = BTreeMap::new();
    for vrf in [
        VrfId::GLOBAL,
        e.names.find_vrf(Some("blue")).unwrap_or(VrfId(99)),
    ] {
        for (p, cands) in e.rib.all_candidates(vrf) {
            for c in cands {
                candidates.insert(format!(
                    "{vrf:?} {p} {:?} d{} t{} {:?} {:?}",
                    c.source,
                    c.distance,
                    c.tag,
                    c.next_hop,
                    c.interface.map(|i| e.names.interface_name(i).to_string())
                ));
            }
        }
        for (p, b) in e.rib.best_routes(vrf) {
            best.insert(
                format!("{vrf:?} {p}"),
                format!(
                    "{:?} d{} {:?} gw {} on {}",
                    b.route.source,
                    b.route.distance,
                    b.route.next_hop,
                    b.resolved.gateway,
                    e.names.interface_name(b.resolved.interface)
                ),
            );
        }
    }
    let rri = e
        .rri
        .routes()
        .map(|(k, r)| {
            (
                format!("{:?} {} {:?}", k.vrf, k.prefix, k.via),
                format!("refcount {} {:?}", r.refcount(), r.contributors),
            )
        })
        .collect();
    Snapshot {
        candidates,
        best,
        rri,
    }
}

/// Interface ids are handed out on first sight; give both engines the same ones so that
/// equal-preference routes compare the same way.
fn intern_sessions(e: &mut RouteEngine) {
    for i in 1..=3 {
        e.names.interface(&format!("Virtual-Access{i}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), ..ProptestConfig::default() })]

    #[test]
    fn rri_incremental_equals_from_scratch(initial in knobs(), ops in ops()) {
        let mut e = RouteEngine::new();
        intern_sessions(&mut e);
        apply(&mut e, &initial);
        let mut live: BTreeMap<u64, SaUp> = BTreeMap::new();
        let mut last = initial;
        for op in ops {
            match op {
                Op::Up { id, origin, peer, proxies } => {
                    let s = sa(id, origin, peer, &proxies);
                    live.insert(id, s.clone());
                    e.sa_up(s);
                }
                Op::Down { id } => {
                    live.remove(&id);
                    e.sa_down(SaId(id));
                }
                Op::Config(k) => {
                    apply(&mut e, &k);
                    last = k;
                }
            }
        }
        let mut fresh = RouteEngine::new();
        intern_sessions(&mut fresh);
        apply(&mut fresh, &last);
        for s in live.values() {
            fresh.sa_up(s.clone());
        }
        prop_assert_eq!(snapshot(&e), snapshot(&fresh));
        // show output is a function of that state, independent of history.
        prop_assert_eq!(e.show_crypto_route(), fresh.show_crypto_route());
        prop_assert_eq!(e.show_ip_route(None), fresh.show_ip_route(None));
    }
}

// ---------------------------------------------------------------- RIB against a fresh build

#[derive(Debug, Clone)]
struct RouteSpec {
    prefix: Prefix,
    source: Source,
    owner: u32,
    distance: u8,
    next_hop: Option<Ipv4Addr>,
    interface: Option<u32>,
}

/// An address in one of three regions of 10.0.0.0/8: 0 = 10.0.0.0/10 (routes via region 1),
/// 1 = 10.64.0.0/10 (routes via region 2), 2 = 10.128.0.0/9 (interface routes). Next hops
/// always point one region further, so recursive routes never depend on each other in a
/// cycle, and there is exactly one right answer.
fn addr_in_region(region: u8) -> impl Strategy<Value = Ipv4Addr> {
    let base: u32 = [0x0a00_0000, 0x0a40_0000, 0x0a80_0000][usize::from(region)];
    let span: u32 = if region == 2 { 1 << 23 } else { 1 << 22 };
    // Few distinct values, so prefixes overlap and next hops land inside them.
    (0u32..4, 0u32..4, 0u32..4)
        .prop_map(move |(a, b, c)| Ipv4Addr::from(base + (a * (span / 4)) + b * 256 + c))
}

fn route_spec() -> impl Strategy<Value = RouteSpec> {
    let region = 0u8..3;
    region
        .prop_flat_map(|region| {
            let lens = if region == 2 {
                vec![9u8, 16, 22, 24, 28, 32]
            } else {
                vec![10u8, 16, 22, 24, 28, 32]
            };
            let via = if region == 2 {
                (0u32..3).prop_map(|i| (None, Some(i))).boxed()
            } else {
                prop_oneof![
                    addr_in_region(region + 1).prop_map(|a| (Some(a), None)),
                    (addr_in_region(region + 1), 0u32..3).prop_map(|(a, i)| (Some(a), Some(i))),
                ]
                .boxed()
            };
            (
                addr_in_region(region),
                prop::sample::select(lens),
                prop::sample::select(vec![
                    Source::Connected,
                    Source::Static,
                    Source::Rri,
                    Source::Ospf,
                ]),
                0u32..3,
                0u8..5,
                via,
            )
        })
        .prop_map(
            |(a, len, source, owner, distance, (next_hop, interface))| RouteSpec {
                prefix: Prefix {
                    addr: Ipv4Addr::from(u32::from(a) & rib::mask(len)),
                    len,
                },
                source,
                owner,
                distance,
                next_hop,
                interface,
            },
        )
}

fn to_route(s: &RouteSpec) -> Route {
    Route {
        source: s.source,
        owner: s.owner,
        distance: s.distance,
        metric: 0,
        tag: 0,
        next_hop: s.next_hop,
        interface: s.interface.map(IfIndex),
    }
}

fn best_map(rib: &Rib) -> BTreeMap<Prefix, (Route, Ipv4Addr, u32)> {
    rib.best_routes(VrfId::GLOBAL)
        .map(|(p, b)| (p, (b.route, b.resolved.gateway, b.resolved.interface.0)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(500), ..ProptestConfig::default() })]

    #[test]
    fn incremental_rib_equals_fresh_build(
        adds in prop::collection::vec(route_spec(), 1..40),
        removals in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        order_seed in any::<u64>(),
        probes in prop::collection::vec((0u8..3).prop_flat_map(addr_in_region), 16),
    ) {
        let mut rib = Rib::new();
        let mut present: BTreeMap<(Prefix, u8, u32), RouteSpec> = BTreeMap::new();
        for s in &adds {
            rib.upsert(VrfId::GLOBAL, s.prefix, to_route(s));
            present.insert((s.prefix, s.source as u8, s.owner), s.clone());
        }
        for r in removals {
            if present.is_empty() {
                break;
            }
            let key = *present.keys().nth(r.index(present.len())).unwrap();
            let s = present.remove(&key).unwrap();
            prop_assert!(rib.remove(VrfId::GLOBAL, s.prefix, s.source, s.owner));
        }
        // Build afresh from the survivors in a shuffled order.
        let mut survivors: Vec<&RouteSpec> = present.values().collect();
        let mut x = order_seed | 1;
        for i in (1..survivors.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            survivors.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut fresh = Rib::new();
        for s in survivors {
            fresh.upsert(VrfId::GLOBAL, s.prefix, to_route(s));
        }
        prop_assert_eq!(best_map(&rib), best_map(&fresh));
        prop_assert_eq!(rib.tracked_next_hops(), fresh.tracked_next_hops());
        // Longest-prefix match agrees with a linear scan over the best routes.
        let bests = best_map(&rib);
        for a in probes {
            let linear = bests
                .keys()
                .filter(|p| p.contains(a))
                .max_by_key(|p| p.len)
                .copied();
            prop_assert_eq!(rib.lookup(VrfId::GLOBAL, a).map(|(p, _)| p), linear);
        }
        // Every best route is eligible: interface routes, or next hops that resolve without
        // passing through their own prefix.
        for (p, (route, _, _)) in &bests {
            if route.interface.is_none() {
                let nh = route.next_hop.unwrap();
                let (q, via) = rib.lookup(VrfId::GLOBAL, nh).expect("a best route's next hop resolves");
                prop_assert!(q != *p || via.route.tracked_next_hop() == Some(nh) || via.route != *route);
            }
        }
    }
}

#[test]
fn a_route_cannot_resolve_through_itself() {
    let mut rib = Rib::new();
    let p8 = Prefix {
        addr: Ipv4Addr::new(10, 0, 0, 0),
        len: 8,
    };
    let via_self = Route {
        source: Source::Static,
        owner: 1,
        distance: 1,
        metric: 0,
        tag: 0,
        next_hop: Some(Ipv4Addr::new(10, 1, 1, 1)),
        interface: None,
    };
    rib.upsert(VrfId::GLOBAL, p8, via_self);
    assert!(
        rib.best(VrfId::GLOBAL, p8).is_none(),
        "nothing else covers 10.1.1.1"
    );
    // A connected 10.1.1.0/24 makes it resolvable.
    let p24 = Prefix {
        addr: Ipv4Addr::new(10, 1, 1, 0),
        len: 24,
    };
    rib.upsert(
        VrfId::GLOBAL,
        p24,
        Route {
            source: Source::Connected,
            owner: 0,
            distance: 0,
            metric: 0,
            tag: 0,
            next_hop: None,
            interface: Some(IfIndex(3)),
        },
    );
    let best = rib
        .best(VrfId::GLOBAL, p8)
        .expect("resolves via the connected subnet");
    assert_eq!(best.resolved.gateway, Ipv4Addr::new(10, 1, 1, 1));
    assert_eq!(best.resolved.interface, IfIndex(3));
    // And a loop between two routes resolves neither.
    let mut rib = Rib::new();
    let a = Prefix {
        addr: Ipv4Addr::new(10, 1, 0, 0),
        len: 16,
    };
    let b = Prefix {
        addr: Ipv4Addr::new(10, 2, 0, 0),
        len: 16,
    };
    rib.upsert(
        VrfId::GLOBAL,
        a,
        Route {
            next_hop: Some(Ipv4Addr::new(10, 2, 0, 1)),
            ..via_self
        },
    );
    rib.upsert(
        VrfId::GLOBAL,
        b,
        Route {
            next_hop: Some(Ipv4Addr::new(10, 1, 0, 1)),
            ..via_self
        },
    );
    assert!(rib.best(VrfId::GLOBAL, a).is_none());
    assert!(rib.best(VrfId::GLOBAL, b).is_none());
}

#[test]
fn an_unreachable_next_hop_gives_way_to_a_floating_route() {
    let mut rib = Rib::new();
    let dst = Prefix {
        addr: Ipv4Addr::new(172, 16, 0, 0),
        len: 16,
    };
    let lan = Prefix {
        addr: Ipv4Addr::new(192, 0, 2, 0),
        len: 24,
    };
    let connected = Route {
        source: Source::Connected,
        owner: 0,
        distance: 0,
        metric: 0,
        tag: 0,
        next_hop: None,
        interface: Some(IfIndex(1)),
    };
    rib.upsert(VrfId::GLOBAL, lan, connected);
    let primary = Route {
        source: Source::Static,
        owner: 1,
        distance: 1,
        metric: 0,
        tag: 0,
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        interface: None,
    };
    let floating = Route {
        source: Source::Rri,
        owner: 2,
        distance: 20,
        metric: 0,
        tag: 0,
        next_hop: Some(Ipv4Addr::new(198, 51, 100, 1)),
        interface: Some(IfIndex(2)),
    };
    rib.upsert(VrfId::GLOBAL, dst, primary);
    rib.upsert(VrfId::GLOBAL, dst, floating);
    assert_eq!(rib.best(VrfId::GLOBAL, dst).unwrap().route, primary);
    rib.take_changes();
    // The LAN goes down: the primary's next hop no longer resolves.
    rib.remove(VrfId::GLOBAL, lan, Source::Connected, 0);
    assert_eq!(rib.best(VrfId::GLOBAL, dst).unwrap().route, floating);
    let changes = rib.take_changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().any(|c| c.prefix == lan && c.entry.is_none()));
    assert!(changes
        .iter()
        .any(|c| c.prefix == dst && c.entry.unwrap().route == floating));
}
