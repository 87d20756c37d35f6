//! Canonical text of a configuration (`show running-config`).
//!
//! The order is IOS's: host settings, VRFs, crypto, interfaces, routing processes, static
//! routes, access lists, route maps, then `end`. Keywords are written out in full and in
//! IOS's spelling; parsing the output gives back an equal model.

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::model::*;
use crate::parse::{icmp_name, port_name};

/// Whether rendered keys are shown or masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// As configured: for files and round trips.
    Shown,
    /// Each pre-shared key, session key and password as `*****`: for `show
    /// running-config`.
    Masked,
}

/// What a masked key is shown as.
pub const MASK: &str = "*****";

impl Keys {
    fn text(self, key: &str) -> &str {
        match self {
            Keys::Shown => key,
            Keys::Masked => MASK,
        }
    }

    fn hex(self, key: &[u8]) -> String {
        match self {
            Keys::Shown => hex(key),
            Keys::Masked => MASK.to_string(),
        }
    }
}

/// Renders the whole configuration, keys included (what a configuration file holds).
pub fn render(config: &Config) -> String {
    render_keys(config, Keys::Shown)
}

/// Renders the whole configuration with every key masked (what `show running-config` shows
/// unless asked for the keys).
pub fn render_masked(config: &Config) -> String {
    render_keys(config, Keys::Masked)
}

/// Renders the whole configuration, keys shown or masked.
pub fn render_keys(config: &Config, keys: Keys) -> String {
    let mut out = String::new();
    let w = &mut out;
    if let Some(h) = &config.hostname {
        line(w, 0, format!("hostname {h}"));
        bang(w);
    }
    render_dns(w, config);
    for vrf in config.vrfs.values() {
        render_vrf(w, vrf);
    }
    render_dpdk(w, &config.dpdk);
    render_ikev2(w, &config.ikev2, keys);
    render_isakmp(w, &config.isakmp, keys);
    render_ipsec_global(w, &config.ipsec_global);
    render_peer_policy(w, &config.peer_policy);
    for ts in config.transform_sets.values() {
        let transforms: Vec<String> = ts.transforms.iter().map(|t| t.to_string()).collect();
        line(
            w,
            0,
            format!(
                "crypto ipsec transform-set {} {}",
                ts.name,
                transforms.join(" ")
            ),
        );
        if let Some(m) = &ts.mode {
            line(w, 1, format!("mode {}", ipsec_mode(m.value)));
        }
        bang(w);
    }
    for profile in config.ipsec_profiles.values() {
        line(w, 0, format!("crypto ipsec profile {}", profile.name));
        render_body(w, &profile.body, keys);
        bang(w);
    }
    for client in config.ezvpn_clients.values() {
        render_ezvpn(w, client, keys);
    }
    for map in config.dynamic_maps.values() {
        for entry in map.entries.values() {
            line(
                w,
                0,
                format!("crypto dynamic-map {} {}", map.name, entry.seq),
            );
            render_body(w, &entry.body, keys);
            bang(w);
        }
    }
    for map in config.crypto_maps.values() {
        if let Some(ifname) = &map.local_address {
            line(
                w,
                0,
                format!("crypto map {} local-address {ifname}", map.name),
            );
        }
        for entry in map.entries.values() {
            let kind = match &entry.kind {
                CryptoMapKind::Isakmp => "ipsec-isakmp".to_string(),
                CryptoMapKind::Manual => "ipsec-manual".to_string(),
                CryptoMapKind::Dynamic(d) => format!("ipsec-isakmp dynamic {d}"),
            };
            line(
                w,
                0,
                format!("crypto map {} {} {kind}", map.name, entry.seq),
            );
            render_body(w, &entry.body, keys);
        }
        bang(w);
    }
    for iface in &config.interfaces {
        render_interface(w, iface);
    }
    for router in &config.routers {
        render_router(w, router);
    }
    for route in &config.static_routes {
        line(w, 0, static_route(route));
    }
    if !config.static_routes.is_empty() {
        bang(w);
    }
    for acl in config.access_lists.values() {
        render_acl(w, acl);
    }
    for (name, entries) in &config.route_maps {
        for e in entries.values() {
            render_route_map(w, name, e);
        }
    }
    line(w, 0, "end".to_string());
    out
}

fn line(out: &mut String, indent: usize, text: String) {
    for _ in 0..indent {
        out.push(' ');
    }
    out.push_str(&text);
    out.push('\n');
}

