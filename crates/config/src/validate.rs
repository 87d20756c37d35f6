//! Semantic checks of a parsed configuration: the rules of the VPN availability guide, the
//! references between items, what rri's data plane can do, and access-list hygiene.
//!
//! Errors mean the configuration cannot be applied as written; warnings mean it can, but
//! probably not as meant (or as IOS would, in the case of a map idle time equal to the global
//! one, which IOS silently ignores and rri reports).

use std::collections::{BTreeMap, HashMap};

use crate::diag::{Code, Diagnostic};
use crate::model::*;
use crate::render::acl_entry_text;
use crate::span::{Span, Spanned};

/// Checks `config` and returns what is wrong with it, in line order.
pub fn validate(config: &Config) -> Vec<Diagnostic> {
    let mut v = Validator {
        config,
        out: Vec::new(),
    };
    v.transform_sets();
    for map in config.crypto_maps.values() {
        for entry in map.entries.values() {
            v.crypto_map_entry(&map.name.value, entry);
        }
    }
    for map in config.dynamic_maps.values() {
        for entry in map.entries.values() {
            let what = format!("crypto dynamic-map {} {}", map.name.value, entry.seq.value);
            v.body(&entry.body, &what, Place::DynamicMap);
        }
    }
    for profile in config.ipsec_profiles.values() {
        let what = format!("crypto ipsec profile {}", profile.name.value);
        v.body(&profile.body, &what, Place::IpsecProfile);
    }
    v.interfaces();
    v.static_routes();
    v.ike();
    v.routing();
    v.access_lists();
    v.dpdk();
    v.out.sort_by_key(|d| (d.span.line, d.span.col));
    v.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    StaticMap { manual: bool },
    DynamicMap,
    IpsecProfile,
}

struct Validator<'c> {
    config: &'c Config,
    out: Vec<Diagnostic>,
}

const SUPPORTED: &str = "supported transforms: esp-gcm 128, esp-gcm 256, esp-chacha20-poly1305";

