//! The parser: IOS configuration text into a [`Config`].
//!
//! Lines are read as IOS reads a pasted configuration: a block command (`interface`,
//! `crypto map`, ...) enters a sub-mode; a line that the sub-mode does not know but global
//! configuration does leaves it; `exit` leaves one level; indentation is not significant.
//! Entering a block that exists modifies it, as on a router.
//!
//! Every line that cannot be parsed becomes an error and is skipped; parsing goes on, so all
//! errors of a file are reported. Lines inside a block whose header failed are skipped
//! without further errors.
//!
//! This module reads lines, keeps the mode and dispatches; each configuration area has a
//! module of its own: [`interface`], [`acl`], [`ipsec`] (crypto maps, transform sets, IPsec
//! profiles), [`ike`] (ISAKMP and IKEv2) and [`routing`] (routers, route maps, VRFs).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::cursor::{hex_bytes, is_ambiguous, is_keyword, unexpected, Cursor, Parsed};
use crate::diag::{Code, Diagnostic};
use crate::lex::{self, Line};
use crate::model::*;
use crate::span::{Span, Spanned};
use crate::suggest;

mod acl;
mod ike;
mod interface;
mod ipsec;
mod routing;

use acl::*;
use ike::*;
use interface::*;
use ipsec::*;
use routing::*;

pub(crate) use acl::{icmp_name, port_name};
pub use interface::canonical_interface;