fn bang(out: &mut String) {
    out.push_str("!\n");
}

fn render_dns(w: &mut String, config: &Config) {
    let mut any = false;
    if let Some(d) = &config.domain_name {
        line(w, 0, format!("ip domain name {d}"));
        any = true;
    }
    if !config.name_servers.is_empty() {
        let servers: Vec<String> = config
            .name_servers
            .iter()
            .map(|s| {
                if s.port == 53 {
                    s.address.to_string()
                } else {
                    format!("{}:{}", s.address, s.port)
                }
            })
            .collect();
        line(w, 0, format!("ip name-server {}", servers.join(" ")));
        any = true;
    }
    if let Some(req) = &config.dns_resolver.dnssec_required {
        let v = if req.value { "required" } else { "optional" };
        line(w, 0, format!("ip dns-resolver dnssec {v}"));
        any = true;
    }
    for anchor in &config.dns_resolver.trust_anchors {
        line(w, 0, format!("ip dns-resolver trust-anchor {anchor}"));
        any = true;
    }
    if any {
        bang(w);
    }
}

fn render_vrf(w: &mut String, vrf: &Vrf) {
    let rts = |w: &mut String, indent: usize| {
        for rt in &vrf.route_targets {
            let dir = match rt.0 {
                RouteTargetDir::Import => "import",
                RouteTargetDir::Export => "export",
                RouteTargetDir::Both => "both",
            };
            line(w, indent, format!("route-target {dir} {}", rt.1));
        }
    };
    match vrf.style {
        VrfStyle::IpVrf => {
            line(w, 0, format!("ip vrf {}", vrf.name));
            if let Some(rd) = &vrf.rd {
                line(w, 1, format!("rd {rd}"));
            }
            rts(w, 1);
        }
        VrfStyle::Definition => {
            line(w, 0, format!("vrf definition {}", vrf.name));
            if let Some(rd) = &vrf.rd {
                line(w, 1, format!("rd {rd}"));
            }
            line(w, 1, "address-family ipv4".into());
            rts(w, 2);
            line(w, 1, "exit-address-family".into());
        }
    }
    bang(w);
}

fn render_dpdk(w: &mut String, d: &DpdkGlobal) {
    let mut any = false;
    if !d.eal_options.is_empty() {
        let opts: Vec<&str> = d.eal_options.iter().map(|o| o.value.as_str()).collect();
        line(w, 0, format!("dpdk eal-options {}", opts.join(" ")));
        any = true;
    }
    if let Some(m) = &d.main_lcore {
        line(w, 0, format!("dpdk main-lcore {m}"));
        any = true;
    }
    if let Some(list) = &d.worker_lcores {
        let l: Vec<String> = list.iter().map(u32::to_string).collect();
        line(w, 0, format!("dpdk worker-lcores {}", l.join(",")));
        any = true;
    }
    if let Some(n) = &d.mempool_mbufs {
        line(w, 0, format!("dpdk mempool mbufs {n}"));
        any = true;
    }
    if let Some(b) = &d.burst {
        line(w, 0, format!("dpdk burst {b}"));
        any = true;
    }
    if any {
        bang(w);
    }
}

fn keepalive_text(k: &Keepalive, retry_keyword: bool) -> String {
    let mut s = k.interval.to_string();
    if let Some(r) = k.retry {
        if retry_keyword {
            s += " retry";
        }
        let _ = write!(s, " {r}");
    }
    if let Some(m) = k.mode {
        s += match m {
            DpdMode::Periodic => " periodic",
            DpdMode::OnDemand => " on-demand",
        };
    }
    s
}

fn identity_text(i: &Identity) -> String {
    match i {
        Identity::Address(a) => format!("address {a}"),
        Identity::Fqdn(n) => format!("fqdn {n}"),
        Identity::Email(n) => format!("email {n}"),
        Identity::KeyId(n) => format!("key-id {n}"),
    }
}

fn addr_mask(addr: Ipv4Addr, len: u8) -> String {
    if len == 32 {
        addr.to_string()
    } else {
        format!("{addr} {}", Ipv4Addr::from(mask_bits(len)))
    }
}