impl Validator<'_> {
    fn error(&mut self, code: Code, span: Span, message: String) {
        self.out.push(Diagnostic::error(code, span, message));
    }

    fn warning(&mut self, code: Code, span: Span, message: String) {
        self.out.push(Diagnostic::warning(code, span, message));
    }

    fn undefined(&mut self, span: Span, kind: &str, name: &str) {
        self.error(
            Code::Undefined,
            span,
            format!("{kind} '{name}' is not defined"),
        );
    }

    fn transform_sets(&mut self) {
        for ts in self.config.transform_sets.values() {
            for t in &ts.transforms {
                if !t.is_supported() {
                    let d = Diagnostic::error(
                        Code::UnsupportedTransform,
                        t.span,
                        format!(
                            "transform '{}' in transform set '{}' is not supported by rri's data plane",
                            t.value, ts.name.value
                        ),
                    )
                    .with_note(SUPPORTED);
                    self.out.push(d);
                }
            }
            let aeads = ts.transforms.iter().filter(|t| t.is_supported()).count();
            if aeads > 1 {
                self.error(
                    Code::Inconsistent,
                    ts.name.span,
                    format!(
                        "transform set '{}' names more than one cipher",
                        ts.name.value
                    ),
                );
            }
            if let Some(m) = &ts.mode {
                if m.value == IpsecMode::Transport {
                    self.out.push(
                        Diagnostic::error(
                            Code::NotImplemented,
                            m.span,
                            format!(
                                "transform set '{}': transport mode is not implemented",
                                ts.name.value
                            ),
                        )
                        .with_note("rri's data plane implements tunnel mode"),
                    );
                }
            }
        }
    }

    fn crypto_map_entry(&mut self, map: &str, entry: &CryptoMapEntry) {
        let what = format!("crypto map {map} {}", entry.seq.value);
        match &entry.kind {
            CryptoMapKind::Dynamic(d) => {
                if !self.config.dynamic_maps.contains_key(&d.value) {
                    self.undefined(d.span, "dynamic crypto map", &d.value);
                }
            }
            CryptoMapKind::Manual => {
                self.body(&entry.body, &what, Place::StaticMap { manual: true });
                if !entry.body.session_keys.is_empty() {
                    self.out.push(
                        Diagnostic::warning(
                            Code::ManualKeyAead,
                            entry.seq.span,
                            format!(
                                "{what}: manual keys with an AEAD cipher; RFC 8221 advises \
                                 against manual keying with counter-mode ciphers (AES-GCM, \
                                 ChaCha20-Poly1305): a repeated sequence number repeats the nonce"
                            ),
                        )
                        .with_note(
                            "rrid persists each manual SA's sequence numbers in its --state-dir so \
                             that restarts and reloads never repeat one; prefer IKEv2 \
                             (ipsec-isakmp), which makes fresh keys for every SA",
                        ),
                    );
                }
            }
            CryptoMapKind::Isakmp => {
                self.body(&entry.body, &what, Place::StaticMap { manual: false });
                if entry.body.peers.is_empty() {
                    self.warning(
                        Code::Inconsistent,
                        entry.seq.span,
                        format!("{what} is incomplete: no peer is set"),
                    );
                }
                if entry.body.match_address.is_none() {
                    self.warning(
                        Code::Inconsistent,
                        entry.seq.span,
                        format!("{what} is incomplete: no access list is matched"),
                    );
                }
            }
        }
    }

    fn body(&mut self, b: &MapEntryBody, what: &str, place: Place) {
        let config = self.config;
        // Peers: one default at most, on the first peer only.
        for (i, p) in b.peers.iter().enumerate() {
            if p.default && i > 0 {
                self.out.push(
                    Diagnostic::error(
                        Code::DefaultPeer,
                        p.span,
                        format!("{what}: only the first peer can be the default peer"),
                    )
                    .with_note("IOS accepts 'default' on the first 'set peer' of an entry only"),
                );
            }
            if matches!(p.target, PeerTarget::Host { .. }) && config.name_servers.is_empty() {
                self.warning(
                    Code::Inconsistent,
                    p.span,
                    format!("{what}: peer host names need 'ip name-server' to be resolved"),
                );
            }
        }
        if let Some(acl) = &b.match_address {
            match config.access_lists.get(&acl.value) {
                None => self.undefined(acl.span, "access list", &acl.value.to_string()),
                Some(list) if list.kind == AclKind::Standard => self.error(
                    Code::Inconsistent,
                    acl.span,
                    format!(
                        "access list {} is a standard list: crypto access lists must be extended",
                        acl.value
                    ),
                ),
                Some(_) => {}
            }
        }
        for ts in &b.transform_sets {
            if !config.transform_sets.contains_key(&ts.value) {
                let mut d = Diagnostic::error(
                    Code::Undefined,
                    ts.span,
                    format!("transform set '{}' is not defined", ts.value),
                );
                let lower = ts.value.to_ascii_lowercase();
                if ["3des", "des", "md5", "sha"]
                    .iter()
                    .any(|l| lower.contains(l))
                {
                    d.note = Some(format!(
                        "its name suggests a legacy transform (3DES, DES, MD5 or SHA-1 HMAC), which \
                         rri's data plane does not support; {SUPPORTED}"
                    ));
                }
                self.out.push(d);
            }
        }
        if let Some(p) = &b.isakmp_profile {
            if !config.isakmp.profiles.contains_key(&p.value) {
                self.undefined(p.span, "isakmp profile", &p.value);
            }
        }
        if let Some(p) = &b.ikev2_profile {
            if !config.ikev2.profiles.contains_key(&p.value) {
                self.undefined(p.span, "ikev2 profile", &p.value);
            }
        }
        if let Some(idle) = &b.idle_time {
            if config.ipsec_global.idle_time.as_ref().map(|g| g.value) == Some(idle.seconds) {
                self.out.push(
                    Diagnostic::warning(
                        Code::IdleTimeNotApplied,
                        idle.span,
                        format!(
                            "{what}: idle time {} equals the global idle time and is not applied",
                            idle.seconds
                        ),
                    )
                    .with_note(
                        "as in IOS, a crypto map idle timer must differ from the global one",
                    ),
                );
            }
            if idle.default_peer && !b.peers.iter().any(|p| p.default) {
                self.warning(
                    Code::DefaultPeer,
                    idle.span,
                    format!("{what}: 'idletime ... default' but no peer is marked default"),
                );
            }
        }
        if let Some(rr) = &b.reverse_route {
            match place {
                Place::IpsecProfile
                    if rr.remote_peer.is_some() || rr.static_routes || rr.tag.is_some() =>
                {
                    self.out.push(
                        Diagnostic::error(
                            Code::CryptoMapOnly,
                            rr.span,
                            format!(
                                "{what}: 'reverse-route' options (remote-peer, gateway, static, tag) \
                                 apply to crypto maps only"
                            ),
                        )
                        .with_note(
                            "IPsec profiles take 'set reverse-route distance N' and 'set reverse-route tag N'",
                        ),
                    );
                }
                Place::DynamicMap if rr.static_routes => self.warning(
                    Code::Inconsistent,
                    rr.span,
                    format!("{what}: 'static' has no effect on a dynamic map (it has no peer to route by ACL)"),
                ),
                Place::StaticMap { .. }
                    if rr.static_routes && (b.peers.is_empty() || b.match_address.is_none()) =>
                {
                    self.warning(
                        Code::Inconsistent,
                        rr.span,
                        format!(
                            "{what}: 'reverse-route static' makes routes only with both a peer and an access list"
                        ),
                    );
                }
                _ => {}
            }
            if rr.tag.is_some() && place != Place::IpsecProfile {
                self.warning(
                    Code::Legacy,
                    rr.span,
                    format!("{what}: 'reverse-route tag N' is the legacy form; write 'set reverse-route tag N'"),
                );
            }
            if rr.remote_peer == Some(RemotePeer::Interface) && place != Place::IpsecProfile {
                self.warning(
                    Code::Legacy,
                    rr.span,
                    format!(
                        "{what}: 'reverse-route remote-peer' without an address is legacy \
                         (routes via the interface); 12.4(15)T and later use 'remote-peer ADDR gateway'"
                    ),
                );
            }
        } else if place != Place::IpsecProfile {
            for span in [
                b.rri_distance.as_ref().map(|d| d.span),
                b.rri_tag.as_ref().map(|t| t.span),
            ]
            .into_iter()
            .flatten()
            {
                self.warning(
                    Code::Inconsistent,
                    span,
                    format!("{what}: 'set reverse-route' has no effect without 'reverse-route'"),
                );
            }
        }
        if let Place::StaticMap { manual: true } = place {
            self.manual_keys(b, what);
        }
    }

    fn manual_keys(&mut self, b: &MapEntryBody, what: &str) {
        let anchor = b
            .peers
            .first()
            .map(|p| p.span)
            .or(b.match_address.as_ref().map(|m| m.span))
            .unwrap_or_default();
        if b.peers.len() != 1 {
            self.error(
                Code::Inconsistent,
                b.peers.get(1).map_or(anchor, |p| p.span),
                format!(
                    "{what}: a manual map needs exactly one peer, given {}",
                    b.peers.len()
                ),
            );
        }
        if b.peers
            .iter()
            .any(|p| matches!(p.target, PeerTarget::Host { .. }))
        {
            self.error(
                Code::Inconsistent,
                anchor,
                format!("{what}: a manual map's peer must be an address"),
            );
        }
        let transform = match b.transform_sets.as_slice() {
            [one] => self
                .config
                .transform_sets
                .get(&one.value)
                .and_then(TransformSet::aead),
            _ => {
                self.error(
                    Code::Inconsistent,
                    b.transform_sets.get(1).map_or(anchor, |t| t.span),
                    format!("{what}: a manual map needs exactly one transform set"),
                );
                None
            }
        };
        for direction in [Direction::Inbound, Direction::Outbound] {
            let Some(key) = b.session_keys.iter().find(|k| k.direction == direction) else {
                self.error(
                    Code::Inconsistent,
                    anchor,
                    format!(
                        "{what}: no {} session key ('set session-key {} esp SPI cipher HEX')",
                        if direction == Direction::Inbound {
                            "inbound"
                        } else {
                            "outbound"
                        },
                        if direction == Direction::Inbound {
                            "inbound"
                        } else {
                            "outbound"
                        },
                    ),
                );
                continue;
            };
            if let Some(t) = transform {
                let want = t
                    .key_material_len()
                    .expect("supported transforms have a key length");
                if key.cipher.len() != want {
                    self.error(
                        Code::InvalidValue,
                        key.span,
                        format!(
                            "{what}: {t} needs {want} bytes of key material ({} hexadecimal digits: key \
                             then 4-byte salt), given {}",
                            want * 2,
                            key.cipher.len()
                        ),
                    );
                }
                if key.authenticator.is_some() {
                    self.error(
                        Code::Inconsistent,
                        key.span,
                        format!(
                            "{what}: {t} authenticates by itself; remove the authenticator key"
                        ),
                    );
                }
            }
        }
        let mut spis: HashMap<u32, Span> = HashMap::new();
        for k in &b.session_keys {
            if let Some(prev) = spis.insert(k.spi, k.span) {
                let _ = prev;
                self.error(
                    Code::Inconsistent,
                    k.span,
                    format!(
                        "{what}: inbound and outbound keys use the same SPI {}",
                        k.spi
                    ),
                );
            }
        }
    }

    fn interfaces(&mut self) {
        let config = self.config;
        let names: BTreeMap<&str, &Interface> = config
            .interfaces
            .iter()
            .map(|i| (i.name.value.as_str(), i))
            .collect();
        let mut devices: HashMap<String, Span> = HashMap::new();
        for i in &config.interfaces {
            if let Some(m) = &i.crypto_map {
                if !config.crypto_maps.contains_key(&m.name) {
                    self.undefined(m.span, "crypto map", &m.name);
                }
                if let Some(group) = &m.redundancy {
                    let named = i.standby.iter().any(|s| {
                        s.value
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .windows(2)
                            .any(|w| w[0] == "name" && w[1] == group)
                    });
                    if !named {
                        self.warning(
                            Code::Inconsistent,
                            m.span,
                            format!("interface {}: no 'standby name {group}' for the crypto map's redundancy group", i.name.value),
                        );
                    }
                }
            }
            if let Some(v) = &i.vrf {
                if !config.vrfs.contains_key(&v.name) {
                    self.undefined(v.span, "VRF", &v.name);
                }
            }
            if let Some(p) = &i.tunnel_protection {
                if !config.ipsec_profiles.contains_key(&p.value) {
                    self.undefined(p.span, "IPsec profile", &p.value);
                }
            }
            if let Some(source) = &i.tunnel_source {
                let is_address = source.value.parse::<std::net::Ipv4Addr>().is_ok();
                if !is_address && !names.contains_key(source.value.as_str()) {
                    self.undefined(source.span, "interface", &source.value);
                }
            }
            if let Some(Spanned {
                value: Some(target),
                span,
            }) = &i.unnumbered
            {
                if !names.contains_key(target.as_str()) {
                    self.undefined(*span, "interface", target);
                }
            }
            if let Some(d) = &i.dpdk_device {
                let key = match &d.value {
                    DpdkDevice::Vdev(s) => s.split(',').next().unwrap_or_default().to_string(),
                    DpdkDevice::Pci(s) => s.clone(),
                };
                if let Some(first) = devices.insert(key.clone(), d.span) {
                    let _ = first;
                    self.error(
                        Code::Inconsistent,
                        d.span,
                        format!(
                            "interface {}: DPDK device {key} is already bound to another interface",
                            i.name.value
                        ),
                    );
                }
            }
        }
    }

    fn static_routes(&mut self) {
        let config = self.config;
        for r in &config.static_routes {
            if let Some(v) = &r.vrf {
                if !config.vrfs.contains_key(v) {
                    self.undefined(r.span, "VRF", v);
                }
            }
            if let Some(i) = &r.interface {
                let builtin = i.eq_ignore_ascii_case("Null0");
                if !builtin && !config.interfaces.iter().any(|x| &x.name.value == i) {
                    self.undefined(r.span, "interface", i);
                }
            }
        }
    }

    fn ike(&mut self) {
        let config = self.config;
        for p in config.isakmp.profiles.values() {
            if let Some(k) = &p.keyring {
                if !config.isakmp.keyrings.contains_key(&k.value) {
                    self.undefined(k.span, "keyring", &k.value);
                }
            }
            if let Some(vt) = &p.virtual_template {
                self.virtual_template(vt);
            }
        }
        for p in config.ikev2.profiles.values() {
            if let Some(k) = &p.keyring {
                if !config.ikev2.keyrings.contains_key(&k.value) {
                    self.undefined(k.span, "ikev2 keyring", &k.value);
                }
            }
            if let Some(vt) = &p.virtual_template {
                self.virtual_template(vt);
            }
        }
        for p in config.ikev2.policies.values() {
            for prop in &p.proposals {
                if !config.ikev2.proposals.contains_key(&prop.value) {
                    self.undefined(prop.span, "ikev2 proposal", &prop.value);
                }
            }
        }
        for p in config.ikev2.proposals.values() {
            for e in &p.encryption {
                if !matches!(
                    e.value,
                    Ikev2Cipher::AesGcm128 | Ikev2Cipher::AesGcm256 | Ikev2Cipher::Chacha20Poly1305
                ) {
                    self.out.push(
                        Diagnostic::error(
                            Code::UnsupportedTransform,
                            e.span,
                            format!(
                                "ikev2 proposal '{}': this cipher is not supported",
                                p.name.value
                            ),
                        )
                        .with_note("supported: aes-gcm-128, aes-gcm-256, chacha20-poly1305"),
                    );
                }
            }
            for f in &p.prf {
                if f.value == Ikev2Prf::Sha1 {
                    self.out.push(
                        Diagnostic::error(
                            Code::UnsupportedTransform,
                            f.span,
                            format!(
                                "ikev2 proposal '{}': prf sha1 is not supported",
                                p.name.value
                            ),
                        )
                        .with_note("supported: sha256, sha384, sha512"),
                    );
                }
            }
            for g in &p.groups {
                if ![19, 31].contains(&g.value) {
                    self.out.push(
                        Diagnostic::error(
                            Code::UnsupportedTransform,
                            g.span,
                            format!(
                                "ikev2 proposal '{}': group {} is not supported",
                                p.name.value, g.value
                            ),
                        )
                        .with_note("supported: 19 (ECP-256) and 31 (Curve25519)"),
                    );
                }
            }
        }
    }

    fn virtual_template(&mut self, vt: &Spanned<u32>) {
        let name = format!("Virtual-Template{}", vt.value);
        if !self.config.interfaces.iter().any(|i| i.name.value == name) {
            self.undefined(vt.span, "interface", &name);
        }
    }

    fn routing(&mut self) {
        let config = self.config;
        for r in &config.routers {
            for red in &r.redistribute {
                if let Some(rm) = &red.route_map {
                    if !config.route_maps.contains_key(&rm.value) {
                        self.undefined(rm.span, "route-map", &rm.value);
                    }
                }
            }
        }
        for entries in config.route_maps.values() {
            for e in entries.values() {
                for acl in &e.match_ip_address {
                    if !config.access_lists.contains_key(&acl.value) {
                        self.undefined(acl.span, "access list", &acl.value.to_string());
                    }
                }
            }
        }
    }

    fn access_lists(&mut self) {
        for acl in self.config.access_lists.values() {
            for (j, later) in acl.entries.iter().enumerate() {
                let earlier_entries = &acl.entries[..j];
                // Shadowing matters more than an overlap: look for it first.
                let shadow = earlier_entries.iter().find(|e| entry_covers(e, later));
                // A later entry that contains an earlier one of the opposite action is the
                // usual "exception, then the rule" pattern; only a partial overlap (neither
                // contains the other) is suspicious.
                let overlap = earlier_entries.iter().find(|e| {
                    e.action != later.action
                        && entries_intersect(e, later)
                        && !entry_covers(later, e)
                });
                let found = match (shadow, overlap) {
                    (Some(earlier), _) => Some((
                        Code::AclShadowed,
                        earlier,
                        "never matches; line {line} ('{earlier}') matches all it would",
                    )),
                    (None, Some(earlier)) => Some((
                        Code::AclOverlap,
                        earlier,
                        "overlaps line {line} ('{earlier}') with the opposite action; the earlier \
                         entry wins where they overlap",
                    )),
                    (None, None) => None,
                };
                if let Some((code, earlier, how)) = found {
                    let how = how
                        .replace("{line}", &earlier.span.line.to_string())
                        .replace("{earlier}", &acl_entry_text(acl.kind, earlier));
                    self.warning(
                        code,
                        later.span,
                        format!(
                            "access list {}: '{}' {how}",
                            acl.name,
                            acl_entry_text(acl.kind, later)
                        ),
                    );
                }
            }
        }
    }

    fn dpdk(&mut self) {
        let d = &self.config.dpdk;
        if let (Some(main), Some(workers)) = (&d.main_lcore, &d.worker_lcores) {
            if workers.contains(&main.value) {
                self.error(
                    Code::Inconsistent,
                    workers.span,
                    format!(
                        "dpdk: lcore {} is both the main lcore and a worker",
                        main.value
                    ),
                );
            }
        }
    }
}