/// The result of parsing: the model and everything found wrong on the way.
#[derive(Debug, Clone)]
pub struct ParseOutput {
    /// What could be parsed.
    pub config: Config,
    /// Syntax errors and warnings, in line order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses configuration text.
pub fn parse(text: &str) -> ParseOutput {
    let mut parser = Parser {
        config: Config::default(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
    };
    // A NUL is in no configuration, comments included: the file is binary, or was cut or
    // corrupted. Each line holding one is an error and is not read (what it would apply
    // cannot be trusted).
    // (The common case, no NUL at all, costs one scan for a byte.)
    let mut damaged = std::collections::BTreeSet::new();
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines_with_nul = body.contains('\0').then(|| body.lines().enumerate());
    for (index, raw) in lines_with_nul.into_iter().flatten() {
        if let Some(col) = raw.chars().position(|c| c == '\0') {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            damaged.insert(number);
            let col = u32::try_from(col + 1).unwrap_or(u32::MAX);
            parser.diagnostics.push(Diagnostic::error(
                Code::InvalidValue,
                Span::new(number, col, 1),
                "a NUL character: this is not configuration text (a binary or damaged file?)",
            ));
        }
    }
    for line in lex::lines(text) {
        if !damaged.contains(&line.number) {
            parser.line(&line);
        }
    }
    ParseOutput {
        config: parser.config,
        diagnostics: parser.diagnostics,
    }
}

#[derive(Debug, Clone)]
enum Mode {
    /// Inside a block whose header failed: its lines are skipped.
    Broken,
    Interface(usize),
    CryptoMap(String, u32),
    DynamicMap(String, u32),
    IpsecProfile(String),
    TransformSet(String),
    IsakmpPolicy(u32),
    IsakmpProfile(String),
    Keyring(String),
    Ikev2Proposal(String),
    Ikev2Policy(String),
    Ikev2Keyring(String),
    Ikev2KeyringPeer(String, String),
    Ikev2Profile(String),
    AccessList(AclName),
    Router(usize),
    RouteMap(String, u32),
    Vrf(String),
    VrfAddressFamily(String),
    Ezvpn(String),
}

const GLOBAL: &[&str] = &[
    "hostname",
    "interface",
    "ip",
    "access-list",
    "crypto",
    "router",
    "route-map",
    "vrf",
    "dpdk",
    "end",
];

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Mode::Broken => "global configuration",
            Mode::Interface(_) => "interface",
            Mode::CryptoMap(..) => "crypto map",
            Mode::DynamicMap(..) => "crypto dynamic-map",
            Mode::IpsecProfile(_) => "crypto ipsec profile",
            Mode::TransformSet(_) => "crypto transform-set",
            Mode::IsakmpPolicy(_) => "isakmp policy",
            Mode::IsakmpProfile(_) => "isakmp profile",
            Mode::Keyring(_) => "keyring",
            Mode::Ikev2Proposal(_) => "ikev2 proposal",
            Mode::Ikev2Policy(_) => "ikev2 policy",
            Mode::Ikev2Keyring(_) => "ikev2 keyring",
            Mode::Ikev2KeyringPeer(..) => "ikev2 keyring peer",
            Mode::Ikev2Profile(_) => "ikev2 profile",
            Mode::AccessList(_) => "access list",
            Mode::Router(_) => "router",
            Mode::RouteMap(..) => "route-map",
            Mode::Vrf(_) => "vrf",
            Mode::VrfAddressFamily(_) => "vrf address-family",
            Mode::Ezvpn(_) => "ezvpn client",
        }
    }

    fn keywords(&self) -> &'static [&'static str] {
        match self {
            Mode::Broken => &[],
            Mode::Interface(_) => &[
                "description",
                "ip",
                "crypto",
                "standby",
                "vrf",
                "tunnel",
                "shutdown",
                "no",
                "mtu",
                "mac-address",
                "dpdk",
                "exit",
            ],
            Mode::CryptoMap(..) => &["description", "match", "set", "reverse-route", "exit"],
            Mode::DynamicMap(..) => &["description", "match", "set", "reverse-route", "exit"],
            Mode::IpsecProfile(_) => &["description", "set", "reverse-route", "exit"],
            Mode::TransformSet(_) => &["mode", "exit"],
            Mode::IsakmpPolicy(_) => &[
                "encryption",
                "hash",
                "authentication",
                "group",
                "lifetime",
                "exit",
            ],
            Mode::IsakmpProfile(_) => &[
                "keyring",
                "match",
                "client",
                "isakmp",
                "virtual-template",
                "keepalive",
                "self-identity",
                "exit",
            ],
            Mode::Keyring(_) => &["pre-shared-key", "exit"],
            Mode::Ikev2Proposal(_) => &["encryption", "prf", "integrity", "group", "exit"],
            Mode::Ikev2Policy(_) => &["proposal", "match", "exit"],
            Mode::Ikev2Keyring(_) => &["peer", "exit"],
            Mode::Ikev2KeyringPeer(..) => {
                &["address", "hostname", "identity", "pre-shared-key", "exit"]
            }
            Mode::Ikev2Profile(_) => &[
                "match",
                "identity",
                "authentication",
                "keyring",
                "dpd",
                "lifetime",
                "virtual-template",
                "nat",
                "exit",
            ],
            Mode::AccessList(_) => &["permit", "deny", "remark", "exit"],
            Mode::Router(_) => &["redistribute", "network", "neighbor", "router-id", "exit"],
            Mode::RouteMap(..) => &["match", "set", "exit"],
            Mode::Vrf(_) => &["rd", "route-target", "address-family", "exit"],
            Mode::VrfAddressFamily(_) => &["route-target", "exit-address-family", "exit"],
            Mode::Ezvpn(_) => &[
                "connect",
                "group",
                "mode",
                "peer",
                "username",
                "xauth",
                "virtual-interface",
                "exit",
            ],
        }
    }

    /// Modes nested in another block fall back to their parent before global configuration.
    fn is_nested(&self) -> bool {
        matches!(self, Mode::Ikev2KeyringPeer(..) | Mode::VrfAddressFamily(_))
    }
}

struct Parser {
    config: Config,
    diagnostics: Vec<Diagnostic>,
    stack: Vec<Mode>,
}

fn err<T>(d: Diagnostic) -> Parsed<T> {
    Err(Box::new(d))
}