fn render_ikev2(w: &mut String, ik: &Ikev2, keys: Keys) {
    for p in ik.proposals.values() {
        line(w, 0, format!("crypto ikev2 proposal {}", p.name));
        if !p.encryption.is_empty() {
            let v: Vec<&str> = p
                .encryption
                .iter()
                .map(|e| match e.value {
                    Ikev2Cipher::AesGcm128 => "aes-gcm-128",
                    Ikev2Cipher::AesGcm256 => "aes-gcm-256",
                    Ikev2Cipher::Chacha20Poly1305 => "chacha20-poly1305",
                    Ikev2Cipher::AesCbc128 => "aes-cbc-128",
                    Ikev2Cipher::AesCbc256 => "aes-cbc-256",
                    Ikev2Cipher::TripleDes => "3des",
                })
                .collect();
            line(w, 1, format!("encryption {}", v.join(" ")));
        }
        if !p.integrity.is_empty() {
            let v: Vec<&str> = p.integrity.iter().map(|e| e.value.as_str()).collect();
            line(w, 1, format!("integrity {}", v.join(" ")));
        }
        if !p.prf.is_empty() {
            let v: Vec<&str> = p
                .prf
                .iter()
                .map(|e| match e.value {
                    Ikev2Prf::Sha256 => "sha256",
                    Ikev2Prf::Sha384 => "sha384",
                    Ikev2Prf::Sha512 => "sha512",
                    Ikev2Prf::Sha1 => "sha1",
                })
                .collect();
            line(w, 1, format!("prf {}", v.join(" ")));
        }
        if !p.groups.is_empty() {
            let v: Vec<String> = p.groups.iter().map(|g| g.to_string()).collect();
            line(w, 1, format!("group {}", v.join(" ")));
        }
        bang(w);
    }
    for p in ik.policies.values() {
        line(w, 0, format!("crypto ikev2 policy {}", p.name));
        for a in &p.match_local {
            line(w, 1, format!("match address local {a}"));
        }
        if let Some(f) = &p.match_fvrf {
            line(w, 1, format!("match fvrf {f}"));
        }
        for prop in &p.proposals {
            line(w, 1, format!("proposal {prop}"));
        }
        bang(w);
    }
    for k in ik.keyrings.values() {
        line(w, 0, format!("crypto ikev2 keyring {}", k.name));
        for peer in k.peers.values() {
            line(w, 1, format!("peer {}", peer.name));
            if let Some(a) = &peer.address {
                line(w, 2, format!("address {}", addr_mask(a.0, a.1)));
            }
            if let Some(h) = &peer.hostname {
                line(w, 2, format!("hostname {h}"));
            }
            if let Some(i) = &peer.identity {
                line(w, 2, format!("identity {}", identity_text(i)));
            }
            if let Some(k) = &peer.pre_shared_key {
                line(w, 2, format!("pre-shared-key {}", keys.text(k)));
            }
            if let Some(k) = &peer.pre_shared_key_local {
                line(w, 2, format!("pre-shared-key local {}", keys.text(k)));
            }
            if let Some(k) = &peer.pre_shared_key_remote {
                line(w, 2, format!("pre-shared-key remote {}", keys.text(k)));
            }
        }
        bang(w);
    }
    for p in ik.profiles.values() {
        line(w, 0, format!("crypto ikev2 profile {}", p.name));
        for m in &p.match_remote {
            let t = match &m.value {
                RemoteIdentityMatch::Address(a, len) => format!("address {}", addr_mask(*a, *len)),
                RemoteIdentityMatch::Fqdn { name, domain: true } => format!("fqdn domain {name}"),
                RemoteIdentityMatch::Fqdn {
                    name,
                    domain: false,
                } => format!("fqdn {name}"),
                RemoteIdentityMatch::Email(e) => format!("email {e}"),
                RemoteIdentityMatch::KeyId(k) => format!("key-id {k}"),
                RemoteIdentityMatch::Any => "any".into(),
            };
            line(w, 1, format!("match identity remote {t}"));
        }
        for a in &p.match_local_address {
            line(w, 1, format!("match address local {a}"));
        }
        if let Some(i) = &p.identity_local {
            line(w, 1, format!("identity local {}", identity_text(i)));
        }
        if let Some(a) = &p.auth_remote {
            line(w, 1, format!("authentication remote {a}"));
        }
        if let Some(a) = &p.auth_local {
            line(w, 1, format!("authentication local {a}"));
        }
        if let Some(k) = &p.keyring {
            line(w, 1, format!("keyring local {k}"));
        }
        if let Some(l) = &p.lifetime {
            line(w, 1, format!("lifetime {l}"));
        }
        if let Some(d) = &p.dpd {
            line(w, 1, format!("dpd {}", keepalive_text(d, false)));
        }
        if let Some(n) = &p.nat_keepalive {
            line(w, 1, format!("nat keepalive {n}"));
        }
        if let Some(v) = &p.virtual_template {
            line(w, 1, format!("virtual-template {v}"));
        }
        bang(w);
    }
    let mut any = false;
    if let Some(d) = &ik.dpd {
        line(
            w,
            0,
            format!("crypto ikev2 dpd {}", keepalive_text(d, false)),
        );
        any = true;
    }
    if let Some(c) = &ik.cookie_challenge {
        line(w, 0, format!("crypto ikev2 cookie-challenge {c}"));
        any = true;
    }
    if let Some(n) = &ik.limit_max_sa {
        line(w, 0, format!("crypto ikev2 limit max-sa {n}"));
        any = true;
    }
    if let Some(n) = &ik.limit_max_in_negotiation {
        line(
            w,
            0,
            format!("crypto ikev2 limit max-in-negotiation-sa {n}"),
        );
        any = true;
    }
    if any {
        bang(w);
    }
}