fn addr_covers(a: AddrMatch, b: AddrMatch) -> bool {
    let (av, ac) = a.value_and_care();
    let (bv, bc) = b.value_and_care();
    ac & !bc == 0 && bv & ac == av
}

fn addr_intersect(a: AddrMatch, b: AddrMatch) -> bool {
    let (av, ac) = a.value_and_care();
    let (bv, bc) = b.value_and_care();
    (av ^ bv) & ac & bc == 0
}

const ALL_PORTS: [(u16, u16); 1] = [(0, u16::MAX)];

fn ports(p: &Option<PortMatch>) -> Vec<(u16, u16)> {
    p.as_ref()
        .map_or_else(|| ALL_PORTS.to_vec(), PortMatch::ranges)
}

fn ranges_cover(a: &[(u16, u16)], b: &[(u16, u16)]) -> bool {
    // Both are sorted and disjoint; every range of b must lie in one range of a (a's ranges
    // from PortMatch are separated by gaps, so a range of b cannot span two of them).
    b.iter()
        .all(|&(lo, hi)| a.iter().any(|&(alo, ahi)| alo <= lo && hi <= ahi))
}

fn ranges_intersect(a: &[(u16, u16)], b: &[(u16, u16)]) -> bool {
    a.iter()
        .any(|&(alo, ahi)| b.iter().any(|&(lo, hi)| alo <= hi && lo <= ahi))
}

