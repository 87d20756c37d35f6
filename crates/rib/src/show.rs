//! `show ip route [vrf NAME]` in IOS's format: the codes header, the gateway of last resort,
//! routes grouped under their classful network ("is subnetted" / "is variably subnetted"),
//! `[distance/metric] via NEXTHOP`, and the default route last, marked `*`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::{mask, FibEntry, Names, Prefix, Rib, Source, VrfId};

const CODES: &str = "\
Codes: C - connected, S - static, R - RIP, M - mobile, B - BGP
       D - EIGRP, EX - EIGRP external, O - OSPF, IA - OSPF inter area
       N1 - OSPF NSSA external type 1, N2 - OSPF NSSA external type 2
       E1 - OSPF external type 1, E2 - OSPF external type 2
       i - IS-IS, su - IS-IS summary, L1 - IS-IS level-1, L2 - IS-IS level-2
       ia - IS-IS inter area, * - candidate default, U - per-user static route
       o - ODR, P - periodic downloaded static route
";

/// The classful network of an address and its natural length.
fn classful(addr: Ipv4Addr) -> (Ipv4Addr, u8) {
    let len = match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    };
    (Ipv4Addr::from(u32::from(addr) & mask(len)), len)
}

fn describe(names: &Names, prefix_text: &str, e: &FibEntry) -> String {
    let r = &e.route;
    let mut t = match (r.source, r.next_hop, r.interface) {
        (Source::Connected, _, Some(i)) => {
            format!(
                "{prefix_text} is directly connected, {}",
                names.interface_name(i)
            )
        }
        (Source::Static, None, Some(i)) => {
            format!(
                "{prefix_text} is directly connected, {}",
                names.interface_name(i)
            )
        }
        (_, nh, Some(i)) => format!(
            "{prefix_text} [{}/{}] via {}, {}",
            r.distance,
            r.metric,
            nh.unwrap_or(Ipv4Addr::UNSPECIFIED),
            names.interface_name(i)
        ),
        (_, Some(nh), None) => format!("{prefix_text} [{}/{}] via {nh}", r.distance, r.metric),
        (_, None, None) => format!("{prefix_text} [{}/{}]", r.distance, r.metric),
    };
    if r.tag != 0 {
        let _ = write!(t, ", tag {}", r.tag);
    }
    t
}

/// `show ip route` for one table.
pub fn show_ip_route(rib: &Rib, names: &Names, vrf: VrfId) -> String {
    let mut out = String::new();
    if let Some(name) = names.vrf_name(vrf) {
        let _ = writeln!(out, "Routing Table: {name}");
    }
    out.push_str(CODES);
    let default = Prefix {
        addr: Ipv4Addr::UNSPECIFIED,
        len: 0,
    };
    match rib.best(vrf, default) {
        Some(e) => {
            let gw = e.route.next_hop.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let _ = writeln!(out, "Gateway of last resort is {gw} to network 0.0.0.0");
        }
        None => out.push_str("Gateway of last resort is not set\n"),
    }

    // Routes under their classful network; supernets and the default stand alone.
    let mut majors: BTreeMap<u32, Vec<(Prefix, &FibEntry)>> = BTreeMap::new();
    let mut supernets: Vec<(Prefix, &FibEntry)> = Vec::new();
    for (p, e) in rib.best_routes(vrf) {
        if p.len == 0 {
            continue;
        }
        let (net, natural) = classful(p.addr);
        if p.len < natural {
            supernets.push((p, e));
        } else {
            majors.entry(u32::from(net)).or_default().push((p, e));
        }
    }
    for (p, e) in &supernets {
        majors.entry(u32::from(p.addr)).or_default().push((*p, e));
    }
    for (net, mut routes) in majors {
        routes.sort_by_key(|(p, _)| (u32::from(p.addr), p.len));
        let net = Ipv4Addr::from(net);
        let (_, natural) = classful(net);
        let subnets: Vec<&(Prefix, &FibEntry)> =
            routes.iter().filter(|(p, _)| p.len > natural).collect();
        if subnets.is_empty() {
            for (p, e) in &routes {
                let code = e.route.source.code();
                let _ = writeln!(out, "{code:<5}{}", describe(names, &p.to_string(), e));
            }
            continue;
        }
        let grouped: Vec<&(Prefix, &FibEntry)> =
            routes.iter().filter(|(p, _)| p.len >= natural).collect();
        for (p, e) in routes.iter().filter(|(p, _)| p.len < natural) {
            let code = e.route.source.code();
            let _ = writeln!(out, "{code:<5}{}", describe(names, &p.to_string(), e));
        }
        let mut masks: Vec<u8> = grouped.iter().map(|(p, _)| p.len).collect();
        masks.sort_unstable();
        masks.dedup();
        // IOS says "1 subnets".
        let n = grouped.len();
        if masks.len() == 1 {
            let _ = writeln!(out, "     {net}/{} is subnetted, {n} subnets", masks[0]);
        } else {
            let _ = writeln!(
                out,
                "     {net}/{natural} is variably subnetted, {n} subnets, {} masks",
                masks.len()
            );
        }
        for (p, e) in grouped {
            let text = if masks.len() == 1 {
                p.addr.to_string()
            } else {
                p.to_string()
            };
            let code = e.route.source.code();
            let _ = writeln!(out, "{code:<8}{}", describe(names, &text, e));
        }
    }
    if let Some(e) = rib.best(vrf, default) {
        let code = format!("{}*", e.route.source.code());
        let _ = writeln!(out, "{code:<5}{}", describe(names, "0.0.0.0/0", e));
    }
    out
}
