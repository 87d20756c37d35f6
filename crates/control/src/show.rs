//! The `show` commands that read the control thread's state, each as a value (`--json`
//! prints it with serde) and as the text IOS users know.
//!
//! Every view is taken from the published policy and the tables at one moment; the SA
//! counters are the live atomics of the SAs the workers use, so two `show crypto ipsec sa`
//! a second apart show traffic moving.

use crate::plane::ControlPlane;
use config::model::{CryptoMapKind, Direction, PeerTarget};
use policy::FrameTx;
use rib::rri::Via;
use serde::Serialize;
use std::fmt::Write;
use std::net::Ipv4Addr;

/// One direction of an SA.
#[derive(Debug, Clone, Serialize)]
pub struct SaSide {
    pub spi: u32,
    pub transform: &'static str,
    pub packets: u64,
    pub bytes: u64,
    /// Packets refused, all reasons together ...
    pub drops: u64,
    /// ... and by reason (every reason, zero or not, named as [`esp::DropReason::as_str`]
    /// names it with dashes: `replay`, `authentication-failed`, `seal-failed`, ...).
    pub drops_by_reason: std::collections::BTreeMap<String, u64>,
    /// Seconds left of the hard lifetime, where there is one.
    pub remaining_seconds: Option<u64>,
    /// Outbound: the last sequence number sent (0 before the first packet).
    pub sequence: Option<u64>,
    pub udp_encap: bool,
}

/// The SAs of one crypto map entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntrySas {
    pub interface: String,
    pub map: String,
    pub seq: u32,
    /// `manual` or `ikev2`.
    pub keys: &'static str,
    pub local: Option<Ipv4Addr>,
    pub peer: Option<Ipv4Addr>,
    pub outbound: Option<SaSide>,
    pub inbound: Vec<SaSide>,
}

/// Every drop reason of an SA's counters, by its dashed name.
fn drops_by_reason(c: &esp::CounterSnapshot) -> std::collections::BTreeMap<String, u64> {
    esp::DropReason::ALL
        .iter()
        .map(|&r| (reason_name(r), c.drops(r)))
        .collect()
}

/// A drop reason's name for JSON keys and metric labels: `seal-failed`.
pub fn reason_name(r: esp::DropReason) -> String {
    r.as_str().replace(' ', "-")
}

fn outbound_side(sa: &esp::OutboundSa, now_ns: u64) -> SaSide {
    let c = sa.counters().snapshot();
    SaSide {
        spi: sa.spi(),
        transform: transform_name(sa.transform()),
        packets: c.packets,
        bytes: c.bytes,
        drops: c.total_drops(),
        drops_by_reason: drops_by_reason(&c),
        remaining_seconds: sa.remaining_seconds(now_ns),
        sequence: Some(sa.last_seq()),
        udp_encap: sa.template().udp.is_some(),
    }
}

fn inbound_side(sa: &esp::InboundSa, now_ns: u64) -> SaSide {
    let c = sa.counters().snapshot();
    SaSide {
        spi: sa.spi(),
        transform: transform_name(sa.transform()),
        packets: c.packets,
        bytes: c.bytes,
        drops: c.total_drops(),
        drops_by_reason: drops_by_reason(&c),
        remaining_seconds: sa.remaining_seconds(now_ns),
        sequence: None,
        udp_encap: sa.tunnel().udp.is_some(),
    }
}

/// IOS's name of a transform.
pub fn transform_name(t: esp::Transform) -> &'static str {
    match t {
        esp::Transform::AesGcm128 => "esp-gcm 128",
        esp::Transform::AesGcm256 => "esp-gcm 256",
        esp::Transform::ChaCha20Poly1305 => "esp-chacha20-poly1305",
    }
}