impl Parser {
    fn line(&mut self, line: &Line<'_>) {
        let first = line.tokens[0];
        // Innermost mode first, then enclosing blocks, then global configuration.
        let mut depth = self.stack.len();
        while depth > 0 {
            let mode = self.stack[depth - 1].clone();
            // Named access lists take an optional sequence number before the action.
            let numbered_acl_entry = matches!(mode, Mode::AccessList(_))
                && first.text.bytes().all(|b| b.is_ascii_digit());
            if numbered_acl_entry {
                self.stack.truncate(depth);
                let result = self.mode_command(&mode, line);
                self.report(result);
                return;
            }
            // The mode's own commands first, as IOS reads them: a word that abbreviates
            // several of them is ambiguous here, not a command of an enclosing mode (`en`
            // in a sub-mode with `encryption` and `exit`... is never global `end`).
            let matched = is_keyword(first.text, mode.keywords());
            if matched.is_some() || is_ambiguous(first.text, mode.keywords()) {
                self.stack.truncate(depth);
                if matched == Some("exit") {
                    self.stack.pop();
                    return;
                }
                let result = self.mode_command(&mode, line);
                let result = match result {
                    // "ip route ..." inside an interface block: the word fits the mode but the
                    // line is a global command, which IOS then runs at global level.
                    Err(mode_error)
                        if matched.is_some() && is_keyword(first.text, GLOBAL).is_some() =>
                    {
                        let saved = self.stack.clone();
                        self.stack.clear();
                        let before = self.diagnostics.len();
                        match self.global(line) {
                            Ok(()) => Ok(()),
                            Err(global_error) => {
                                self.diagnostics.truncate(before);
                                self.stack = saved;
                                let further = global_error.span.col > mode_error.span.col;
                                Err(if further { global_error } else { mode_error })
                            }
                        }
                    }
                    other => other,
                };
                self.report(result);
                return;
            }
            if !mode.is_nested() {
                break;
            }
            depth -= 1;
        }
        if is_keyword(first.text, GLOBAL).is_some() || first.text.eq_ignore_ascii_case("exit") {
            self.stack.clear();
            if first.text.eq_ignore_ascii_case("exit") {
                return;
            }
            let result = self.global(line);
            if result.is_err() && self.stack.is_empty() && is_block_header(line) {
                self.stack.push(Mode::Broken);
            }
            self.report(result);
            return;
        }
        match self.stack.last() {
            // The sub-commands of a block whose header failed (written indented, as IOS
            // does) are skipped; an unindented line is reported on its own.
            Some(Mode::Broken) if first.span.col > 1 => {}
            Some(mode) if !matches!(mode, Mode::Broken) => {
                let mode_keywords = mode.keywords();
                let mut d = Diagnostic::error(
                    Code::UnknownCommand,
                    first.span,
                    format!("unknown command '{}' in {} mode", first.text, mode.name()),
                );
                d.expected = mode_keywords.iter().map(|s| s.to_string()).collect();
                d.suggestion =
                    suggest::closest(first.text, mode_keywords.iter().chain(GLOBAL).copied())
                        .map(str::to_owned);
                self.diagnostics.push(d);
            }
            _ => {
                let mut d = Diagnostic::error(
                    Code::UnknownCommand,
                    first.span,
                    format!("unknown command '{}'", first.text),
                );
                d.expected = GLOBAL.iter().map(|s| s.to_string()).collect();
                d.suggestion =
                    suggest::closest(first.text, GLOBAL.iter().copied()).map(str::to_owned);
                self.diagnostics.push(d);
            }
        }
        // An unknown line written at the margin starts a block of its own, as in `show
        // running-config`: the indented lines under it are its body, never the body of the
        // block before it (an unknown block's indented `shutdown` must not shut down the
        // interface above it). They are skipped with it, as the body of a failed header is.
        if first.span.col == 1 {
            self.stack.clear();
            self.stack.push(Mode::Broken);
        }
    }

    fn report(&mut self, result: Parsed<()>) {
        if let Err(d) = result {
            self.diagnostics.push(*d);
        }
    }

