//! The RRI scenarios of the VPN availability guide, replayed: each configuration example with
//! the SA events it implies, compared with the `show crypto route`, `show ip route` and
//! `debug crypto ipsec` text.

use std::net::Ipv4Addr;

use rib::rri::{SaId, SaOrigin, SaUp};
use rib::{Prefix, RouteEngine};

fn engine(config_text: &str) -> RouteEngine {
    let checked = config::check(config_text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{}",
        checked.diagnostics.render("scenario", config_text)
    );
    let mut e = RouteEngine::new();
    e.rri.set_debug(true);
    e.apply_config(&checked.config);
    e
}

fn apply(e: &mut RouteEngine, config_text: &str) {
    let checked = config::check(config_text);
    assert!(
        !checked.diagnostics.has_errors(),
        "{}",
        checked.diagnostics.render("scenario", config_text)
    );
    e.apply_config(&checked.config);
}

fn p(s: &str) -> Prefix {
    let (a, l) = s.split_once('/').unwrap();
    Prefix {
        addr: a.parse().unwrap(),
        len: l.parse().unwrap(),
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn events(e: &mut RouteEngine) -> String {
    e.rri
        .take_events()
        .iter()
        .map(|ev| format!("{ev}\n"))
        .collect()
}

fn dynamic_sa(id: u64, peer: &str, proxy: &str) -> SaUp {
    SaUp {
        id: SaId(id),
        origin: SaOrigin::DynamicMap {
            map: "mymap".into(),
            seq: 10,
            dynamic_seq: 1,
        },
        peer: ip(peer),
        interface: None,
        remote_proxies: vec![p(proxy)],
    }
}

const CODES: &str = "\
Codes: C - connected, S - static, R - RIP, M - mobile, B - BGP
       D - EIGRP, EX - EIGRP external, O - OSPF, IA - OSPF inter area
       N1 - OSPF NSSA external type 1, N2 - OSPF NSSA external type 2
       E1 - OSPF external type 1, E2 - OSPF external type 2
       i - IS-IS, su - IS-IS summary, L1 - IS-IS level-1, L2 - IS-IS level-2
       ia - IS-IS inter area, * - candidate default, U - per-user static route
       o - ODR, P - periodic downloaded static route
";

/// The server of "debug and show Command Output for a RRI Distance Metric Configuration Under
/// a Crypto Map": a dynamic map with `set reverse-route distance 20`.
const DISTANCE_SERVER: &str = "\
crypto ipsec transform-set 3dessha esp-gcm 256
crypto dynamic-map dynmap 1
 set security-association lifetime seconds 300
 set transform-set 3dessha
 set reverse-route distance 20
 reverse-route
crypto map mymap 10 ipsec-isakmp dynamic dynmap
interface FastEthernet0/0
 ip address 10.0.0.119 255.255.255.0
 crypto map mymap
interface Loopback0
 ip address 192.200.200.1 255.255.255.0
interface Loopback2
 ip address 192.168.3.1 255.255.255.0
interface Loopback3
 ip address 192.168.5.1 255.255.255.0
interface Loopback4
 ip address 10.30.30.30 255.255.255.0
interface Loopback6
 ip address 10.15.0.1 255.255.255.0
ip route 0.0.0.0 0.0.0.0 10.0.0.14
ip route 10.3.1.0 255.255.255.0 10.0.0.113
";

#[test]
fn distance_metric_under_a_crypto_map() {
    let mut e = engine(DISTANCE_SERVER);
    assert_eq!(events(&mut e), "");
    e.sa_up(dynamic_sa(1, "10.0.0.14", "192.168.6.1/32"));
    assert_eq!(
        events(&mut e),
        "IPSEC(rte_mgr): VPN Route Event create routes for peer or rekeying for 10.0.0.14\n\
         IPSEC(rte_mgr): VPN Route Refcount 1 FastEthernet0/0\n\
         IPSEC(rte_mgr): VPN Route Added 192.168.6.1 255.255.255.255 via 10.0.0.14 in IP DEFAULT TABLE with tag 0 distance 20\n"
    );
    let want = format!(
        "{CODES}\
Gateway of last resort is 10.0.0.14 to network 0.0.0.0
     10.0.0.0/24 is subnetted, 4 subnets
C       10.0.0.0 is directly connected, FastEthernet0/0
S       10.3.1.0 [1/0] via 10.0.0.113
C       10.15.0.0 is directly connected, Loopback6
C       10.30.30.0 is directly connected, Loopback4
C    192.168.3.0/24 is directly connected, Loopback2
C    192.168.5.0/24 is directly connected, Loopback3
     192.168.6.0/32 is subnetted, 1 subnets
S       192.168.6.1 [20/0] via 10.0.0.14
C    192.200.200.0/24 is directly connected, Loopback0
S*   0.0.0.0/0 [1/0] via 10.0.0.14
"
    );
    assert_eq!(e.show_ip_route(None), want);
    assert_eq!(
        e.show_crypto_route(),
        "VPN Routing Table: Shows RRI and VTI created routes\n\
         Codes: RRI - Reverse-Route, VTI- Virtual Tunnel Interface\n\
         \x20       S - Static Map ACLs\n\
         Routes created in table GLOBAL DEFAULT\n\
         192.168.6.1/255.255.255.255 [20/0] via 10.0.0.14\n\
         \x20                               on FastEthernet0/0 RRI\n"
    );
    // The SA goes: so does the route.
    e.sa_down(SaId(1));
    assert_eq!(
        events(&mut e),
        "IPSEC(rte_mgr): VPN Route Event delete routes for peer 10.0.0.14\n\
         IPSEC(rte_mgr): VPN Route Refcount 0 FastEthernet0/0\n\
         IPSEC(rte_mgr): VPN Route Deleted 192.168.6.1 255.255.255.255 via 10.0.0.14 in IP DEFAULT TABLE\n"
    );
    assert!(!e.show_ip_route(None).contains("192.168.6"));
}

/// "debug and show Command Output for a RRI Metric Configuration Having a VTI": routes point
/// at the session's Virtual-Access interface.
#[test]
fn distance_metric_for_a_vti() {
    let mut e = engine(
        "crypto ipsec transform-set 3dessha esp-gcm 128\n\
         crypto isakmp profile profile1\n\
         \x20match identity group cisco\n\
         \x20virtual-template 1\n\
         crypto ipsec profile vi\n\
         \x20set transform-set 3dessha\n\
         \x20set reverse-route distance 20\n\
         \x20set isakmp-profile profile1\n\
         interface Virtual-Template1 type tunnel\n\
         \x20ip unnumbered FastEthernet0/0\n\
         \x20tunnel mode ipsec ipv4\n\
         \x20tunnel protection ipsec profile vi\n\
         interface FastEthernet0/0\n\
         \x20ip address 10.0.0.119 255.255.255.0\n\
         ip route 0.0.0.0 0.0.0.0 10.0.0.14\n",
    );
    e.sa_up(SaUp {
        id: SaId(7),
        origin: SaOrigin::Profile {
            profile: "vi".into(),
            virtual_access: "Virtual-Access2".into(),
        },
        peer: ip("10.0.0.14"),
        interface: None,
        remote_proxies: vec![p("192.168.6.1/32")],
    });
    assert_eq!(
        events(&mut e),
        "IPSEC(rte_mgr): VPN Route Event create routes for peer or rekeying for 10.0.0.14\n\
         IPSEC(rte_mgr): VPN Route Refcount 1 Virtual-Access2\n\
         IPSEC(rte_mgr): VPN Route Added 192.168.6.1 255.255.255.255 via Virtual-Access2 in IP DEFAULT TABLE with tag 0 distance 20\n"
    );
    let route = e.show_ip_route(None);
    assert!(
        route.contains("     192.168.6.0/32 is subnetted, 1 subnets\nS       192.168.6.1 [20/0] via 0.0.0.0, Virtual-Access2\n"),
        "{route}"
    );
}

/// "show crypto route Command Output Example": RRI and VTI routes in one table.
#[test]
fn show_crypto_route_lists_rri_and_vti_routes() {
    let mut e = engine(
        "crypto ipsec transform-set ts esp-gcm 256\n\
         crypto dynamic-map dynmap 1\n\
         \x20set transform-set ts\n\
         \x20reverse-route\n\
         crypto map mymap 10 ipsec-isakmp dynamic dynmap\n\
         interface Virtual-Access3\n\
         \x20crypto map mymap\n\
         crypto ipsec profile vi10\n\
         \x20set transform-set ts\n\
         \x20set reverse-route distance 10\n\
         crypto ipsec profile vi\n\
         \x20set transform-set ts\n",
    );
    e.sa_up(dynamic_sa(1, "10.0.0.133", "192.168.6.2/32"));
    e.sa_up(SaUp {
        id: SaId(2),
        origin: SaOrigin::Profile {
            profile: "vi10".into(),
            virtual_access: "Virtual-Access2".into(),
        },
        peer: ip("10.0.0.14"),
        interface: None,
        remote_proxies: vec![p("10.1.1.0/24")],
    });
    e.sa_up(SaUp {
        id: SaId(3),
        origin: SaOrigin::Profile {
            profile: "vi".into(),
            virtual_access: "Virtual-Access2".into(),
        },
        peer: ip("10.0.0.14"),
        interface: None,
        remote_proxies: vec![p("192.168.6.1/32")],
    });
    assert_eq!(
        e.show_crypto_route(),
        "VPN Routing Table: Shows RRI and VTI created routes\n\
         Codes: RRI - Reverse-Route, VTI- Virtual Tunnel Interface\n\
         \x20       S - Static Map ACLs\n\
         Routes created in table GLOBAL DEFAULT\n\
         10.1.1.0/255.255.255.0 [10/0] via Virtual-Access2 VTI\n\
         192.168.6.1/255.255.255.255 [0/0] via Virtual-Access2 VTI\n\
         192.168.6.2/255.255.255.255 [0/0] via 10.0.0.133\n\
         \x20                               on Virtual-Access3 RRI\n"
    );
}

const ACL_MAP: &str = "\
crypto ipsec transform-set esp-3des-sha esp-gcm 128
crypto map mymap 1 ipsec-isakmp
 set peer 172.17.11.1
 reverse-route static
 set transform-set esp-3des-sha
 match address 101
interface FastEthernet0/0
 ip address 192.0.2.2 255.255.255.0
 crypto map mymap
ip route 0.0.0.0 0.0.0.0 192.0.2.1
access-list 101 permit ip 192.168.1.0 0.0.0.255 172.17.11.0 0.0.0.255
access-list 101 permit ip 192.168.1.0 0.0.0.255 10.20.0.0 0.0.255.255
access-list 101 deny ip 192.168.1.0 0.0.0.255 10.99.0.0 0.0.255.255
";

/// "Configuring RRI When Crypto ACLs Exist Example" (12.3(14)T): with `reverse-route static`
/// the routes come from the ACL's permit destinations, via the peer, with no SA at all, and
/// go as soon as RRI, the peer or the ACL is removed.
#[test]
fn static_map_routes_from_the_crypto_acl() {
    let mut e = engine(ACL_MAP);
    assert_eq!(
        e.show_crypto_route(),
        "VPN Routing Table: Shows RRI and VTI created routes\n\
         Codes: RRI - Reverse-Route, VTI- Virtual Tunnel Interface\n\
         \x20       S - Static Map ACLs\n\
         Routes created in table GLOBAL DEFAULT\n\
         10.20.0.0/255.255.0.0 [0/0] via 172.17.11.1\n\
         \x20                               on FastEthernet0/0 S\n\
         172.17.11.0/255.255.255.0 [0/0] via 172.17.11.1\n\
         \x20                               on FastEthernet0/0 S\n"
    );
    let route = e.show_ip_route(None);
    assert!(
        route.contains(
            "     10.0.0.0/16 is subnetted, 1 subnets\nS       10.20.0.0 [1/0] via 172.17.11.1\n"
        ),
        "{route}"
    );
    assert!(route.contains("     172.17.0.0/24 is subnetted, 1 subnets\nS       172.17.11.0 [1/0] via 172.17.11.1\n"), "{route}");
    // The peer lies inside the network it protects: it resolves past that route, through
    // the default route.
    let best = e.rib.best(rib::VrfId::GLOBAL, p("172.17.11.0/24")).unwrap();
    assert_eq!(best.resolved.gateway, ip("192.0.2.1"));

    // An SA does not add routes of its own on a static-ACL map.
    e.rri.take_events();
    e.sa_up(SaUp {
        id: SaId(1),
        origin: SaOrigin::CryptoMap {
            map: "mymap".into(),
            seq: 1,
        },
        peer: ip("172.17.11.1"),
        interface: None,
        remote_proxies: vec![p("172.17.11.0/24")],
    });
    assert_eq!(events(&mut e), "");

    for removed in [
        "access-list 101 permit ip 192.168.1.0 0.0.0.255 172.17.11.0 0.0.0.255\n",
        " set peer 172.17.11.1\n",
        " reverse-route static\n",
        " match address 101\n",
        " crypto map mymap\n",
    ] {
        let without = ACL_MAP.replace(removed, "");
        apply(&mut e, &without);
        let expect_left = if removed.starts_with("access-list") {
            1
        } else {
            0
        };
        assert_eq!(
            e.rri.routes().count(),
            expect_left,
            "after removing {removed:?}"
        );
        apply(&mut e, ACL_MAP);
        assert_eq!(e.rri.routes().count(), 2, "restored after {removed:?}");
    }
}

fn remote_peer_engine(rr: &str) -> RouteEngine {
    engine(&format!(
        "crypto ipsec transform-set ts esp-gcm 128\n\
         crypto map mymap 1 ipsec-isakmp\n\
         \x20set peer 10.1.1.1\n\
         \x20set transform-set ts\n\
         \x20match address 101\n\
         \x20{rr}\n\
         interface FastEthernet0/0\n\
         \x20ip address 10.1.1.2 255.255.255.0\n\
         \x20crypto map mymap\n\
         access-list 101 permit ip 192.168.1.0 0.0.0.255 10.0.0.0 0.0.0.255\n"
    ))
}

fn map_sa() -> SaUp {
    SaUp {
        id: SaId(1),
        origin: SaOrigin::CryptoMap {
            map: "mymap".into(),
            seq: 1,
        },
        peer: ip("10.1.1.1"),
        interface: None,
        remote_proxies: vec![p("10.0.0.0/24")],
    }
}

/// "Configuring RRI for One Route to the Remote Proxy via a User-Defined Next Hop".
#[test]
fn remote_peer_address_is_one_route_via_the_user_next_hop() {
    let mut e = remote_peer_engine("reverse-route remote-peer 10.4.4.4");
    e.sa_up(map_sa());
    let lines: Vec<String> = e
        .rri
        .take_events()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines.last().unwrap(),
        "IPSEC(rte_mgr): VPN Route Added 10.0.0.0 255.255.255.0 via 10.4.4.4 in IP DEFAULT TABLE with tag 0 distance 1"
    );
    assert_eq!(e.rri.routes().count(), 1);
}

/// The gateway option: the proxy via the peer, and the peer via the gateway.
#[test]
fn remote_peer_gateway_is_two_routes() {
    let mut e = remote_peer_engine("reverse-route remote-peer 10.4.4.4 gateway");
    e.sa_up(map_sa());
    let crypto = e.show_crypto_route();
    assert!(
        crypto.ends_with(
            "Routes created in table GLOBAL DEFAULT\n\
             10.0.0.0/255.255.255.0 [0/0] via 10.1.1.1\n\
             \x20                               on FastEthernet0/0 RRI\n\
             10.1.1.1/255.255.255.255 [0/0] via 10.4.4.4\n\
             \x20                               on FastEthernet0/0 RRI\n"
        ),
        "{crypto}"
    );
}

/// Legacy `reverse-route remote-peer`: the proxy via the peer, the peer via the interface.
#[test]
fn legacy_remote_peer_routes_the_peer_via_the_interface() {
    let mut e = remote_peer_engine("reverse-route remote-peer");
    e.sa_up(map_sa());
    let crypto = e.show_crypto_route();
    assert!(
        crypto.ends_with(
            "10.0.0.0/255.255.255.0 [0/0] via 10.1.1.1\n\
             \x20                               on FastEthernet0/0 RRI\n\
             10.1.1.1/255.255.255.255 [0/0] via FastEthernet0/0 RRI\n"
        ),
        "{crypto}"
    );
    let route = e.show_ip_route(None);
    assert!(
        route.contains(
            "     10.0.0.0/8 is variably subnetted, 3 subnets, 2 masks\n\
                        S       10.0.0.0/24 [1/0] via 10.1.1.1\n\
                        C       10.1.1.0/24 is directly connected, FastEthernet0/0\n\
                        S       10.1.1.1/32 [1/0] via 0.0.0.0, FastEthernet0/0\n"
        ),
        "{route}"
    );
}

/// "Configuring RRI with Route Tags Example": the tag goes on every route, for a routing
/// protocol's route map to match.
#[test]
fn route_tags() {
    let mut e = engine(
        "crypto ipsec transform-set ts esp-gcm 128\n\
         crypto dynamic-map ospf-clients 1\n\
         \x20set transform-set ts\n\
         \x20set reverse-route tag 5\n\
         \x20reverse-route\n\
         crypto map mymap 10 ipsec-isakmp dynamic ospf-clients\n\
         interface FastEthernet0/1\n\
         \x20ip address 192.168.82.26 255.255.255.248\n\
         \x20crypto map mymap\n\
         router ospf 109\n\
         \x20redistribute static subnets route-map rip-to-ospf\n\
         route-map rip-to-ospf permit\n\
         \x20match tag 5\n\
         \x20set metric 5\n\
         \x20set metric-type type-1\n\
         ip route 0.0.0.0 0.0.0.0 192.168.82.25\n",
    );
    e.sa_up(dynamic_sa(1, "198.51.100.7", "10.81.7.48/29"));
    let last = e.rri.take_events().pop().unwrap().to_string();
    assert_eq!(
        last,
        "IPSEC(rte_mgr): VPN Route Added 10.81.7.48 255.255.255.248 via 198.51.100.7 in IP DEFAULT TABLE with tag 5 distance 1"
    );
    let route = e.show_ip_route(None);
    assert!(
        route.contains("S       10.81.7.48 [1/0] via 198.51.100.7, tag 5\n"),
        "{route}"
    );
    let best = e.rib.best(rib::VrfId::GLOBAL, p("10.81.7.48/29")).unwrap();
    assert_eq!(best.route.tag, 5);
    assert_eq!(
        best.resolved.gateway,
        ip("192.168.82.25"),
        "resolved through the default route"
    );
}

/// A floating RRI route (distance 20) loses to a preferred route for the same prefix and
/// takes over when that route disappears.
#[test]
fn floating_rri_route_takes_over() {
    let with_static = format!("{DISTANCE_SERVER}ip route 192.168.6.1 255.255.255.255 10.0.0.113\n");
    let mut e = engine(&with_static);
    e.sa_up(dynamic_sa(1, "10.0.0.14", "192.168.6.1/32"));
    let route = e.show_ip_route(None);
    assert!(
        route.contains("S       192.168.6.1 [1/0] via 10.0.0.113\n"),
        "{route}"
    );
    e.rib.take_changes();
    apply(&mut e, DISTANCE_SERVER);
    let route = e.show_ip_route(None);
    assert!(
        route.contains("S       192.168.6.1 [20/0] via 10.0.0.14\n"),
        "{route}"
    );
    let changes = e.rib.take_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].prefix, p("192.168.6.1/32"));
    assert_eq!(changes[0].entry.unwrap().route.distance, 20);
    // And back.
    apply(&mut e, &with_static);
    assert!(e
        .show_ip_route(None)
        .contains("S       192.168.6.1 [1/0] via 10.0.0.113\n"));
}