fn render_isakmp(w: &mut String, is: &Isakmp, keys: Keys) {
    for p in is.policies.values() {
        line(w, 0, format!("crypto isakmp policy {}", p.priority));
        if let Some(e) = &p.encryption {
            line(w, 1, format!("encr {e}"));
        }
        if let Some(h) = &p.hash {
            line(w, 1, format!("hash {h}"));
        }
        if let Some(a) = &p.authentication {
            line(w, 1, format!("authentication {a}"));
        }
        if let Some(g) = &p.group {
            line(w, 1, format!("group {g}"));
        }
        if let Some(l) = &p.lifetime {
            line(w, 1, format!("lifetime {l}"));
        }
        bang(w);
    }
    for k in &is.keys {
        line(
            w,
            0,
            format!(
                "crypto isakmp key {} address {}",
                keys.text(&k.key),
                addr_mask(k.address, k.len)
            ),
        );
    }
    if let Some(k) = &is.keepalive {
        line(
            w,
            0,
            format!("crypto isakmp keepalive {}", keepalive_text(k, false)),
        );
    }
    if !is.keys.is_empty() || is.keepalive.is_some() {
        bang(w);
    }
    for k in is.keyrings.values() {
        line(w, 0, format!("crypto keyring {}", k.name));
        for key in &k.keys {
            line(
                w,
                1,
                format!(
                    "pre-shared-key address {} key {}",
                    addr_mask(key.address, key.len),
                    keys.text(&key.key)
                ),
            );
        }
        bang(w);
    }
    for p in is.profiles.values() {
        line(w, 0, format!("crypto isakmp profile {}", p.name));
        if let Some(k) = &p.keyring {
            line(w, 1, format!("keyring {k}"));
        }
        for m in &p.match_identities {
            let t = match &m.value {
                IdentityMatch::Group(g) => format!("group {g}"),
                IdentityMatch::Host(h) => format!("host {h}"),
                IdentityMatch::Address { addr, len, vrf } => {
                    let mut t = format!("address {addr}");
                    if *len != 32 || vrf.is_some() {
                        let _ = write!(t, " {}", Ipv4Addr::from(mask_bits(*len)));
                    }
                    if let Some(v) = vrf {
                        let _ = write!(t, " {v}");
                    }
                    t
                }
            };
            line(w, 1, format!("match identity {t}"));
        }
        if let Some(l) = &p.client_authentication_list {
            line(w, 1, format!("client authentication list {l}"));
        }
        if let Some(l) = &p.isakmp_authorization_list {
            line(w, 1, format!("isakmp authorization list {l}"));
        }
        if let Some(a) = &p.client_configuration_address {
            line(w, 1, format!("client configuration address {a}"));
        }
        if let Some(s) = &p.self_identity {
            line(w, 1, format!("self-identity {s}"));
        }
        if let Some(k) = &p.keepalive {
            line(w, 1, format!("keepalive {}", keepalive_text(k, true)));
        }
        if let Some(v) = &p.virtual_template {
            line(w, 1, format!("virtual-template {v}"));
        }
        bang(w);
    }
}