/// Whether every packet `b` matches is matched by `a`.
pub(crate) fn entry_covers(a: &AclEntry, b: &AclEntry) -> bool {
    let proto = match (a.protocol.number(), b.protocol.number()) {
        (None, _) => true,
        (Some(x), Some(y)) => x == y,
        (Some(_), None) => false,
    };
    let port_ok = |pa: &Option<PortMatch>, pb: &Option<PortMatch>| {
        // Ports only restrict TCP and UDP; `b` of another protocol is unaffected.
        if !a.protocol.has_ports() {
            return true;
        }
        ranges_cover(&ports(pa), &ports(pb))
    };
    let icmp_ok = match (a.icmp, b.icmp) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((ta, ca)), Some((tb, cb))) => ta == tb && (ca.is_none() || ca == cb),
    };
    proto
        && addr_covers(a.src, b.src)
        && addr_covers(a.dst, b.dst)
        && port_ok(&a.src_port, &b.src_port)
        && port_ok(&a.dst_port, &b.dst_port)
        && icmp_ok
}

/// Whether some packet matches both.
pub(crate) fn entries_intersect(a: &AclEntry, b: &AclEntry) -> bool {
    let proto = match (a.protocol.number(), b.protocol.number()) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    let both_ports = a.protocol.has_ports() && b.protocol.has_ports();
    let port_ok = |pa: &Option<PortMatch>, pb: &Option<PortMatch>| {
        !both_ports || ranges_intersect(&ports(pa), &ports(pb))
    };
    let icmp_ok = match (a.icmp, b.icmp) {
        (Some((ta, ca)), Some((tb, cb))) => ta == tb && (ca.is_none() || cb.is_none() || ca == cb),
        _ => true,
    };
    proto
        && addr_intersect(a.src, b.src)
        && addr_intersect(a.dst, b.dst)
        && port_ok(&a.src_port, &b.src_port)
        && port_ok(&a.dst_port, &b.dst_port)
        && icmp_ok
}
