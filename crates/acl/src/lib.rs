//! Access lists compiled into first-match classifiers for the data plane.
//!
//! A [`Classifier`] is a flat array of [`Rule`]s, each a masked match on source and
//! destination address, an optional protocol, port ranges and an ICMP type and code, with
//! the action and a caller's tag (a crypto map compiles all its entries' lists, in sequence
//! order, into one classifier tagged with the entry index). The first matching rule decides;
//! no match means the packet is not covered.
//!
//! Semantics follow IOS for crypto ACLs:
//! * `eq P1 P2 ...` matches any of the ports; `neq`, `lt`, `gt`, `range` as written;
//! * an entry with port or ICMP conditions never matches a non-initial fragment (its ports are
//!   unknown), while an entry without them matches every fragment;
//! * [`Classifier::compile_mirrored`] swaps source and destination (and ports), giving the
//!   selectors that traffic arriving *from* the peer must satisfy.
//!
//! Classification takes a [`FlowKey`] extracted once per packet by [`FlowKey::from_ipv4`].

#![forbid(unsafe_code)]

use config::model::{AccessList, AclEntry, Action};
use std::net::Ipv4Addr;
use wire::ipv4::{proto, Ipv4Packet};

/// What a packet looks like to an access list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowKey {
    pub src: u32,
    pub dst: u32,
    pub protocol: u8,
    /// TCP/UDP source port, or ICMP type (0 when unknown).
    pub src_port: u16,
    /// TCP/UDP destination port, or ICMP code (0 when unknown).
    pub dst_port: u16,
    /// Whether the ports (or ICMP type and code) are known: false for non-initial fragments
    /// and for truncated transport headers.
    pub has_l4: bool,
}

impl FlowKey {
    /// The key of a checked IPv4 packet.
    #[inline]
    pub fn from_ipv4<T: AsRef<[u8]>>(ip: &Ipv4Packet<T>) -> FlowKey {
        let protocol = ip.protocol();
        let mut key = FlowKey {
            src: u32::from(ip.src()),
            dst: u32::from(ip.dst()),
            protocol,
            ..FlowKey::default()
        };
        let non_initial = ip.flags_frag() & 0x1fff != 0;
        if non_initial {
            return key;
        }
        let l4 = ip.payload();
        match protocol {
            proto::TCP | proto::UDP if l4.len() >= 4 => {
                key.src_port = u16::from_be_bytes([l4[0], l4[1]]);
                key.dst_port = u16::from_be_bytes([l4[2], l4[3]]);
                key.has_l4 = true;
            }
            proto::ICMP if l4.len() >= 2 => {
                key.src_port = u16::from(l4[0]);
                key.dst_port = u16::from(l4[1]);
                key.has_l4 = true;
            }
            _ => {}
        }
        key
    }

    /// A key from addresses only (no transport information).
    pub fn addresses(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> FlowKey {
        FlowKey {
            src: u32::from(src),
            dst: u32::from(dst),
            protocol,
            ..FlowKey::default()
        }
    }
}

/// One compiled condition list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub src_value: u32,
    pub src_care: u32,
    pub dst_value: u32,
    pub dst_care: u32,
    /// `None` matches every protocol.
    pub protocol: Option<u8>,
    /// Inclusive source port range (or ICMP type range).
    pub src_ports: (u16, u16),
    /// Inclusive destination port range (or ICMP code range).
    pub dst_ports: (u16, u16),
    /// Whether the rule looks at ports or ICMP type/code (and so needs them known).
    pub needs_l4: bool,
    pub permit: bool,
    pub tag: u32,
}

impl Rule {
    #[inline]
    pub fn matches(&self, k: &FlowKey) -> bool {
        k.src & self.src_care == self.src_value
            && k.dst & self.dst_care == self.dst_value
            && self.protocol.is_none_or(|p| p == k.protocol)
            && (!self.needs_l4
                || (k.has_l4
                    && (self.src_ports.0..=self.src_ports.1).contains(&k.src_port)
                    && (self.dst_ports.0..=self.dst_ports.1).contains(&k.dst_port)))
    }
}

/// The decision for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub permit: bool,
    /// The tag of the list the matching rule came from.
    pub tag: u32,
}

/// A first-match classifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classifier {
    rules: Vec<Rule>,
    /// Whether any rule looks at ports or ICMP type and code (see [`Classifier::key_for`]).
    needs_ports: bool,
}

const ALL_PORTS: (u16, u16) = (0, u16::MAX);