fn render_peer_policy(w: &mut String, p: &PeerPolicy) {
    if let Some(b) = &p.backoff {
        line(
            w,
            0,
            format!("crypto peer backoff {} {}", b.initial_ms, b.maximum_ms),
        );
    }
    if let Some(d) = &p.dampening {
        line(
            w,
            0,
            format!(
                "crypto peer dampening {} {} {} {}",
                d.half_life_s, d.reuse, d.suppress, d.max_suppress_s
            ),
        );
    }
    if p.backoff.is_some() || p.dampening.is_some() {
        bang(w);
    }
}

fn render_ipsec_global(w: &mut String, g: &IpsecGlobal) {
    let mut any = false;
    if let Some(t) = &g.idle_time {
        line(
            w,
            0,
            format!("crypto ipsec security-association idle-time {t}"),
        );
        any = true;
    }
    if let Some(s) = &g.lifetime_seconds {
        line(
            w,
            0,
            format!("crypto ipsec security-association lifetime seconds {s}"),
        );
        any = true;
    }
    if let Some(k) = &g.lifetime_kilobytes {
        line(
            w,
            0,
            format!("crypto ipsec security-association lifetime kilobytes {k}"),
        );
        any = true;
    }
    if let Some(r) = &g.replay_window {
        line(
            w,
            0,
            format!("crypto ipsec security-association replay window-size {r}"),
        );
        any = true;
    }
    if let Some(d) = &g.df_bit {
        let v = match d.value {
            DfBit::Clear => "clear",
            DfBit::Set => "set",
            DfBit::Copy => "copy",
        };
        line(w, 0, format!("crypto ipsec df-bit {v}"));
        any = true;
    }
    if any {
        bang(w);
    }
}

fn ipsec_mode(m: IpsecMode) -> &'static str {
    match m {
        IpsecMode::Tunnel => "tunnel",
        IpsecMode::Transport => "transport",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn render_body(w: &mut String, b: &MapEntryBody, keys: Keys) {
    if let Some(d) = &b.description {
        line(w, 1, format!("description {d}"));
    }
    for p in &b.peers {
        let mut t = match &p.target {
            PeerTarget::Address(a) => a.to_string(),
            PeerTarget::Host { name, dynamic } => {
                if *dynamic {
                    format!("{name} dynamic")
                } else {
                    name.clone()
                }
            }
        };
        if p.default {
            t += " default";
        }
        line(w, 1, format!("set peer {t}"));
    }
    if let Some(i) = &b.idle_time {
        let d = if i.default_peer { " default" } else { "" };
        line(
            w,
            1,
            format!("set security-association idletime {}{d}", i.seconds),
        );
    }
    if let Some(s) = &b.lifetime_seconds {
        line(
            w,
            1,
            format!("set security-association lifetime seconds {s}"),
        );
    }
    if let Some(k) = &b.lifetime_kilobytes {
        line(
            w,
            1,
            format!("set security-association lifetime kilobytes {k}"),
        );
    }
    if let Some(r) = &b.replay {
        match r.value {
            Replay::WindowSize(n) => line(
                w,
                1,
                format!("set security-association replay window-size {n}"),
            ),
            Replay::Disabled => line(w, 1, "set security-association replay disable".into()),
        }
    }
    if !b.transform_sets.is_empty() {
        let names: Vec<&str> = b.transform_sets.iter().map(|t| t.value.as_str()).collect();
        line(w, 1, format!("set transform-set {}", names.join(" ")));
    }
    if let Some(g) = &b.pfs {
        line(w, 1, format!("set pfs {g}"));
    }
    if let Some(p) = &b.isakmp_profile {
        line(w, 1, format!("set isakmp-profile {p}"));
    }
    if let Some(p) = &b.ikev2_profile {
        line(w, 1, format!("set ikev2-profile {p}"));
    }
    if let Some(d) = &b.rri_distance {
        line(w, 1, format!("set reverse-route distance {d}"));
    }
    if let Some(t) = &b.rri_tag {
        line(w, 1, format!("set reverse-route tag {t}"));
    }
    if let Some(rr) = &b.reverse_route {
        let mut t = "reverse-route".to_string();
        if let Some(tag) = rr.tag {
            let _ = write!(t, " tag {tag}");
        }
        match rr.remote_peer {
            Some(RemotePeer::Interface) => t += " remote-peer",
            Some(RemotePeer::NextHop { addr, gateway }) => {
                let _ = write!(t, " remote-peer {addr}");
                if gateway {
                    t += " gateway";
                }
            }
            None => {}
        }
        if rr.static_routes {
            t += " static";
        }
        line(w, 1, t);
    }
    if let Some(m) = &b.match_address {
        line(w, 1, format!("match address {m}"));
    }
    for k in &b.session_keys {
        let dir = match k.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        };
        let mut t = format!(
            "set session-key {dir} esp {} cipher {}",
            k.spi,
            keys.hex(&k.cipher)
        );
        if let Some(a) = &k.authenticator {
            let _ = write!(t, " authenticator {}", keys.hex(a));
        }
        line(w, 1, t);
    }
}