/// `show crypto ipsec sa [peer X]`: every entry that has an SA now.
pub fn ipsec_sa<T: FrameTx>(
    plane: &ControlPlane<T>,
    peer: Option<Ipv4Addr>,
    now_ns: u64,
) -> Vec<EntrySas> {
    let policy = plane.policy.load();
    let mut out = Vec::new();
    for (map_index, map) in policy.maps.iter().enumerate() {
        let port = policy
            .ports
            .iter()
            .flatten()
            .find(|p| p.crypto_map == Some(map_index as u32));
        for entry in &map.entries {
            let Some(outbound) = &entry.outbound else {
                continue;
            };
            if peer.is_some_and(|p| entry.peer != Some(p)) {
                continue;
            }
            // Inbound SAs: the negotiated partner of this outbound SA, or the manual keys.
            let mut inbound: Vec<SaSide> = plane
                .sas
                .installed()
                .filter(|i| i.child.spi_out == outbound.spi() && Some(i.peer) == entry.peer)
                .filter_map(|i| policy.inbound.get(&i.child.spi_in))
                .map(|b| inbound_side(&b.sa, now_ns))
                .collect();
            let manual = plane
                .config
                .crypto_maps
                .get(&map.name)
                .and_then(|m| m.entries.get(&entry.seq))
                .is_some_and(|e| e.kind == CryptoMapKind::Manual);
            if manual {
                let keys = plane
                    .config
                    .crypto_maps
                    .get(&map.name)
                    .and_then(|m| m.entries.get(&entry.seq))
                    .map(|e| e.body.session_keys.clone())
                    .unwrap_or_default();
                inbound.extend(
                    keys.iter()
                        .filter(|k| k.value.direction == Direction::Inbound)
                        .filter_map(|k| policy.inbound.get(&k.value.spi))
                        .map(|b| inbound_side(&b.sa, now_ns)),
                );
            }
            out.push(EntrySas {
                interface: port.map(|p| p.name.clone()).unwrap_or_default(),
                map: map.name.clone(),
                seq: entry.seq,
                keys: if manual { "manual" } else { "ikev2" },
                local: Some(outbound.template().src),
                peer: entry.peer,
                outbound: Some(outbound_side(outbound, now_ns)),
                inbound,
            });
        }
    }
    out
}

