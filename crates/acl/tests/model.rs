//! The compiled classifier against the configuration model's own reading of each entry.

use acl::{Classifier, FlowKey};
use config::model::{AccessList, AclEntry, Action, AddrMatch, PortMatch, Protocol};
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn parse_acl(text: &str) -> AccessList {
    let checked = config::check(text);
    checked
        .config
        .access_lists
        .into_values()
        .next()
        .expect("an access list")
}

/// The plain reading of one entry, written from the model without compilation.
fn entry_matches(e: &AclEntry, k: &FlowKey) -> bool {
    let addr = |m: AddrMatch, a: u32| m.matches(Ipv4Addr::from(a));
    if !addr(e.src, k.src) || !addr(e.dst, k.dst) {
        return false;
    }
    if let Some(p) = e.protocol.number() {
        if p != k.protocol {
            return false;
        }
    }
    if let Some((t, c)) = e.icmp {
        return k.has_l4
            && k.src_port == u16::from(t)
            && c.is_none_or(|c| k.dst_port == u16::from(c));
    }
    let port_ok = |m: &Option<PortMatch>, p: u16| match m {
        Some(m) if e.protocol.has_ports() => {
            k.has_l4 && m.ranges().iter().any(|&(a, b)| (a..=b).contains(&p))
        }
        _ => true,
    };
    port_ok(&e.src_port, k.src_port) && port_ok(&e.dst_port, k.dst_port)
}

fn model(acl: &AccessList, k: &FlowKey) -> Option<bool> {
    acl.entries
        .iter()
        .find(|e| entry_matches(&e.value, k))
        .map(|e| e.value.action == Action::Permit)
}

#[test]
fn crypto_acl_from_the_guide() {
    let acl = parse_acl(
        "access-list 101 deny ip 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255 \n\
         access-list 101 permit tcp 10.1.0.0 0.0.255.255 host 10.2.2.5 eq 80 443\n\
         access-list 101 permit udp any 10.2.0.0 0.0.255.255 range 5000 5010\n\
         access-list 101 permit icmp 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255 echo\n\
         access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255\n",
    );
    let c = Classifier::compile(&acl);
    let key = |s: &str, d: &str, p: u8, sp: u16, dp: u16| FlowKey {
        src: u32::from(s.parse::<Ipv4Addr>().unwrap()),
        dst: u32::from(d.parse::<Ipv4Addr>().unwrap()),
        protocol: p,
        src_port: sp,
        dst_port: dp,
        has_l4: true,
    };
    let permit = |k: FlowKey| c.classify(&k).map(|v| v.permit);
    assert_eq!(
        permit(key("10.1.1.9", "10.2.2.5", 6, 1000, 80)),
        Some(false),
        "deny first"
    );
    assert_eq!(
        permit(key("10.1.3.9", "10.2.2.5", 6, 1000, 443)),
        Some(true)
    );
    assert_eq!(permit(key("10.1.3.9", "10.2.7.1", 1, 8, 0)), Some(true));
    assert_eq!(permit(key("10.9.3.9", "10.2.7.1", 17, 1, 5005)), Some(true));
    assert_eq!(permit(key("10.9.3.9", "10.2.7.1", 17, 1, 5011)), None);
    assert_eq!(permit(key("10.1.3.9", "10.3.0.1", 6, 1, 80)), None);
    // Mirrored: the peer's traffic back to us.
    let m = Classifier::compile_mirrored(&acl);
    assert_eq!(
        m.classify(&key("10.2.2.5", "10.1.3.9", 6, 443, 1000))
            .map(|v| v.permit),
        Some(true)
    );
    assert_eq!(
        m.classify(&key("10.2.2.5", "10.1.3.9", 6, 1000, 443))
            .map(|v| v.permit),
        Some(true),
        "falls to permit ip"
    );
    assert_eq!(m.classify(&key("10.1.3.9", "10.2.2.5", 6, 1000, 80)), None);
}

fn addr_match() -> impl Strategy<Value = AddrMatch> {
    prop_oneof![
        Just(AddrMatch::Any),
        (0u32..16).prop_map(|a| AddrMatch::Host(Ipv4Addr::from(0x0a00_0000 | a))),
        (0u32..16, 0u32..4).prop_map(|(a, w)| AddrMatch::Wildcard(
            Ipv4Addr::from(0x0a00_0000 | (a & !((1 << w) - 1))),
            Ipv4Addr::from((1u32 << w) - 1)
        )),
        // A non-contiguous wildcard: IOS allows them.
        Just(AddrMatch::Wildcard(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(0, 0, 0, 14)
        )),
    ]
}

fn port_match() -> impl Strategy<Value = Option<PortMatch>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(0u16..8, 1..3).prop_map(|v| Some(PortMatch::Eq(v))),
        (0u16..8).prop_map(|p| Some(PortMatch::Neq(p))),
        (0u16..8).prop_map(|p| Some(PortMatch::Lt(p))),
        (0u16..8).prop_map(|p| Some(PortMatch::Gt(p))),
        (0u16..8, 0u16..8).prop_map(|(a, b)| Some(PortMatch::Range(a, b))),
    ]
}

fn entry() -> impl Strategy<Value = AclEntry> {
    (
        any::<bool>(),
        prop::sample::select(vec![
            Protocol::Ip,
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Icmp,
            Protocol::Esp,
        ]),
        addr_match(),
        addr_match(),
        port_match(),
        port_match(),
        proptest::option::of((0u8..4, proptest::option::of(0u8..3))),
    )
        .prop_map(|(permit, protocol, src, dst, sp, dp, icmp)| AclEntry {
            seq: None,
            action: if permit { Action::Permit } else { Action::Deny },
            protocol,
            src,
            src_port: if protocol.has_ports() { sp } else { None },
            dst,
            dst_port: if protocol.has_ports() { dp } else { None },
            icmp: if protocol == Protocol::Icmp {
                icmp
            } else {
                None
            },
            log: false,
        })
}

fn key() -> impl Strategy<Value = FlowKey> {
    (
        0u32..16,
        0u32..16,
        prop::sample::select(vec![1u8, 6, 17, 50]),
        0u16..9,
        0u16..9,
        any::<bool>(),
    )
        .prop_map(|(s, d, protocol, sp, dp, has_l4)| FlowKey {
            src: 0x0a00_0000 | s,
            dst: 0x0a00_0000 | d,
            protocol,
            src_port: if has_l4 { sp } else { 0 },
            dst_port: if has_l4 { dp } else { 0 },
            has_l4,
        })
}

proptest! {
    #[test]
    fn compiled_matches_the_model(entries in proptest::collection::vec(entry(), 1..12),
                                  keys in proptest::collection::vec(key(), 1..64)) {
        let acl = AccessList {
            name: config::model::AclName::Number(150),
            kind: config::model::AclKind::Extended,
            entries: entries.into_iter().map(|e| config::Spanned::new(e, config::Span::default())).collect(),
            remarks: Vec::new(),
            span: config::Span::default(),
        };
        let c = Classifier::compile(&acl);
        for k in &keys {
            prop_assert_eq!(c.classify(k).map(|v| v.permit), model(&acl, k), "{:?}", k);
            // Without port rules, the address-only key key_for builds decides the same.
            if !c.needs_ports() {
                let bare = FlowKey { src_port: 0, dst_port: 0, has_l4: false, ..*k };
                prop_assert_eq!(c.classify(&bare), c.classify(k), "{:?}", k);
            }
        }
    }
}