    fn warn(&mut self, code: Code, span: Span, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::warning(code, span, message));
    }

    // ---------------------------------------------------------------- global configuration

    fn global(&mut self, line: &Line<'_>) -> Parsed<()> {
        let mut c = Cursor::new(line);
        let cmd = c.keyword("a command", GLOBAL)?;
        match cmd.value {
            "hostname" => {
                let name = c.word("a host name")?;
                c.end()?;
                self.config.hostname = Some(name);
            }
            "interface" => self.interface_header(&mut c)?,
            "ip" => self.global_ip(&mut c)?,
            "access-list" => self.numbered_acl(&mut c)?,
            "crypto" => self.crypto(&mut c)?,
            "router" => self.router_header(&mut c)?,
            "route-map" => self.route_map_header(&mut c)?,
            "vrf" => {
                c.keyword("'definition'", &["definition"])?;
                let name = c.word("a VRF name")?;
                c.end()?;
                self.vrf_header(name, VrfStyle::Definition);
            }
            "dpdk" => self.dpdk_global(&mut c)?,
            "end" => {
                c.end()?;
                self.stack.clear();
            }
            _ => unreachable!("keyword() returns one of GLOBAL"),
        }
        Ok(())
    }

    fn global_ip(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        const IP: &[&str] = &[
            "route",
            "vrf",
            "access-list",
            "name-server",
            "name",
            "domain",
            "domain-name",
            "dns-resolver",
            "routing",
            "cef",
        ];
        let kw = c.keyword("an ip command", IP)?;
        match kw.value {
            "route" => self.ip_route(c),
            "vrf" => {
                let name = c.word("a VRF name")?;
                c.end()?;
                self.vrf_header(name, VrfStyle::IpVrf);
                Ok(())
            }
            "access-list" => self.named_acl_header(c),
            "name-server" => self.name_servers(c),
            "name" => {
                // "ip name server A" appears in Cisco's own example; IOS spells it name-server.
                let server = c.keyword("'server'", &["server"])?;
                self.warn(
                    Code::NonCanonicalSpelling,
                    kw.span.to(server.span),
                    "'ip name server' is written 'ip name-server'; read as that",
                );
                self.name_servers(c)
            }
            "domain" => {
                let sub = c.keyword("'name' or 'lookup'", &["name", "lookup"])?;
                if sub.value == "lookup" {
                    return c.end();
                }
                let name = c.word("a domain name")?;
                c.end()?;
                self.config.domain_name = Some(name);
                Ok(())
            }
            "domain-name" => {
                let name = c.word("a domain name")?;
                c.end()?;
                self.config.domain_name = Some(name);
                Ok(())
            }
            "dns-resolver" => {
                let sub = c.keyword("'dnssec' or 'trust-anchor'", &["dnssec", "trust-anchor"])?;
                if sub.value == "dnssec" {
                    let req = c.keyword("'required' or 'optional'", &["required", "optional"])?;
                    c.end()?;
                    self.config.dns_resolver.dnssec_required =
                        Some(Spanned::new(req.value == "required", req.span));
                } else {
                    let path = c.word("a trust anchor file")?;
                    c.end()?;
                    self.config.dns_resolver.trust_anchors.push(path);
                }
                Ok(())
            }
            // Always on in rri; accepted so that router configurations paste cleanly.
            "routing" | "cef" => c.end(),
            _ => unreachable!(),
        }
    }

    fn name_servers(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let mut servers = Vec::new();
        loop {
            let word = c.word("a name server address")?;
            let (addr_text, port) = match word.value.split_once(':') {
                Some((a, p)) => {
                    let port = p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| {
                        Box::new(Diagnostic::error(
                            Code::InvalidValue,
                            word.span,
                            format!("invalid port in '{}': expected 1 to 65535", word.value),
                        ))
                    })?;
                    (a, port)
                }
                None => (word.value.as_str(), 53),
            };
            let address = addr_text.parse::<Ipv4Addr>().map_err(|_| {
                Box::new(Diagnostic::error(
                    Code::InvalidValue,
                    word.span,
                    format!(
                        "invalid name server '{}': expected A.B.C.D or A.B.C.D:PORT",
                        word.value
                    ),
                ))
            })?;
            servers.push(Spanned::new(NameServer { address, port }, word.span));
            if c.at_end() {
                break;
            }
        }
        if self.config.name_servers.len() + servers.len() > 6 {
            return err(Diagnostic::error(
                Code::InvalidValue,
                servers[0].span,
                "at most 6 name servers can be configured",
            ));
        }
        self.config.name_servers.extend(servers);
        Ok(())
    }

    fn ip_route(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let start = c.line.tokens[0].span;
        let vrf = if c.opt_keyword(&["vrf"]).is_some() {
            Some(c.word("a VRF name")?.value)
        } else {
            None
        };
        let prefix = prefix(c, "destination prefix")?;
        let mut route = StaticRoute {
            vrf,
            prefix,
            next_hop: None,
            interface: None,
            distance: None,
            tag: None,
            name: None,
            permanent: false,
        };
        if c.next_is_ipv4() {
            route.next_hop = Some(c.ipv4("next hop")?.value);
        } else {
            let iface = c.word("a next-hop address or an interface")?;
            route.interface = Some(canonical_interface(&iface.value));
            if c.next_is_ipv4() {
                route.next_hop = Some(c.ipv4("next hop")?.value);
            }
        }
        if c.next_is_number() {
            route.distance = Some(c.number("administrative distance", 1u8, 255)?.value);
        }
        while let Some(opt) = c.opt_keyword(&["tag", "name", "permanent"]) {
            match opt.value {
                "tag" => route.tag = Some(c.number("tag", 1u32, u32::MAX)?.value),
                "name" => route.name = Some(c.word("a route name")?.value),
                _ => route.permanent = true,
            }
        }
        c.end_or("a route option", &["tag", "name", "permanent"])?;
        let span = start.to(c.prev_span());
        self.config.static_routes.push(Spanned::new(route, span));
        Ok(())
    }

    // ---------------------------------------------------------------- interfaces

    fn crypto(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let kw = c.keyword(
            "a crypto command",
            &[
                "map",
                "dynamic-map",
                "ipsec",
                "isakmp",
                "keyring",
                "ikev2",
                "peer",
            ],
        )?;
        match kw.value {
            "peer" => self.crypto_peer(c),
            "map" => self.crypto_map_header(c),
            "dynamic-map" => self.dynamic_map_header(c),
            "ipsec" => self.crypto_ipsec(c),
            "isakmp" => self.crypto_isakmp(c),
            "keyring" => {
                let name = c.word("a keyring name")?;
                c.end()?;
                self.config
                    .isakmp
                    .keyrings
                    .entry(name.value.clone())
                    .or_insert_with(|| Keyring {
                        span: name.span,
                        name: name.clone(),
                        keys: Vec::new(),
                    });
                self.stack.push(Mode::Keyring(name.value));
                Ok(())
            }
            _ => self.crypto_ikev2(c),
        }
    }

    fn dpdk_global(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let kw = c.keyword(
            "a dpdk setting",
            &[
                "eal-options",
                "main-lcore",
                "worker-lcores",
                "mempool",
                "burst",
            ],
        )?;
        let d = &mut self.config.dpdk;
        match kw.value {
            "eal-options" => {
                if c.at_end() {
                    return err(Diagnostic::error(
                        Code::Incomplete,
                        c.here(),
                        "incomplete command: expected EAL options",
                    ));
                }
                while !c.at_end() {
                    d.eal_options.push(c.word("an EAL option")?);
                }
            }
            "main-lcore" => d.main_lcore = Some(c.number("lcore", 0u32, 1023)?),
            "worker-lcores" => {
                let w = c.word("a list of lcores (1,2 or 1-3)")?;
                let list = lcore_list(&w.value).ok_or_else(|| {
                    Box::new(Diagnostic::error(
                        Code::InvalidValue,
                        w.span,
                        format!("invalid lcore list '{}': expected numbers and ranges such as 1,2 or 1-3", w.value),
                    ))
                })?;
                d.worker_lcores = Some(Spanned::new(list, w.span));
            }
            "mempool" => {
                c.keyword("'mbufs'", &["mbufs"])?;
                d.mempool_mbufs = Some(c.number("mbufs", 1024u32, 16_777_215)?);
            }
            _ => d.burst = Some(c.number("burst size", 1u16, 256)?),
        }
        c.end()
    }

    // ---------------------------------------------------------------- sub-mode commands

    fn mode_command(&mut self, mode: &Mode, line: &Line<'_>) -> Parsed<()> {
        match mode {
            Mode::Broken => Ok(()),
            Mode::Interface(i) => self.interface_command(*i, line),
            Mode::CryptoMap(name, seq) => {
                let entry = self
                    .config
                    .crypto_maps
                    .get_mut(name)
                    .and_then(|m| m.entries.get_mut(seq))
                    .expect("mode refers to an existing entry");
                let manual = entry.kind == CryptoMapKind::Manual;
                let mut warnings = Vec::new();
                map_body_command(
                    &mut entry.body,
                    line,
                    BodyKind::CryptoMap { manual },
                    &mut warnings,
                )?;
                self.diagnostics.extend(warnings);
                Ok(())
            }
            Mode::DynamicMap(name, seq) => {
                let entry = self
                    .config
                    .dynamic_maps
                    .get_mut(name)
                    .and_then(|m| m.entries.get_mut(seq))
                    .expect("mode refers to an existing entry");
                let mut warnings = Vec::new();
                map_body_command(&mut entry.body, line, BodyKind::DynamicMap, &mut warnings)?;
                self.diagnostics.extend(warnings);
                Ok(())
            }
            Mode::IpsecProfile(name) => {
                let profile = self.config.ipsec_profiles.get_mut(name).expect("exists");
                let mut warnings = Vec::new();
                map_body_command(
                    &mut profile.body,
                    line,
                    BodyKind::IpsecProfile,
                    &mut warnings,
                )?;
                self.diagnostics.extend(warnings);
                Ok(())
            }
            Mode::TransformSet(name) => {
                let mut c = Cursor::new(line);
                c.keyword("'mode'", &["mode"])?;
                let m = c.keyword("'tunnel' or 'transport'", &["tunnel", "transport"])?;
                c.end()?;
                let mode = if m.value == "tunnel" {
                    IpsecMode::Tunnel
                } else {
                    IpsecMode::Transport
                };
                self.config
                    .transform_sets
                    .get_mut(name)
                    .expect("exists")
                    .mode = Some(Spanned::new(mode, m.span));
                Ok(())
            }
            Mode::IsakmpPolicy(prio) => {
                let p = self.config.isakmp.policies.get_mut(prio).expect("exists");
                isakmp_policy_command(p, line)
            }
            Mode::IsakmpProfile(name) => {
                let p = self.config.isakmp.profiles.get_mut(name).expect("exists");
                isakmp_profile_command(p, line)
            }
            Mode::Keyring(name) => {
                let mut c = Cursor::new(line);
                c.keyword("'pre-shared-key'", &["pre-shared-key"])?;
                let key = isakmp_key(&mut c, true)?;
                self.config
                    .isakmp
                    .keyrings
                    .get_mut(name)
                    .expect("exists")
                    .keys
                    .push(key);
                Ok(())
            }
            Mode::Ikev2Proposal(name) => {
                let p = self.config.ikev2.proposals.get_mut(name).expect("exists");
                ikev2_proposal_command(p, line)
            }
            Mode::Ikev2Policy(name) => {
                let p = self.config.ikev2.policies.get_mut(name).expect("exists");
                ikev2_policy_command(p, line)
            }
            Mode::Ikev2Keyring(name) => {
                let mut c = Cursor::new(line);
                c.keyword("'peer'", &["peer"])?;
                let peer = c.word("a peer name")?;
                c.end()?;
                let keyring = self.config.ikev2.keyrings.get_mut(name).expect("exists");
                keyring
                    .peers
                    .entry(peer.value.clone())
                    .or_insert_with(|| Ikev2KeyringPeer {
                        span: peer.span,
                        name: peer.clone(),
                        address: None,
                        hostname: None,
                        identity: None,
                        pre_shared_key: None,
                        pre_shared_key_local: None,
                        pre_shared_key_remote: None,
                    });
                self.stack
                    .push(Mode::Ikev2KeyringPeer(name.clone(), peer.value));
                Ok(())
            }
            Mode::Ikev2KeyringPeer(keyring, peer) => {
                let p = self
                    .config
                    .ikev2
                    .keyrings
                    .get_mut(keyring)
                    .and_then(|k| k.peers.get_mut(peer))
                    .expect("exists");
                ikev2_keyring_peer_command(p, line)
            }
            Mode::Ikev2Profile(name) => {
                let p = self.config.ikev2.profiles.get_mut(name).expect("exists");
                ikev2_profile_command(p, line)
            }
            Mode::AccessList(name) => {
                let mut c = Cursor::new(line);
                let seq = if c.next_is_number() {
                    Some(c.number("sequence number", 1u32, 2_147_483_647)?.value)
                } else {
                    None
                };
                let acl = self.config.access_lists.get_mut(name).expect("exists");
                Self::acl_line(acl, &mut c, seq)
            }
            Mode::Router(i) => router_command(&mut self.config.routers[*i], line),
            Mode::RouteMap(name, seq) => {
                let entry = self
                    .config
                    .route_maps
                    .get_mut(name)
                    .and_then(|m| m.get_mut(seq))
                    .expect("exists");
                let mut warnings = Vec::new();
                route_map_command(entry, line, &mut warnings)?;
                self.diagnostics.extend(warnings);
                Ok(())
            }
            Mode::Vrf(name) | Mode::VrfAddressFamily(name) => {
                let mut c = Cursor::new(line);
                let kw = c.keyword(
                    "a vrf command",
                    &[
                        "rd",
                        "route-target",
                        "address-family",
                        "exit-address-family",
                    ],
                )?;
                let vrf = self.config.vrfs.get_mut(name).expect("exists");
                match kw.value {
                    "rd" => {
                        let rd = c.word("a route distinguisher (ASN:NN or A.B.C.D:NN)")?;
                        if !rd.value.contains(':') {
                            return err(Diagnostic::error(
                                Code::InvalidValue,
                                rd.span,
                                format!("invalid route distinguisher '{}': expected ASN:NN or A.B.C.D:NN", rd.value),
                            ));
                        }
                        vrf.rd = Some(rd);
                    }
                    "route-target" => {
                        let dir = c.keyword(
                            "'import', 'export' or 'both'",
                            &["import", "export", "both"],
                        )?;
                        let value = c.word("a route target")?;
                        let dir = match dir.value {
                            "import" => RouteTargetDir::Import,
                            "export" => RouteTargetDir::Export,
                            _ => RouteTargetDir::Both,
                        };
                        vrf.route_targets
                            .push(Spanned::new((dir, value.value), value.span));
                    }
                    "address-family" => {
                        c.keyword("'ipv4'", &["ipv4"])?;
                        c.end()?;
                        self.stack.push(Mode::VrfAddressFamily(name.clone()));
                        return Ok(());
                    }
                    _ => {
                        c.end()?;
                        if matches!(self.stack.last(), Some(Mode::VrfAddressFamily(_))) {
                            self.stack.pop();
                        }
                        return Ok(());
                    }
                }
                c.end()
            }
            Mode::Ezvpn(name) => {
                let client = self.config.ezvpn_clients.get_mut(name).expect("exists");
                ezvpn_command(client, line)
            }
        }
    }
}