/// Two SAs protecting the same proxy (a rekey overlap) share the route until both are gone.
#[test]
fn refcounted_routes_survive_a_rekey_overlap() {
    let mut e = engine(DISTANCE_SERVER);
    e.sa_up(dynamic_sa(1, "10.0.0.14", "192.168.6.1/32"));
    e.rri.take_events();
    e.sa_up(dynamic_sa(2, "10.0.0.14", "192.168.6.1/32"));
    assert_eq!(
        events(&mut e),
        "IPSEC(rte_mgr): VPN Route Event create routes for peer or rekeying for 10.0.0.14\n\
         IPSEC(rte_mgr): VPN Route Refcount 2 FastEthernet0/0\n"
    );
    e.sa_down(SaId(1));
    assert_eq!(
        events(&mut e),
        "IPSEC(rte_mgr): VPN Route Event delete routes for peer 10.0.0.14\n\
         IPSEC(rte_mgr): VPN Route Refcount 1 FastEthernet0/0\n"
    );
    assert!(e
        .show_ip_route(None)
        .contains("S       192.168.6.1 [20/0] via 10.0.0.14\n"));
    e.sa_down(SaId(2));
    assert!(events(&mut e).ends_with(
        "VPN Route Deleted 192.168.6.1 255.255.255.255 via 10.0.0.14 in IP DEFAULT TABLE\n"
    ));
    assert!(!e.show_ip_route(None).contains("192.168.6.1"));
}