/// The text of `show crypto ipsec sa`.
pub fn render_ipsec_sa(entries: &[EntrySas]) -> String {
    let mut s = String::new();
    if entries.is_empty() {
        s.push_str("No SAs found\n");
    }
    for e in entries {
        let local = e.local.map_or("-".into(), |a| a.to_string());
        let peer = e.peer.map_or("-".into(), |a| a.to_string());
        let _ = writeln!(s, "interface: {}", e.interface);
        let _ = writeln!(
            s,
            "    Crypto map tag: {}, seq num: {}, local addr {local}\n",
            e.map, e.seq
        );
        let port = if e.outbound.as_ref().is_some_and(|o| o.udp_encap) {
            4500
        } else {
            500
        };
        let _ = writeln!(s, "   current_peer {peer} port {port}");
        let _ = writeln!(s, "     PERMIT, flags={{origin_is_acl,}}");
        let (enc, dec): (u64, u64) = (
            e.outbound.as_ref().map_or(0, |o| o.packets),
            e.inbound.iter().map(|i| i.packets).sum(),
        );
        let (send_err, recv_err): (u64, u64) = (
            e.outbound.as_ref().map_or(0, |o| o.drops),
            e.inbound.iter().map(|i| i.drops).sum(),
        );
        let _ = writeln!(
            s,
            "    #pkts encaps: {enc}, #pkts encrypt: {enc}, #pkts digest: {enc}"
        );
        let _ = writeln!(
            s,
            "    #pkts decaps: {dec}, #pkts decrypt: {dec}, #pkts verify: {dec}"
        );
        let _ = writeln!(s, "    #send errors {send_err}, #recv errors {recv_err}");
        // Why, in IOS's words where IOS has a counter for it (its detail view).
        let inbound = |reasons: &[esp::DropReason]| -> u64 {
            e.inbound
                .iter()
                .flat_map(|i| reasons.iter().map(|&r| i.drops_by_reason[&reason_name(r)]))
                .sum()
        };
        let outbound = |reason: esp::DropReason| -> u64 {
            e.outbound
                .as_ref()
                .map_or(0, |o| o.drops_by_reason[&reason_name(reason)])
        };
        use esp::DropReason as D;
        let _ = writeln!(
            s,
            "    #pkts replay failed (rcv): {}, #pkts verify failed: {}",
            inbound(&[D::Replay, D::OutsideWindow]),
            inbound(&[D::AuthFailed]),
        );
        let _ = writeln!(
            s,
            "    #pkts invalid identity (rcv): {}, #pkts invalid prot (recv): {}",
            inbound(&[D::SelectorMismatch]),
            inbound(&[
                D::BadPadding,
                D::BadNextHeader,
                D::TooShort,
                D::BadOuterHeader
            ]),
        );
        let _ = writeln!(
            s,
            "    #pkts seal failed (send): {}, #pkts expired (send): {}\n",
            outbound(D::SealFailed),
            outbound(D::LifetimeExpired) + outbound(D::SequenceExhausted),
        );
        let _ = writeln!(
            s,
            "     local crypto endpt.: {local}, remote crypto endpt.: {peer}"
        );
        if let Some(o) = &e.outbound {
            let _ = writeln!(s, "     current outbound spi: 0x{:X}({})", o.spi, o.spi);
        }
        let side = |s: &mut String, title: &str, list: &[&SaSide]| {
            let _ = writeln!(s, "\n     {title} esp sas:");
            for x in list {
                let life = x
                    .remaining_seconds
                    .map_or("-".to_string(), |r| r.to_string());
                let _ = writeln!(
                    s,
                    "      spi: 0x{:X}({})\n        transform: {} ,\n        in use settings ={{Tunnel{}, }}\n        keys: {}, crypto map: {}\n        sa timing: remaining key lifetime (sec): ({life})\n        bytes: {}, packets: {}\n        Status: ACTIVE",
                    x.spi,
                    x.spi,
                    x.transform,
                    if x.udp_encap { " UDP-Encaps" } else { "" },
                    e.keys,
                    e.map,
                    x.bytes,
                    x.packets,
                );
            }
        };
        side(&mut s, "inbound", &e.inbound.iter().collect::<Vec<_>>());
        side(&mut s, "outbound", &e.outbound.iter().collect::<Vec<_>>());
        s.push('\n');
    }
    s
}

/// One crypto map entry as `show crypto map` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct MapView {
    pub map: String,
    pub seq: u32,
    pub kind: String,
    pub description: Option<String>,
    pub peers: Vec<String>,
    pub default_peer: Option<String>,
    pub current_peer: Option<Ipv4Addr>,
    pub access_list: Option<String>,
    pub access_list_lines: Vec<String>,
    pub transform_sets: Vec<(String, Vec<String>)>,
    pub lifetime_seconds: Option<u32>,
    pub lifetime_kilobytes: Option<u64>,
    pub pfs: Option<String>,
    pub reverse_route: bool,
    /// The dynamic map a `ipsec-isakmp dynamic` entry takes its settings from.
    pub dynamic_template: Option<String>,
    pub interfaces: Vec<String>,
}