fn render_ezvpn(w: &mut String, e: &EzvpnClient, keys: Keys) {
    line(w, 0, format!("crypto ipsec client ezvpn {}", e.name));
    if let Some(c) = &e.connect {
        line(w, 1, format!("connect {c}"));
    }
    if let Some(g) = &e.group {
        line(w, 1, format!("group {} key {}", g.0, keys.text(&g.1)));
    }
    if let Some(m) = &e.mode {
        line(w, 1, format!("mode {m}"));
    }
    for p in &e.peers {
        line(w, 1, format!("peer {p}"));
    }
    if let Some(v) = &e.virtual_interface {
        line(w, 1, format!("virtual-interface {v}"));
    }
    if let Some(u) = &e.username {
        line(
            w,
            1,
            format!("username {} password {}", u.0, keys.text(&u.1)),
        );
    }
    if let Some(x) = &e.xauth_userid_mode {
        line(w, 1, format!("xauth userid mode {x}"));
    }
    bang(w);
}

fn render_interface(w: &mut String, i: &Interface) {
    let tt = if i.type_tunnel { " type tunnel" } else { "" };
    line(w, 0, format!("interface {}{tt}", i.name));
    if let Some(d) = &i.description {
        line(w, 1, format!("description {d}"));
    }
    if let Some(v) = &i.vrf {
        let prefix = if v.legacy { "ip vrf" } else { "vrf" };
        line(w, 1, format!("{prefix} forwarding {}", v.name));
    }
    if let Some(a) = &i.address {
        line(
            w,
            1,
            format!("ip address {} {}", a.addr, Ipv4Addr::from(mask_bits(a.len))),
        );
    }
    for a in &i.secondary_addresses {
        line(
            w,
            1,
            format!(
                "ip address {} {} secondary",
                a.addr,
                Ipv4Addr::from(mask_bits(a.len))
            ),
        );
    }
    if let Some(u) = &i.unnumbered {
        match &u.value {
            Some(name) => line(w, 1, format!("ip unnumbered {name}")),
            None => line(w, 1, "ip unnumbered".into()),
        }
    }
    if let Some(m) = &i.ip_mtu {
        line(w, 1, format!("ip mtu {m}"));
    }
    if let Some(m) = &i.mtu {
        line(w, 1, format!("mtu {m}"));
    }
    if let Some(m) = &i.mac_address {
        line(w, 1, format!("mac-address {}", render_mac(**m)));
    }
    for s in &i.standby {
        line(w, 1, format!("standby {s}"));
    }
    if let Some(s) = &i.tunnel_source {
        line(w, 1, format!("tunnel source {s}"));
    }
    if let Some(d) = &i.tunnel_destination {
        line(w, 1, format!("tunnel destination {d}"));
    }
    if let Some(m) = &i.tunnel_mode {
        let t = match m.value {
            TunnelMode::IpsecIpv4 => "ipsec ipv4",
            TunnelMode::GreIp => "gre ip",
        };
        line(w, 1, format!("tunnel mode {t}"));
    }
    if let Some(p) = &i.tunnel_protection {
        line(w, 1, format!("tunnel protection ipsec profile {p}"));
    }
    if let Some(m) = &i.crypto_map {
        let mut t = format!("crypto map {}", m.name);
        if let Some(g) = &m.redundancy {
            let _ = write!(t, " redundancy {g}");
            if m.stateful {
                t += " stateful";
            }
        }
        line(w, 1, t);
    }
    if let Some(d) = &i.dpdk_device {
        match &d.value {
            DpdkDevice::Vdev(s) => line(w, 1, format!("dpdk device vdev {s}")),
            DpdkDevice::Pci(s) => line(w, 1, format!("dpdk device pci {s}")),
        }
    }
    if i.shutdown {
        line(w, 1, "shutdown".into());
    }
    bang(w);
}