/// Routes go in the VRF of the interface the map is applied to.
#[test]
fn routes_land_in_the_vrf_of_the_map_interface() {
    let mut e = engine(
        "ip vrf blue\n rd 65000:1\n\
         crypto ipsec transform-set ts esp-gcm 128\n\
         crypto dynamic-map dynmap 1\n set transform-set ts\n reverse-route\n\
         crypto map mymap 10 ipsec-isakmp dynamic dynmap\n\
         interface GigabitEthernet0/1\n ip vrf forwarding blue\n ip address 10.0.0.1 255.255.255.0\n crypto map mymap\n\
         ip route vrf blue 0.0.0.0 0.0.0.0 10.0.0.254\n",
    );
    e.sa_up(dynamic_sa(1, "203.0.113.9", "172.16.4.0/24"));
    let blue = e.show_ip_route(Some("blue"));
    assert!(blue.starts_with("Routing Table: blue\nCodes:"), "{blue}");
    assert!(blue.contains("     172.16.0.0/24 is subnetted, 1 subnets\nS       172.16.4.0 [1/0] via 203.0.113.9\n"), "{blue}");
    assert!(!e.show_ip_route(None).contains("172.16.4.0"));
    assert!(e
        .show_crypto_route()
        .contains("Routes created in table blue\n172.16.4.0/255.255.255.0"));
    assert_eq!(
        e.show_ip_route(Some("red")),
        "% IP routing table red does not exist\n"
    );
}