/// `show crypto map`.
pub fn crypto_map<T: FrameTx>(plane: &ControlPlane<T>) -> Vec<MapView> {
    let config = &plane.config;
    let policy = plane.policy.load();
    let mut out = Vec::new();
    for (name, map) in &config.crypto_maps {
        let interfaces: Vec<String> = config
            .interfaces
            .iter()
            .filter(|i| i.crypto_map.as_ref().is_some_and(|m| &m.name == name))
            .map(|i| i.name.value.clone())
            .collect();
        for (seq, entry) in &map.entries {
            // A dynamic entry shows its template's settings, as IOS does.
            let template = match &entry.kind {
                CryptoMapKind::Dynamic(d) => Some(d.value.clone()),
                _ => None,
            };
            let b = template
                .as_ref()
                .and_then(|d| config.dynamic_maps.get(d))
                .and_then(|m| m.entries.values().next())
                .map_or(&entry.body, |e| &e.body);
            let target = |t: &PeerTarget| match t {
                PeerTarget::Address(a) => a.to_string(),
                PeerTarget::Host { name, dynamic } => {
                    if *dynamic {
                        format!("{name} (dynamic)")
                    } else {
                        name.clone()
                    }
                }
            };
            let acl = b.match_address.as_ref().map(|a| a.value.to_string());
            let acl_lines = b
                .match_address
                .as_ref()
                .and_then(|a| config.access_lists.get(&a.value))
                .map(|l| {
                    l.entries
                        .iter()
                        .map(|e| {
                            format!(
                                "access-list {} {}",
                                l.name,
                                config::acl_entry_text(l.kind, e)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let current_peer = plane
                .peers
                .manager()
                .entry(name, *seq)
                .and_then(|e| e.up_address())
                .or_else(|| {
                    policy
                        .maps
                        .iter()
                        .find(|m| &m.name == name)
                        .and_then(|m| m.entries.iter().find(|e| e.seq == *seq))
                        .and_then(|e| e.peer)
                });
            out.push(MapView {
                map: name.clone(),
                seq: *seq,
                kind: match &entry.kind {
                    CryptoMapKind::Isakmp => "ipsec-isakmp".into(),
                    CryptoMapKind::Manual => "ipsec-manual".into(),
                    CryptoMapKind::Dynamic(d) => format!("ipsec-isakmp dynamic {d}"),
                },
                description: b.description.as_ref().map(|d| d.value.clone()),
                peers: b.peers.iter().map(|p| target(&p.value.target)).collect(),
                default_peer: b
                    .peers
                    .iter()
                    .find(|p| p.value.default)
                    .map(|p| target(&p.value.target)),
                current_peer,
                access_list: acl,
                access_list_lines: acl_lines,
                transform_sets: b
                    .transform_sets
                    .iter()
                    .map(|t| {
                        let transforms = config
                            .transform_sets
                            .get(&t.value)
                            .map(|ts| ts.transforms.iter().map(|x| x.to_string()).collect())
                            .unwrap_or_default();
                        (t.value.clone(), transforms)
                    })
                    .collect(),
                lifetime_seconds: b.lifetime_seconds.as_ref().map(|v| v.value),
                lifetime_kilobytes: b.lifetime_kilobytes.as_ref().map(|v| v.value),
                pfs: b.pfs.as_ref().map(|p| format!("{:?}", p.value)),
                reverse_route: b.reverse_route.is_some(),
                dynamic_template: template,
                interfaces: interfaces.clone(),
            });
        }
    }
    out
}

/// The text of `show crypto map`.
pub fn render_crypto_map(maps: &[MapView]) -> String {
    let mut s = String::new();
    for m in maps {
        let _ = writeln!(s, "Crypto Map \"{}\" {} {}", m.map, m.seq, m.kind);
        if let Some(d) = &m.description {
            let _ = writeln!(s, "        Description: {d}");
        }
        for p in &m.peers {
            let default = if m.default_peer.as_ref() == Some(p) {
                " (default)"
            } else {
                ""
            };
            let _ = writeln!(s, "        Peer = {p}{default}");
        }
        if let Some(t) = &m.dynamic_template {
            let _ = writeln!(s, "        Dynamic map template tag: {t}");
        }
        match &m.access_list {
            Some(a) => {
                let _ = writeln!(s, "        Extended IP access list {a}");
                for l in &m.access_list_lines {
                    let _ = writeln!(s, "            {l}");
                }
            }
            None => {
                let _ = writeln!(s, "        No matching address list set.");
            }
        }
        let current = m.current_peer.map_or("(none)".into(), |p| p.to_string());
        let _ = writeln!(s, "        Current peer: {current}");
        let _ = writeln!(
            s,
            "        Security association lifetime: {} kilobytes/{} seconds",
            m.lifetime_kilobytes
                .map_or("4608000".into(), |k| k.to_string()),
            m.lifetime_seconds.map_or("3600".into(), |v| v.to_string())
        );
        let _ = writeln!(
            s,
            "        PFS (Y/N): {}",
            if m.pfs.is_some() { "Y" } else { "N" }
        );
        let _ = writeln!(s, "        Transform sets={{");
        for (name, ts) in &m.transform_sets {
            let _ = writeln!(s, "                {name}:  {{ {}  }} ,", ts.join(" "));
        }
        let _ = writeln!(s, "        }}");
        if m.reverse_route {
            let _ = writeln!(s, "        Reverse Route Injection Enabled");
        }
        let _ = writeln!(s, "        Interfaces using crypto map {}:", m.map);
        for i in &m.interfaces {
            let _ = writeln!(s, "                {i}");
        }
        s.push('\n');
    }
    s
}

/// One route of `show crypto route`.
#[derive(Debug, Clone, Serialize)]
pub struct CryptoRouteView {
    pub table: Option<String>,
    pub prefix: Ipv4Addr,
    pub length: u8,
    pub distance: u8,
    pub via: String,
    pub on: Option<String>,
    pub code: &'static str,
    pub tag: u32,
    /// How many SAs or static maps need the route.
    pub refcount: usize,
}

/// `show crypto route`, as values.
pub fn crypto_route<T: FrameTx>(plane: &ControlPlane<T>) -> Vec<CryptoRouteView> {
    let names = &plane.routes.names;
    let mut out: Vec<CryptoRouteView> = plane
        .routes
        .rri
        .routes()
        .map(|(k, r)| {
            let g = r.governing();
            CryptoRouteView {
                table: names.vrf_name(k.vrf).map(str::to_string),
                prefix: k.prefix.addr,
                length: k.prefix.len,
                distance: g.distance.unwrap_or(0),
                via: match k.via {
                    Via::Addr(a) => a.to_string(),
                    Via::Interface(i) => names.interface_name(i).to_string(),
                },
                on: g.on.map(|i| names.interface_name(i).to_string()),
                code: match g.code {
                    rib::rri::RouteCode::Rri => "RRI",
                    rib::rri::RouteCode::StaticAcl => "S",
                    rib::rri::RouteCode::Vti => "VTI",
                },
                tag: g.tag,
                refcount: r.refcount(),
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.table, a.prefix, a.length).cmp(&(&b.table, b.prefix, b.length)));
    out
}

/// One IKE session of `show crypto session`.
pub use crate::engine::SessionView;

/// One port of `show interfaces`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InterfaceView {
    pub name: String,
    pub port: u16,
    pub device: String,
    pub mac: String,
    pub link_up: bool,
    pub speed_mbps: u32,
    pub addresses: Vec<String>,
    pub mtu: u16,
    pub crypto_map: Option<String>,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
    /// Packets rri's workers took from the port (some PMDs, memif among them, count
    /// fewer in their own statistics).
    pub forwarded_in: u64,
    /// Packets rri's workers sent out of the port.
    pub forwarded_out: u64,
}

/// Fills the configured side of each port view from the policy.
pub fn interface_config<T: FrameTx>(plane: &ControlPlane<T>, views: &mut [InterfaceView]) {
    let policy = plane.policy.load();
    for v in views {
        let Some(p) = policy.port(v.port) else {
            continue;
        };
        v.name = p.name.clone();
        v.mtu = p.mtu;
        v.addresses = p
            .addresses
            .iter()
            .map(|(a, l)| format!("{a}/{l}"))
            .collect();
        v.crypto_map = p
            .crypto_map
            .and_then(|m| policy.maps.get(m as usize))
            .map(|m| m.name.clone());
        v.mac = p
            .mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|c| c.concat())
            .collect::<Vec<_>>()
            .join(".");
    }
}

/// The text of `show interfaces`.
pub fn render_interfaces(views: &[InterfaceView]) -> String {
    let mut s = String::new();
    for v in views {
        let state = if v.link_up { "up" } else { "down" };
        let _ = writeln!(
            s,
            "{} is {state}, line protocol is {state}\n  Hardware is DPDK port {} ({}), address is {}",
            v.name, v.port, v.device, v.mac
        );
        if v.addresses.is_empty() {
            let _ = writeln!(s, "  No Internet address");
        }
        for a in &v.addresses {
            let _ = writeln!(s, "  Internet address is {a}");
        }
        let _ = writeln!(s, "  MTU {} bytes, BW {} Mbit/sec", v.mtu, v.speed_mbps);
        if let Some(m) = &v.crypto_map {
            let _ = writeln!(s, "  Crypto map: {m}");
        }
        let _ = writeln!(
            s,
            "     {} packets input, {} bytes, {} no buffer\n     {} input errors, {} missed\n     {} packets output, {} bytes, {} output errors",
            v.rx_packets,
            v.rx_bytes,
            v.rx_nombuf,
            v.rx_errors,
            v.rx_missed,
            v.tx_packets,
            v.tx_bytes,
            v.tx_errors
        );
        let _ = writeln!(
            s,
            "     rri workers: {} packets in, {} packets out",
            v.forwarded_in, v.forwarded_out
        );
    }
    s
}

/// One crypto map entry's peers, as `show crypto peer --json` gives them.
#[derive(Debug, Clone, Serialize)]
pub struct PeerEntryView {
    pub entry: String,
    pub phase: String,
    /// Index of the peer in use or tried next.
    pub current: usize,
    /// The peer address a tunnel is up with.
    pub up: Option<Ipv4Addr>,
    pub peers: Vec<PeerView>,
}

/// One peer of an entry.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub target: String,
    pub default: bool,
    pub last_failure: Option<String>,
}

/// `show crypto peer`, as values.
pub fn crypto_peer<T: FrameTx>(plane: &ControlPlane<T>) -> Vec<PeerEntryView> {
    plane
        .peers
        .manager()
        .entries()
        .map(|(_, e)| PeerEntryView {
            entry: e.label().to_string(),
            phase: format!("{:?}", e.phase()),
            current: e.current(),
            up: e.up_address(),
            peers: e
                .peers()
                .iter()
                .map(|p| PeerView {
                    target: p.spec.name.to_string(),
                    default: p.spec.default,
                    last_failure: p.last_failure.as_ref().map(|(_, f)| f.to_string()),
                })
                .collect(),
        })
        .collect()
}

/// One best route of `show ip route --json`.
#[derive(Debug, Clone, Serialize)]
pub struct IpRouteView {
    pub prefix: Ipv4Addr,
    pub length: u8,
    pub source: String,
    pub distance: u8,
    pub metric: u32,
    pub tag: u32,
    pub next_hop: Option<Ipv4Addr>,
    /// The resolved on-link next hop and egress interface.
    pub gateway: Option<Ipv4Addr>,
    pub interface: String,
}

/// `show ip route [vrf V]` as values (empty for an unknown VRF).
pub fn ip_route<T: FrameTx>(plane: &ControlPlane<T>, vrf: Option<&str>) -> Vec<IpRouteView> {
    let names = &plane.routes.names;
    let Some(id) = names.find_vrf(vrf) else {
        return Vec::new();
    };
    let mut out: Vec<IpRouteView> = plane
        .routes
        .rib
        .best_routes(id)
        .map(|(p, e)| IpRouteView {
            prefix: p.addr,
            length: p.len,
            source: format!("{:?}", e.route.source).to_lowercase(),
            distance: e.route.distance,
            metric: e.route.metric,
            tag: e.route.tag,
            next_hop: e.route.next_hop,
            gateway: (!e.resolved.gateway.is_unspecified()).then_some(e.resolved.gateway),
            interface: names.interface_name(e.resolved.interface).to_string(),
        })
        .collect();
    out.sort_by_key(|r| (r.prefix, r.length));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pktbuf::{PacketBuf, TestBuf};

    /// An SA pair's real counters, after a replayed packet, a tampered one and a good one,
    /// reach the text (IOS's detail counters) and the JSON by reason.
    #[test]
    fn drops_are_shown_by_reason() {
        let tunnel =
            esp::TunnelTemplate::new(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let p = esp::SaParams::from_keymat(0x1234, esp::Transform::AesGcm128, &[7; 20], tunnel)
            .unwrap();
        let out = esp::OutboundSa::new(&p, 0).unwrap();
        let inb = esp::InboundSa::new(&p, 0).unwrap();
        let mut inner = vec![0u8; 40];
        wire::ipv4::Ipv4Repr {
            src: Ipv4Addr::new(10, 1, 0, 1),
            dst: Ipv4Addr::new(10, 2, 0, 1),
            protocol: 17,
            tos: 0,
            ident: 1,
            dont_fragment: false,
            ttl: 64,
            payload_len: 20,
        }
        .emit(&mut inner);
        let mut sealed = Vec::new();
        for _ in 0..2 {
            let mut b = TestBuf::like_mbuf(&inner);
            out.encapsulate(&mut b, 0).unwrap();
            sealed.push(b.data().to_vec());
        }
        let open = |packet: &[u8]| {
            let esp::Classified::Esp(at) = esp::classify(packet).unwrap() else {
                panic!("not ESP")
            };
            let mut b = TestBuf::like_mbuf(packet);
            inb.decapsulate(&mut b, &at, 0)
        };
        assert!(open(&sealed[0]).is_ok());
        assert_eq!(open(&sealed[0]), Err(esp::DropReason::Replay));
        let mut tampered = sealed[1].clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(open(&tampered), Err(esp::DropReason::AuthFailed));
        inb.counters()
            .add_drops(esp::DropReason::SelectorMismatch, 3);

        let entry = EntrySas {
            interface: "GigabitEthernet0/1".into(),
            map: "VPN".into(),
            seq: 10,
            keys: "ikev2",
            local: Some(Ipv4Addr::new(192, 0, 2, 1)),
            peer: Some(Ipv4Addr::new(192, 0, 2, 2)),
            outbound: Some(outbound_side(&out, 0)),
            inbound: vec![inbound_side(&inb, 0)],
        };
        let text = render_ipsec_sa(std::slice::from_ref(&entry));
        assert!(text.contains("#send errors 0, #recv errors 5"), "{text}");
        assert!(
            text.contains("#pkts replay failed (rcv): 1, #pkts verify failed: 1"),
            "{text}"
        );
        assert!(text.contains("#pkts invalid identity (rcv): 3"), "{text}");
        assert!(text.contains("#pkts seal failed (send): 0"), "{text}");
        let json = serde_json::to_value(&entry).unwrap();
        let by_reason = &json["inbound"][0]["drops_by_reason"];
        assert_eq!(by_reason["replay"], 1);
        assert_eq!(by_reason["authentication-failed"], 1);
        assert_eq!(by_reason["selector-mismatch"], 3);
        assert_eq!(json["outbound"]["drops_by_reason"]["seal-failed"], 0);
        assert_eq!(
            by_reason.as_object().unwrap().len(),
            esp::DropReason::COUNT,
            "every reason, zero or not"
        );
    }
}
