//! Traffic selectors and the ACL world: what a crypto ACL proposes in IKE, and what a
//! negotiated pair of selectors becomes in the data plane's classifiers and in RRI.
//!
//! A crypto ACL's permit entries are written from our side: source = our networks,
//! destination = the peer's. Each permit entry whose wildcards are contiguous becomes one
//! selector on each side (deny entries and non-contiguous wildcards cannot be expressed in
//! IKEv2 and are left out of the proposal; the data plane still applies the full ACL to the
//! traffic it sends). Negotiated selectors are address ranges; the classifier matches
//! prefixes, so a range becomes the few prefixes that cover it exactly.

use acl::Rule;
use config::model::{AccessList, Action};
use ike::message::TrafficSelector;
use std::net::Ipv4Addr;

const ALL_PORTS: (u16, u16) = (0, u16::MAX);

/// A selector for `[start, end]`, every protocol and port.
pub fn any_range(start: Ipv4Addr, end: Ipv4Addr) -> TrafficSelector {
    TrafficSelector::Ipv4 {
        protocol: 0,
        start_port: 0,
        end_port: u16::MAX,
        start,
        end,
    }
}

/// Every IPv4 address.
pub fn anything() -> TrafficSelector {
    any_range(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
}

/// The selectors a crypto ACL proposes: (ours, the peer's).
pub fn from_acl(acl: &AccessList) -> (Vec<TrafficSelector>, Vec<TrafficSelector>) {
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for entry in acl.entries.iter().map(|e| &e.value) {
        if entry.action != Action::Permit {
            continue;
        }
        let (Some(src), Some(dst)) = (entry.src.as_prefix(), entry.dst.as_prefix()) else {
            continue;
        };
        let protocol = entry.protocol.number().unwrap_or(0);
        let single = |p: &Option<config::model::PortMatch>| match p.as_ref().map(|p| p.ranges()) {
            Some(r) if r.len() == 1 => Some(r[0]),
            Some(_) => None,
            None => Some(ALL_PORTS),
        };
        let (Some(sp), Some(dp)) = (single(&entry.src_port), single(&entry.dst_port)) else {
            continue;
        };
        let range = |p: config::model::Prefix, ports: (u16, u16)| {
            let (start, end) = prefix_range(p.addr, p.len);
            TrafficSelector::Ipv4 {
                protocol,
                start_port: ports.0,
                end_port: ports.1,
                start,
                end,
            }
        };
        local.push(range(src, sp));
        remote.push(range(dst, dp));
    }
    (local, remote)
}

/// The first and last address of a prefix.
pub fn prefix_range(addr: Ipv4Addr, len: u8) -> (Ipv4Addr, Ipv4Addr) {
    let mask = rib::mask(len);
    let start = u32::from(addr) & mask;
    (Ipv4Addr::from(start), Ipv4Addr::from(start | !mask))
}

/// The fewest prefixes that cover `[start, end]` exactly, in address order.
pub fn range_prefixes(start: Ipv4Addr, end: Ipv4Addr) -> Vec<(Ipv4Addr, u8)> {
    let (mut at, end) = (u64::from(u32::from(start)), u64::from(u32::from(end)));
    let mut out = Vec::new();
    while at <= end {
        // The largest aligned block starting at `at` that does not pass `end`.
        let mut size: u64 = if at == 0 {
            1 << 32
        } else {
            1 << at.trailing_zeros().min(32)
        };
        while at + size - 1 > end {
            size >>= 1;
        }
        out.push((
            Ipv4Addr::from(at as u32),
            (32 - size.trailing_zeros()) as u8,
        ));
        at += size;
    }
    out
}

/// A selector taken apart: protocol, port range, covering prefixes.
type Parts = (u8, (u16, u16), Vec<(Ipv4Addr, u8)>);

fn parts(ts: &TrafficSelector) -> Option<Parts> {
    match ts {
        TrafficSelector::Ipv4 {
            protocol,
            start_port,
            end_port,
            start,
            end,
        } if start <= end && start_port <= end_port => Some((
            *protocol,
            (*start_port, *end_port),
            range_prefixes(*start, *end),
        )),
        _ => None,
    }
}

/// The remote networks of negotiated selectors, as prefixes (what RRI routes to).
pub fn prefixes(selectors: &[TrafficSelector]) -> Vec<(Ipv4Addr, u8)> {
    let mut out: Vec<(Ipv4Addr, u8)> = selectors
        .iter()
        .filter_map(parts)
        .flat_map(|(_, _, p)| p)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Classifier rules for traffic between negotiated selectors: from `from` to `to` (ours to
/// the peer's for outbound, the peer's to ours for the inbound policy check), every rule a
/// permit with `tag`.
pub fn rules(from: &[TrafficSelector], to: &[TrafficSelector], tag: u32) -> Vec<Rule> {
    let mut out = Vec::new();
    for (fp, fports, fprefixes) in from.iter().filter_map(parts) {
        for (tp, tports, tprefixes) in to.iter().filter_map(parts) {
            if fp != 0 && tp != 0 && fp != tp {
                continue;
            }
            let protocol = if fp != 0 { fp } else { tp };
            let needs_l4 = fports != ALL_PORTS || tports != ALL_PORTS;
            if needs_l4 && !matches!(protocol, 6 | 17) {
                // Ports on something without ports (or any protocol): only opaque-free
                // TCP and UDP can be matched on them.
                continue;
            }
            for &(fa, fl) in &fprefixes {
                for &(ta, tl) in &tprefixes {
                    out.push(Rule {
                        src_value: u32::from(fa),
                        src_care: rib::mask(fl),
                        dst_value: u32::from(ta),
                        dst_care: rib::mask(tl),
                        protocol: (protocol != 0).then_some(protocol),
                        src_ports: fports,
                        dst_ports: tports,
                        needs_l4,
                        permit: true,
                        tag,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_become_exact_prefixes() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            range_prefixes(a("10.2.0.0"), a("10.2.255.255")),
            vec![(a("10.2.0.0"), 16)]
        );
        assert_eq!(
            range_prefixes(a("0.0.0.0"), a("255.255.255.255")),
            vec![(a("0.0.0.0"), 0)]
        );
        assert_eq!(
            range_prefixes(a("10.0.0.1"), a("10.0.0.6")),
            vec![
                (a("10.0.0.1"), 32),
                (a("10.0.0.2"), 31),
                (a("10.0.0.4"), 31),
                (a("10.0.0.6"), 32)
            ]
        );
    }

    proptest! {
        /// The prefixes cover the range exactly: every address inside is in one prefix,
        /// the addresses just outside are in none.
        #[test]
        fn prefixes_cover_the_range_exactly(a: u32, b: u32, probe: u32) {
            let (start, end) = (a.min(b), a.max(b));
            let p = range_prefixes(Ipv4Addr::from(start), Ipv4Addr::from(end));
            let hits = |x: u32| p.iter().filter(|(n, l)| x & rib::mask(*l) == u32::from(*n)).count();
            prop_assert_eq!(hits(probe), usize::from((start..=end).contains(&probe)));
            prop_assert_eq!(hits(start), 1);
            prop_assert_eq!(hits(end), 1);
            if start > 0 { prop_assert_eq!(hits(start - 1), 0); }
            if end < u32::MAX { prop_assert_eq!(hits(end + 1), 0); }
            prop_assert!(p.len() <= 62);
        }
    }
}