fn protocol_text(p: RoutingProtocol) -> String {
    match p {
        RoutingProtocol::Ospf(n) => format!("ospf {n}"),
        RoutingProtocol::Bgp(n) => format!("bgp {n}"),
        RoutingProtocol::Eigrp(n) => format!("eigrp {n}"),
        RoutingProtocol::Rip => "rip".into(),
    }
}

fn render_router(w: &mut String, r: &RouterProcess) {
    line(w, 0, format!("router {}", protocol_text(r.protocol)));
    if let Some(id) = &r.router_id {
        line(w, 1, format!("router-id {id}"));
    }
    for red in &r.redistribute {
        let mut t = match red.source {
            RedistributeSource::Static => "redistribute static".to_string(),
            RedistributeSource::Connected => "redistribute connected".to_string(),
            RedistributeSource::Protocol(p) => format!("redistribute {}", protocol_text(p)),
        };
        if let Some(m) = red.metric {
            let _ = write!(t, " metric {m}");
        }
        if let Some(m) = red.metric_type {
            let _ = write!(t, " metric-type {m}");
        }
        if red.subnets {
            t += " subnets";
        }
        if let Some(tag) = red.tag {
            let _ = write!(t, " tag {tag}");
        }
        if let Some(rm) = &red.route_map {
            let _ = write!(t, " route-map {rm}");
        }
        line(w, 1, t);
    }
    for n in &r.networks {
        line(w, 1, format!("network {n}"));
    }
    for n in &r.neighbors {
        line(w, 1, format!("neighbor {n}"));
    }
    bang(w);
}

fn static_route(r: &StaticRoute) -> String {
    let mut t = "ip route".to_string();
    if let Some(v) = &r.vrf {
        let _ = write!(t, " vrf {v}");
    }
    let _ = write!(t, " {} {}", r.prefix.addr, r.prefix.mask());
    if let Some(i) = &r.interface {
        let _ = write!(t, " {i}");
    }
    if let Some(n) = r.next_hop {
        let _ = write!(t, " {n}");
    }
    if let Some(d) = r.distance {
        let _ = write!(t, " {d}");
    }
    if let Some(tag) = r.tag {
        let _ = write!(t, " tag {tag}");
    }
    if let Some(n) = &r.name {
        let _ = write!(t, " name {n}");
    }
    if r.permanent {
        t += " permanent";
    }
    t
}

fn addr_match_text(a: AddrMatch) -> String {
    match a {
        AddrMatch::Any => "any".into(),
        AddrMatch::Host(h) => format!("host {h}"),
        AddrMatch::Wildcard(a, wild) => format!("{a} {wild}"),
    }
}

fn port_text(p: u16) -> String {
    port_name(p).map_or_else(|| p.to_string(), str::to_owned)
}

fn port_match_text(p: &PortMatch) -> String {
    match p {
        PortMatch::Eq(ports) => {
            let v: Vec<String> = ports.iter().map(|&p| port_text(p)).collect();
            format!("eq {}", v.join(" "))
        }
        PortMatch::Neq(p) => format!("neq {}", port_text(*p)),
        PortMatch::Lt(p) => format!("lt {}", port_text(*p)),
        PortMatch::Gt(p) => format!("gt {}", port_text(*p)),
        PortMatch::Range(a, b) => format!("range {} {}", port_text(*a), port_text(*b)),
    }
}

/// The text of an ACL entry after its list name (`permit ip any host 10.0.0.1`).
pub fn acl_entry_text(kind: AclKind, e: &AclEntry) -> String {
    let action = match e.action {
        Action::Permit => "permit",
        Action::Deny => "deny",
    };
    let mut t = action.to_string();
    if kind == AclKind::Standard {
        let _ = write!(t, " {}", addr_match_text(e.src));
    } else {
        let proto = match e.protocol {
            Protocol::Ip => "ip".to_string(),
            Protocol::Icmp => "icmp".into(),
            Protocol::Tcp => "tcp".into(),
            Protocol::Udp => "udp".into(),
            Protocol::Gre => "gre".into(),
            Protocol::Esp => "esp".into(),
            Protocol::Ahp => "ahp".into(),
            Protocol::Number(n) => n.to_string(),
        };
        let _ = write!(t, " {proto} {}", addr_match_text(e.src));
        if let Some(p) = &e.src_port {
            let _ = write!(t, " {}", port_match_text(p));
        }
        let _ = write!(t, " {}", addr_match_text(e.dst));
        if let Some(p) = &e.dst_port {
            let _ = write!(t, " {}", port_match_text(p));
        }
        if let Some((ty, code)) = e.icmp {
            match (icmp_name(ty), code) {
                (Some(name), None) => {
                    let _ = write!(t, " {name}");
                }
                (_, Some(c)) => {
                    let _ = write!(t, " {ty} {c}");
                }
                (None, None) => {
                    let _ = write!(t, " {ty}");
                }
            }
        }
    }
    if e.log {
        t += " log";
    }
    t
}