fn compile_entry(e: &AclEntry, tag: u32, mirrored: bool, out: &mut Vec<Rule>) {
    let (src, dst) = if mirrored {
        (e.dst, e.src)
    } else {
        (e.src, e.dst)
    };
    let (src_port, dst_port) = if mirrored {
        (&e.dst_port, &e.src_port)
    } else {
        (&e.src_port, &e.dst_port)
    };
    let (src_value, src_care) = src.value_and_care();
    let (dst_value, dst_care) = dst.value_and_care();
    let protocol = e.protocol.number();
    let base = Rule {
        src_value,
        src_care,
        dst_value,
        dst_care,
        protocol,
        src_ports: ALL_PORTS,
        dst_ports: ALL_PORTS,
        needs_l4: false,
        permit: e.action == Action::Permit,
        tag,
    };
    if let Some((icmp_type, code)) = e.icmp {
        // ICMP has no direction to mirror: type and code stay where they are.
        let codes = code.map_or((0, 255), |c| (u16::from(c), u16::from(c)));
        out.push(Rule {
            src_ports: (u16::from(icmp_type), u16::from(icmp_type)),
            dst_ports: codes,
            needs_l4: true,
            ..base
        });
        return;
    }
    let ranges = |m: &Option<config::model::PortMatch>| match m {
        Some(m) if e.protocol.has_ports() => Some(m.ranges()),
        _ => None,
    };
    match (ranges(src_port), ranges(dst_port)) {
        (None, None) => out.push(base),
        (s, d) => {
            let s = s.unwrap_or_else(|| vec![ALL_PORTS]);
            let d = d.unwrap_or_else(|| vec![ALL_PORTS]);
            // An empty range list (`lt 0`) matches nothing: no rule.
            for &sp in &s {
                for &dp in &d {
                    out.push(Rule {
                        src_ports: sp,
                        dst_ports: dp,
                        needs_l4: true,
                        ..base
                    });
                }
            }
        }
    }
}

impl Classifier {
    /// An empty classifier: matches nothing.
    pub fn new() -> Self {
        Classifier::default()
    }

    /// Appends the entries of `acl`, tagged `tag`, behind what is there.
    pub fn push_acl(&mut self, acl: &AccessList, tag: u32) {
        for e in &acl.entries {
            compile_entry(&e.value, tag, false, &mut self.rules);
        }
        self.update_needs_ports();
    }

    /// Appends `acl` with source and destination swapped: the selectors for traffic that
    /// arrives from the peer.
    pub fn push_acl_mirrored(&mut self, acl: &AccessList, tag: u32) {
        for e in &acl.entries {
            compile_entry(&e.value, tag, true, &mut self.rules);
        }
        self.update_needs_ports();
    }

    fn update_needs_ports(&mut self) {
        self.needs_ports = self.rules.iter().any(|r| r.needs_l4);
    }

    /// One access list on its own.
    pub fn compile(acl: &AccessList) -> Self {
        let mut c = Classifier::new();
        c.push_acl(acl, 0);
        c
    }

    /// One access list, mirrored.
    pub fn compile_mirrored(acl: &AccessList) -> Self {
        let mut c = Classifier::new();
        c.push_acl_mirrored(acl, 0);
        c
    }

    /// Appends one rule.
    pub fn push_rule(&mut self, rule: Rule) {
        self.rules.push(rule);
        self.update_needs_ports();
    }

    /// Whether any rule looks at ports or ICMP type and code.
    pub fn needs_ports(&self) -> bool {
        self.needs_ports
    }

    /// The key [`Classifier::classify`] needs for `ip`: addresses and protocol only when no
    /// rule looks at ports (finding the transport header is most of building a full key, and
    /// crypto ACLs are mostly `permit ip` lines), the full [`FlowKey::from_ipv4`] otherwise.
    /// Either way the verdict is the one the full key gets.
    #[inline]
    pub fn key_for<T: AsRef<[u8]>>(&self, ip: &Ipv4Packet<T>) -> FlowKey {
        if self.needs_ports {
            FlowKey::from_ipv4(ip)
        } else {
            FlowKey::addresses(ip.src(), ip.dst(), ip.protocol())
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first matching rule's decision, or `None`.
    #[inline]
    pub fn classify(&self, key: &FlowKey) -> Option<Verdict> {
        self.rules.iter().find(|r| r.matches(key)).map(|r| Verdict {
            permit: r.permit,
            tag: r.tag,
        })
    }
}