/// Changing a configuration changes exactly the routes it implies.
#[test]
fn config_changes_touch_only_what_they_imply() {
    let mut e = engine(DISTANCE_SERVER);
    e.sa_up(dynamic_sa(1, "10.0.0.14", "192.168.6.1/32"));
    e.rib.take_changes();
    e.rri.take_events();
    // An unrelated change: a new loopback.
    apply(
        &mut e,
        &format!("{DISTANCE_SERVER}interface Loopback9\n ip address 10.99.0.1 255.255.255.0\n"),
    );
    let changes = e.rib.take_changes();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].prefix, p("10.99.0.0/24"));
    assert_eq!(events(&mut e), "", "no RRI route was touched");
    // A distance change re-adds the route with its new distance.
    apply(
        &mut e,
        &DISTANCE_SERVER.replace("distance 20", "distance 30"),
    );
    assert_eq!(
        events(&mut e),
        "IPSEC(rte_mgr): VPN Route Added 192.168.6.1 255.255.255.255 via 10.0.0.14 in IP DEFAULT TABLE with tag 0 distance 30\n"
    );
    // Removing reverse-route removes the route; the SA stays, and restoring RRI restores it.
    apply(&mut e, &DISTANCE_SERVER.replace(" reverse-route\n", ""));
    assert!(events(&mut e).contains("VPN Route Deleted 192.168.6.1"));
    apply(&mut e, DISTANCE_SERVER);
    assert!(events(&mut e).contains("VPN Route Added 192.168.6.1"));
}