fn render_acl(w: &mut String, acl: &AccessList) {
    match &acl.name {
        AclName::Number(n) => {
            for r in &acl.remarks {
                line(w, 0, format!("access-list {n} remark {r}"));
            }
            for e in &acl.entries {
                line(
                    w,
                    0,
                    format!("access-list {n} {}", acl_entry_text(acl.kind, e)),
                );
            }
        }
        AclName::Name(name) => {
            let kind = match acl.kind {
                AclKind::Standard => "standard",
                AclKind::Extended => "extended",
            };
            line(w, 0, format!("ip access-list {kind} {name}"));
            for r in &acl.remarks {
                line(w, 1, format!("remark {r}"));
            }
            for e in &acl.entries {
                let seq = e.seq.map(|s| format!("{s} ")).unwrap_or_default();
                line(w, 1, format!("{seq}{}", acl_entry_text(acl.kind, e)));
            }
        }
    }
    bang(w);
}

fn render_route_map(w: &mut String, name: &str, e: &RouteMapEntry) {
    let action = match e.action {
        Action::Permit => "permit",
        Action::Deny => "deny",
    };
    line(w, 0, format!("route-map {name} {action} {}", e.seq));
    if !e.match_tags.is_empty() {
        let v: Vec<String> = e.match_tags.iter().map(|t| t.to_string()).collect();
        line(w, 1, format!("match tag {}", v.join(" ")));
    }
    if !e.match_ip_address.is_empty() {
        let v: Vec<String> = e.match_ip_address.iter().map(|t| t.to_string()).collect();
        line(w, 1, format!("match ip address {}", v.join(" ")));
    }
    if let Some(m) = &e.set_metric {
        line(w, 1, format!("set metric {m}"));
    }
    if let Some(m) = &e.set_metric_type {
        line(w, 1, format!("set metric-type type-{m}"));
    }
    if let Some(t) = &e.set_tag {
        line(w, 1, format!("set tag {t}"));
    }
    bang(w);
}

/// A MAC address as IOS writes it: `0200.0000.0101`.
pub fn render_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_rendering_hides_every_key_and_nothing_else() {
        let text = "crypto ikev2 keyring KR
 peer A
  address 192.0.2.2
  pre-shared-key local left-secret
  pre-shared-key remote right-secret
 peer B
  address 192.0.2.3
  pre-shared-key both-secret
crypto isakmp key isakmp-secret address 192.0.2.9
crypto ipsec transform-set TS esp-gcm 128
crypto map M 10 ipsec-manual
 set peer 192.0.2.2
 set transform-set TS
 set session-key inbound esp 300 cipher 00112233445566778899aabbccddeeff00112233
 set session-key outbound esp 301 cipher ffeeddccbbaa99887766554433221100ffeeddcc
";
        let checked = crate::check(text);
        let shown = render(&checked.config);
        let masked = render_masked(&checked.config);
        for secret in [
            "left-secret",
            "right-secret",
            "both-secret",
            "isakmp-secret",
            "00112233445566778899aabbccddeeff00112233",
            "ffeeddccbbaa99887766554433221100ffeeddcc",
        ] {
            assert!(shown.contains(secret), "{secret} missing from\n{shown}");
            assert!(!masked.contains(secret), "{secret} shown in\n{masked}");
        }
        assert!(masked.contains("pre-shared-key local *****"), "{masked}");
        assert!(masked.contains("set session-key inbound esp 300 cipher *****"));
        // Masking changes the keys and nothing else: line for line the same shape.
        assert_eq!(shown.lines().count(), masked.lines().count());
        for (a, b) in shown.lines().zip(masked.lines()) {
            if a != b {
                assert!(b.ends_with(MASK) || b.contains(" *****"), "{a} / {b}");
            }
        }
    }
}