impl Cursor<'_, '_> {
    /// Whether the next token looks like an interface number (`0/0`, `1`, `0/1.100`).
    fn next_is_number_like(&self) -> bool {
        self.peek()
            .is_some_and(|t| t.text.as_bytes()[0].is_ascii_digit())
    }
}

/// Whether a line opens a block (so that its sub-lines are skipped if the header fails).
fn is_block_header(line: &Line<'_>) -> bool {
    let words: Vec<String> = line
        .tokens
        .iter()
        .take(3)
        .map(|t| t.text.to_ascii_lowercase())
        .collect();
    let w = |i: usize| words.get(i).map_or("", String::as_str);
    matches!(w(0), "interface" | "router" | "route-map")
        || (w(0) == "crypto"
            && matches!(
                w(1),
                "map" | "dynamic-map" | "keyring" | "isakmp" | "ikev2" | "ipsec"
            ))
        || (w(0) == "ip" && matches!(w(1), "vrf" | "access-list"))
        || (w(0) == "vrf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_canonical() {
        assert_eq!(canonical_interface("fa0/0"), "FastEthernet0/0");
        assert_eq!(
            canonical_interface("GIGABITETHERNET1/0/1"),
            "GigabitEthernet1/0/1"
        );
        assert_eq!(canonical_interface("serial1"), "Serial1");
        assert_eq!(canonical_interface("vlan0.1"), "Vlan0.1");
        assert_eq!(
            canonical_interface("Virtual-Template1"),
            "Virtual-Template1"
        );
        assert_eq!(canonical_interface("dpdk0"), "dpdk0");
    }

    #[test]
    fn lcore_lists() {
        assert_eq!(lcore_list("1,2"), Some(vec![1, 2]));
        assert_eq!(lcore_list("1-3,5"), Some(vec![1, 2, 3, 5]));
        assert_eq!(lcore_list("3-1"), None);
        assert_eq!(lcore_list("x"), None);
    }
}
