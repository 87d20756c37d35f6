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

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::cursor::{hex_bytes, is_keyword, unexpected, Cursor, Parsed};
use crate::diag::{Code, Diagnostic};
use crate::lex::{self, Line};
use crate::model::*;
use crate::span::{Span, Spanned};
use crate::suggest;

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
    for line in lex::lines(text) {
        parser.line(&line);
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
                "encr",
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
            if let Some(k) = is_keyword(first.text, mode.keywords()) {
                self.stack.truncate(depth);
                if k == "exit" {
                    self.stack.pop();
                    return;
                }
                let result = self.mode_command(&mode, line);
                let result = match result {
                    // "ip route ..." inside an interface block: the word fits the mode but the
                    // line is a global command, which IOS then runs at global level.
                    Err(mode_error) if is_keyword(first.text, GLOBAL).is_some() => {
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

    fn interface_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let first = c.word("an interface name")?;
        let mut name = first.value.clone();
        let mut span = first.span;
        // "interface FastEthernet 0/0": IOS accepts the number as a separate word.
        if !name.bytes().any(|b| b.is_ascii_digit()) && c.next_is_number_like() {
            let num = c.word("an interface number")?;
            name.push_str(&num.value);
            span = span.to(num.span);
        }
        let name = Spanned::new(canonical_interface(&name), span);
        let type_tunnel = if c.opt_keyword(&["type"]).is_some() {
            c.keyword("'tunnel'", &["tunnel"])?;
            true
        } else {
            false
        };
        c.end()?;
        let index = match self
            .config
            .interfaces
            .iter()
            .position(|i| i.name.value == name.value)
        {
            Some(i) => i,
            None => {
                self.config.interfaces.push(Interface::new(name));
                self.config.interfaces.len() - 1
            }
        };
        self.config.interfaces[index].type_tunnel |= type_tunnel;
        self.stack.push(Mode::Interface(index));
        Ok(())
    }

    fn interface_command(&mut self, index: usize, line: &Line<'_>) -> Parsed<()> {
        let mut c = Cursor::new(line);
        let kw = c.keyword("an interface command", Mode::Interface(0).keywords())?;
        let mut warnings = Vec::new();
        let iface = &mut self.config.interfaces[index];
        match kw.value {
            "description" => iface.description = Some(c.rest("a description")?),
            "ip" => {
                let sub = c.keyword(
                    "an interface ip command",
                    &["address", "unnumbered", "vrf", "mtu"],
                )?;
                match sub.value {
                    "address" => {
                        let addr = c.ipv4("interface address")?;
                        let len = if c.at_end() {
                            // Cisco's real-time resolution example omits the mask.
                            let len = classful_len(addr.value);
                            warnings.push(Diagnostic::warning(
                                Code::MissingValueAssumed,
                                c.here(),
                                format!(
                                    "'ip address' without a mask: assuming the classful mask {}",
                                    Ipv4Addr::from(mask_bits(len))
                                ),
                            ));
                            Spanned::new(len, addr.span)
                        } else {
                            c.mask("interface mask")?
                        };
                        let secondary = c.opt_keyword(&["secondary"]).is_some();
                        c.end()?;
                        let value = Spanned::new(
                            InterfaceAddress {
                                addr: addr.value,
                                len: len.value,
                            },
                            addr.span.to(len.span),
                        );
                        if secondary {
                            iface.secondary_addresses.push(value);
                        } else {
                            iface.address = Some(value);
                        }
                    }
                    "unnumbered" => {
                        let target = if c.at_end() {
                            warnings.push(Diagnostic::warning(
                                Code::MissingValueAssumed,
                                c.here(),
                                "'ip unnumbered' without an interface: the interface borrows no address",
                            ));
                            Spanned::new(None, sub.span)
                        } else {
                            let w = c.word("an interface")?;
                            Spanned::new(Some(canonical_interface(&w.value)), w.span)
                        };
                        c.end()?;
                        iface.unnumbered = Some(target);
                    }
                    "vrf" => {
                        c.keyword("'forwarding'", &["forwarding"])?;
                        let name = c.word("a VRF name")?;
                        c.end()?;
                        iface.vrf = Some(Spanned::new(
                            VrfBinding {
                                name: name.value,
                                legacy: true,
                            },
                            name.span,
                        ));
                    }
                    "mtu" => {
                        iface.ip_mtu = Some(c.number("ip mtu", 68u16, 9216)?);
                        c.end()?;
                    }
                    _ => unreachable!(),
                }
            }
            "crypto" => {
                c.keyword("'map'", &["map"])?;
                let name = c.word("a crypto map name")?;
                let mut value = InterfaceCryptoMap {
                    name: name.value,
                    redundancy: None,
                    stateful: false,
                };
                if c.opt_keyword(&["redundancy"]).is_some() {
                    value.redundancy = Some(c.word("a standby group name")?.value);
                    value.stateful = c.opt_keyword(&["stateful"]).is_some();
                }
                c.end()?;
                iface.crypto_map = Some(Spanned::new(value, name.span));
            }
            "standby" => iface.standby.push(c.rest("a standby command")?),
            "vrf" => {
                c.keyword("'forwarding'", &["forwarding"])?;
                let name = c.word("a VRF name")?;
                c.end()?;
                iface.vrf = Some(Spanned::new(
                    VrfBinding {
                        name: name.value,
                        legacy: false,
                    },
                    name.span,
                ));
            }
            "tunnel" => {
                let sub = c.keyword(
                    "a tunnel command",
                    &["mode", "protection", "source", "destination"],
                )?;
                match sub.value {
                    "mode" => {
                        let m = c.keyword("'ipsec' or 'gre'", &["ipsec", "gre"])?;
                        let mode = if m.value == "ipsec" {
                            c.keyword("'ipv4'", &["ipv4"])?;
                            TunnelMode::IpsecIpv4
                        } else {
                            c.keyword("'ip'", &["ip"])?;
                            TunnelMode::GreIp
                        };
                        c.end()?;
                        iface.tunnel_mode = Some(Spanned::new(mode, m.span));
                    }
                    "protection" => {
                        c.keyword("'ipsec'", &["ipsec"])?;
                        c.keyword("'profile'", &["profile"])?;
                        let name = c.word("an IPsec profile name")?;
                        c.end()?;
                        iface.tunnel_protection = Some(name);
                    }
                    "source" => {
                        let w = c.word("a source interface or address")?;
                        c.end()?;
                        let v = if w.value.parse::<Ipv4Addr>().is_ok() {
                            w.value.clone()
                        } else {
                            canonical_interface(&w.value)
                        };
                        iface.tunnel_source = Some(Spanned::new(v, w.span));
                    }
                    _ => {
                        iface.tunnel_destination = Some(c.ipv4("tunnel destination")?);
                        c.end()?;
                    }
                }
            }
            "shutdown" => {
                c.end()?;
                iface.shutdown = true;
            }
            "no" => {
                let what = c.keyword("'shutdown' or 'ip address'", &["shutdown", "ip"])?;
                if what.value == "ip" {
                    c.keyword("'address'", &["address"])?;
                    iface.address = None;
                    iface.secondary_addresses.clear();
                } else {
                    iface.shutdown = false;
                }
                c.end()?;
            }
            "mtu" => {
                iface.mtu = Some(c.number("mtu", 64u16, 9216)?);
                c.end()?;
            }
            "mac-address" => {
                let w = c.word("a MAC address (HHHH.HHHH.HHHH)")?;
                c.end()?;
                let mac = parse_mac(&w.value).ok_or_else(|| {
                    Box::new(Diagnostic::error(
                        Code::InvalidValue,
                        w.span,
                        format!("invalid MAC address '{}': expected HHHH.HHHH.HHHH", w.value),
                    ))
                })?;
                iface.mac_address = Some(Spanned::new(mac, w.span));
            }
            "dpdk" => {
                c.keyword("'device'", &["device"])?;
                let kind = c.keyword("'vdev' or 'pci'", &["vdev", "pci"])?;
                let spec = c.word("a device")?;
                c.end()?;
                let dev = if kind.value == "vdev" {
                    DpdkDevice::Vdev(spec.value)
                } else {
                    DpdkDevice::Pci(spec.value)
                };
                iface.dpdk_device = Some(Spanned::new(dev, spec.span));
            }
            _ => unreachable!(),
        }
        self.diagnostics.extend(warnings);
        Ok(())
    }

    // ---------------------------------------------------------------- access lists

    fn numbered_acl(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let num = c.number("access list number", 1u32, 2699)?;
        let kind = match num.value {
            1..=99 | 1300..=1999 => AclKind::Standard,
            100..=199 | 2000..=2699 => AclKind::Extended,
            _ => {
                return err(Diagnostic::error(
                    Code::InvalidValue,
                    num.span,
                    format!(
                        "access list {} is not an IP access list: standard lists are 1-99 and \
                         1300-1999, extended 100-199 and 2000-2699",
                        num.value
                    ),
                ))
            }
        };
        let name = AclName::Number(num.value);
        if let Some(existing) = self.config.access_lists.get_mut(&name) {
            return Self::acl_line(existing, c, None);
        }
        // The list exists only once a line of it parses.
        let mut acl = AccessList {
            name: name.clone(),
            kind,
            entries: Vec::new(),
            remarks: Vec::new(),
            span: num.span,
        };
        Self::acl_line(&mut acl, c, None)?;
        self.config.access_lists.insert(name, acl);
        Ok(())
    }

    fn acl_entry_point(&mut self, name: AclName, kind: AclKind, span: Span) -> &mut AccessList {
        self.config
            .access_lists
            .entry(name.clone())
            .or_insert_with(|| AccessList {
                name,
                kind,
                entries: Vec::new(),
                remarks: Vec::new(),
                span,
            })
    }

    fn named_acl_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let kind = c.keyword("'standard' or 'extended'", &["standard", "extended"])?;
        let name = c.word("an access list name")?;
        c.end()?;
        let kind = if kind.value == "standard" {
            AclKind::Standard
        } else {
            AclKind::Extended
        };
        let acl_name =
            match name.value.parse::<u32>() {
                Ok(n) => {
                    let standard = matches!(n, 1..=99 | 1300..=1999);
                    let extended = matches!(n, 100..=199 | 2000..=2699);
                    if (kind == AclKind::Standard && !standard)
                        || (kind == AclKind::Extended && !extended)
                    {
                        return err(Diagnostic::error(
                            Code::InvalidValue,
                            name.span,
                            format!(
                            "access list number {n} is outside the {} ranges (standard 1-99 and \
                             1300-1999, extended 100-199 and 2000-2699)",
                            if standard || extended { "matching" } else { "IP" }
                        ),
                        ));
                    }
                    AclName::Number(n)
                }
                Err(_) => AclName::Name(name.value.clone()),
            };
        let acl = self.acl_entry_point(acl_name.clone(), kind, name.span);
        if acl.kind != kind {
            return err(Diagnostic::error(
                Code::Inconsistent,
                name.span,
                format!("access list {} exists with the other kind", name.value),
            ));
        }
        self.stack.push(Mode::AccessList(acl_name));
        Ok(())
    }

    fn acl_line(acl: &mut AccessList, c: &mut Cursor<'_, '_>, seq: Option<u32>) -> Parsed<()> {
        let start = c.here();
        let action = c.keyword(
            "'permit', 'deny' or 'remark'",
            &["permit", "deny", "remark"],
        )?;
        if action.value == "remark" {
            acl.remarks.push(c.rest("a remark")?);
            return Ok(());
        }
        let action = if action.value == "permit" {
            Action::Permit
        } else {
            Action::Deny
        };
        let entry = match acl.kind {
            AclKind::Standard => {
                let src = addr_match(c, "source")?;
                let log = c.opt_keyword(&["log"]).is_some();
                c.end()?;
                AclEntry {
                    seq,
                    action,
                    protocol: Protocol::Ip,
                    src,
                    src_port: None,
                    dst: AddrMatch::Any,
                    dst_port: None,
                    icmp: None,
                    log,
                }
            }
            AclKind::Extended => extended_entry(c, seq, action)?,
        };
        let span = start.to(c.prev_span());
        acl.entries.push(Spanned::new(entry, span));
        Ok(())
    }

    // ---------------------------------------------------------------- crypto

    /// rri extension: `crypto peer backoff INITIAL-MS MAXIMUM-MS` and
    /// `crypto peer dampening HALF-LIFE REUSE SUPPRESS MAX-SUPPRESS`.
    fn crypto_peer(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let start = c.prev_span();
        let kw = c.keyword("'backoff' or 'dampening'", &["backoff", "dampening"])?;
        if kw.value == "backoff" {
            let initial = c.number("the initial backoff in milliseconds", 0u32, 3_600_000)?;
            let maximum = c.number("the maximum backoff in milliseconds", 0u32, 3_600_000)?;
            c.end()?;
            if maximum.value < initial.value {
                return Err(Box::new(Diagnostic::error(
                    Code::InvalidValue,
                    maximum.span,
                    "the maximum backoff is smaller than the initial one",
                )));
            }
            self.config.peer_policy.backoff = Some(Spanned::new(
                PeerBackoff {
                    initial_ms: initial.value,
                    maximum_ms: maximum.value,
                },
                start.to(c.prev_span()),
            ));
        } else {
            let half_life = c.number("the half-life in seconds", 1u32, 3600)?;
            let reuse = c.number("the reuse penalty", 1u32, 20000)?;
            let suppress = c.number("the suppress penalty", 1u32, 20000)?;
            let max_suppress = c.number("the longest suppression in seconds", 1u32, 86400)?;
            c.end()?;
            if reuse.value >= suppress.value {
                return Err(Box::new(Diagnostic::error(
                    Code::InvalidValue,
                    reuse.span,
                    "the reuse penalty must be below the suppress penalty",
                )));
            }
            self.config.peer_policy.dampening = Some(Spanned::new(
                PeerDampening {
                    half_life_s: half_life.value,
                    reuse: reuse.value,
                    suppress: suppress.value,
                    max_suppress_s: max_suppress.value,
                },
                start.to(c.prev_span()),
            ));
        }
        Ok(())
    }

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

    fn crypto_map_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let name = c.word("a crypto map name")?;
        if c.opt_keyword(&["local-address"]).is_some() {
            let iface = c.word("an interface")?;
            c.end()?;
            let map = self.crypto_map_entry_point(&name);
            map.local_address = Some(Spanned::new(canonical_interface(&iface.value), iface.span));
            return Ok(());
        }
        let seq = c.number("sequence number", 1u32, 65535)?;
        let kind = match c.opt_keyword(&["ipsec-isakmp", "ipsec-manual"]) {
            Some(k) if k.value == "ipsec-manual" => CryptoMapKind::Manual,
            Some(_) => {
                if c.opt_keyword(&["dynamic"]).is_some() {
                    CryptoMapKind::Dynamic(c.word("a dynamic map name")?)
                } else {
                    CryptoMapKind::Isakmp
                }
            }
            None => CryptoMapKind::Isakmp,
        };
        c.end_or(
            "'ipsec-isakmp' or 'ipsec-manual'",
            &["ipsec-isakmp", "ipsec-manual"],
        )?;
        let span = name.span;
        let map = self.crypto_map_entry_point(&name);
        match map.entries.get_mut(&seq.value) {
            Some(existing) if existing.kind != kind => {
                return err(Diagnostic::error(
                    Code::Inconsistent,
                    seq.span,
                    format!(
                    "crypto map {} {} exists with another kind; remove it before changing its kind",
                    name.value, seq.value
                ),
                ))
            }
            Some(_) => {}
            None => {
                map.entries.insert(
                    seq.value,
                    CryptoMapEntry {
                        seq,
                        kind: kind.clone(),
                        body: MapEntryBody::default(),
                        span,
                    },
                );
            }
        }
        if matches!(kind, CryptoMapKind::Dynamic(_)) {
            // An entry that points at a dynamic map has no sub-commands of its own.
            return Ok(());
        }
        self.stack.push(Mode::CryptoMap(name.value, seq.value));
        Ok(())
    }

    fn crypto_map_entry_point(&mut self, name: &Spanned<String>) -> &mut CryptoMap {
        self.config
            .crypto_maps
            .entry(name.value.clone())
            .or_insert_with(|| CryptoMap {
                name: name.clone(),
                local_address: None,
                entries: BTreeMap::new(),
            })
    }

    fn dynamic_map_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let name = c.word("a dynamic map name")?;
        let seq = if c.at_end() {
            // Cisco's distance example writes "crypto dynamic-map mymap" with no number.
            let here = c.here();
            self.warn(
                Code::MissingValueAssumed,
                here,
                "'crypto dynamic-map' without a sequence number: using 1",
            );
            Spanned::new(1, name.span)
        } else {
            c.number("sequence number", 1u32, 65535)?
        };
        c.end()?;
        let map = self
            .config
            .dynamic_maps
            .entry(name.value.clone())
            .or_insert_with(|| DynamicMap {
                name: name.clone(),
                entries: BTreeMap::new(),
            });
        map.entries
            .entry(seq.value)
            .or_insert_with(|| DynamicMapEntry {
                seq,
                body: MapEntryBody::default(),
                span: name.span,
            });
        self.stack.push(Mode::DynamicMap(name.value, seq.value));
        Ok(())
    }

    fn crypto_ipsec(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let kw = c.keyword(
            "an ipsec command",
            &[
                "transform-set",
                "profile",
                "security-association",
                "df-bit",
                "client",
            ],
        )?;
        match kw.value {
            "transform-set" => {
                let name = c.word("a transform set name")?;
                let mut transforms = Vec::new();
                while !c.at_end() {
                    transforms.push(transform(c)?);
                }
                if transforms.is_empty() {
                    return err(Diagnostic::error(
                        Code::Incomplete,
                        c.here(),
                        "incomplete command: expected at least one transform",
                    )
                    .with_note(SUPPORTED_TRANSFORMS));
                }
                self.config.transform_sets.insert(
                    name.value.clone(),
                    TransformSet {
                        span: name.span,
                        name: name.clone(),
                        transforms,
                        mode: None,
                    },
                );
                self.stack.push(Mode::TransformSet(name.value));
                Ok(())
            }
            "profile" => {
                let name = c.word("a profile name")?;
                c.end()?;
                self.config
                    .ipsec_profiles
                    .entry(name.value.clone())
                    .or_insert_with(|| IpsecProfile {
                        span: name.span,
                        name: name.clone(),
                        body: MapEntryBody::default(),
                    });
                self.stack.push(Mode::IpsecProfile(name.value));
                Ok(())
            }
            "security-association" => {
                let sub = c.keyword(
                    "'idle-time', 'lifetime' or 'replay'",
                    &["idle-time", "lifetime", "replay"],
                )?;
                let g = &mut self.config.ipsec_global;
                match sub.value {
                    "idle-time" => g.idle_time = Some(c.number("idle time", 60u32, 86400)?),
                    "lifetime" => {
                        let unit =
                            c.keyword("'seconds' or 'kilobytes'", &["seconds", "kilobytes"])?;
                        if unit.value == "seconds" {
                            g.lifetime_seconds = Some(c.number("lifetime", 120u32, 86400)?);
                        } else {
                            g.lifetime_kilobytes =
                                Some(c.number("lifetime", 2560u64, 4_294_967_295)?);
                        }
                    }
                    _ => {
                        c.keyword("'window-size'", &["window-size"])?;
                        g.replay_window = Some(replay_window(c)?);
                    }
                }
                c.end()
            }
            "df-bit" => {
                let v = c.keyword("'clear', 'set' or 'copy'", &["clear", "set", "copy"])?;
                c.end()?;
                let df = match v.value {
                    "clear" => DfBit::Clear,
                    "set" => DfBit::Set,
                    _ => DfBit::Copy,
                };
                self.config.ipsec_global.df_bit = Some(Spanned::new(df, v.span));
                Ok(())
            }
            _ => {
                c.keyword("'ezvpn'", &["ezvpn"])?;
                let name = c.word("an Easy VPN client name")?;
                c.end()?;
                self.config
                    .ezvpn_clients
                    .entry(name.value.clone())
                    .or_insert_with(|| EzvpnClient {
                        span: name.span,
                        name: name.clone(),
                        connect: None,
                        group: None,
                        mode: None,
                        peers: Vec::new(),
                        username: None,
                        xauth_userid_mode: None,
                        virtual_interface: None,
                    });
                self.stack.push(Mode::Ezvpn(name.value));
                Ok(())
            }
        }
    }

    fn crypto_isakmp(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let kw = c.keyword(
            "an isakmp command",
            &["policy", "key", "keepalive", "profile", "enable"],
        )?;
        match kw.value {
            "policy" => {
                let prio = c.number("policy priority", 1u32, 10000)?;
                c.end()?;
                self.config
                    .isakmp
                    .policies
                    .entry(prio.value)
                    .or_insert_with(|| IsakmpPolicy {
                        span: prio.span,
                        priority: prio,
                        encryption: None,
                        hash: None,
                        authentication: None,
                        group: None,
                        lifetime: None,
                    });
                self.stack.push(Mode::IsakmpPolicy(prio.value));
                Ok(())
            }
            "key" => {
                let key = isakmp_key(c, false)?;
                self.config.isakmp.keys.push(key);
                Ok(())
            }
            "keepalive" => {
                let k = keepalive(c, 10, 3600)?;
                self.config.isakmp.keepalive = Some(k);
                Ok(())
            }
            "profile" => {
                let name = c.word("a profile name")?;
                c.end()?;
                self.config
                    .isakmp
                    .profiles
                    .entry(name.value.clone())
                    .or_insert_with(|| IsakmpProfile {
                        span: name.span,
                        name: name.clone(),
                        keyring: None,
                        match_identities: Vec::new(),
                        client_authentication_list: None,
                        isakmp_authorization_list: None,
                        client_configuration_address: None,
                        virtual_template: None,
                        keepalive: None,
                        self_identity: None,
                    });
                self.stack.push(Mode::IsakmpProfile(name.value));
                Ok(())
            }
            _ => c.end(),
        }
    }

    fn crypto_ikev2(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let kw = c.keyword(
            "an ikev2 command",
            &[
                "proposal",
                "policy",
                "keyring",
                "profile",
                "dpd",
                "cookie-challenge",
                "limit",
            ],
        )?;
        let ik = &mut self.config.ikev2;
        match kw.value {
            "dpd" => {
                let interval = c.number("dpd interval", 10u32, 3600)?;
                let retry = c.number("dpd retry interval", 2u32, 60)?;
                let mode = dpd_mode(c, true)?;
                c.end()?;
                ik.dpd = Some(Spanned::new(
                    Keepalive {
                        interval: interval.value,
                        retry: Some(retry.value),
                        mode,
                    },
                    interval.span,
                ));
                return Ok(());
            }
            "cookie-challenge" => {
                ik.cookie_challenge = Some(c.number("half-open SA threshold", 1u32, 1000)?);
                return c.end();
            }
            "limit" => {
                let which = c.keyword("a limit", &["max-sa", "max-in-negotiation-sa"])?;
                let n = c.number("a number of SAs", 1u32, 100_000)?;
                if which.value == "max-sa" {
                    ik.limit_max_sa = Some(n);
                } else {
                    // IOS may add `incoming` or `outgoing`; rri's bound is on responder
                    // (incoming) SAs, so only that or nothing is accepted.
                    if !c.at_end() {
                        c.keyword("incoming", &["incoming"])?;
                    }
                    ik.limit_max_in_negotiation = Some(n);
                }
                return c.end();
            }
            _ => {}
        }
        let name = c.word("a name")?;
        c.end()?;
        let (n, span) = (name.value.clone(), name.span);
        let mode = match kw.value {
            "proposal" => {
                ik.proposals
                    .entry(n.clone())
                    .or_insert_with(|| Ikev2Proposal {
                        name,
                        encryption: Vec::new(),
                        prf: Vec::new(),
                        integrity: Vec::new(),
                        groups: Vec::new(),
                        span,
                    });
                Mode::Ikev2Proposal(n)
            }
            "policy" => {
                ik.policies.entry(n.clone()).or_insert_with(|| Ikev2Policy {
                    name,
                    proposals: Vec::new(),
                    match_local: Vec::new(),
                    match_fvrf: None,
                    span,
                });
                Mode::Ikev2Policy(n)
            }
            "keyring" => {
                ik.keyrings
                    .entry(n.clone())
                    .or_insert_with(|| Ikev2Keyring {
                        name,
                        peers: BTreeMap::new(),
                        span,
                    });
                Mode::Ikev2Keyring(n)
            }
            _ => {
                ik.profiles
                    .entry(n.clone())
                    .or_insert_with(|| Ikev2Profile {
                        name,
                        match_remote: Vec::new(),
                        match_local_address: Vec::new(),
                        identity_local: None,
                        auth_local: None,
                        auth_remote: None,
                        keyring: None,
                        dpd: None,
                        lifetime: None,
                        virtual_template: None,
                        nat_keepalive: None,
                        span,
                    });
                Mode::Ikev2Profile(n)
            }
        };
        self.stack.push(mode);
        Ok(())
    }

    // ---------------------------------------------------------------- routers, route maps, vrfs

    fn router_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let start = c.prev_span();
        let protocol = routing_protocol(c, &["ospf", "bgp", "eigrp", "rip"])?;
        c.end()?;
        let index = match self
            .config
            .routers
            .iter()
            .position(|r| r.protocol == protocol)
        {
            Some(i) => i,
            None => {
                self.config.routers.push(RouterProcess {
                    protocol,
                    router_id: None,
                    redistribute: Vec::new(),
                    networks: Vec::new(),
                    neighbors: Vec::new(),
                    span: start,
                });
                self.config.routers.len() - 1
            }
        };
        self.stack.push(Mode::Router(index));
        Ok(())
    }

    fn route_map_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
        let name = c.word("a route-map name")?;
        let action = match c.opt_keyword(&["permit", "deny"]) {
            Some(a) if a.value == "deny" => Action::Deny,
            _ => Action::Permit,
        };
        let seq = if c.at_end() {
            Spanned::new(10, name.span)
        } else {
            c.number("sequence number", 0u32, 65535)?
        };
        c.end()?;
        self.config
            .route_maps
            .entry(name.value.clone())
            .or_default()
            .entry(seq.value)
            .or_insert_with(|| RouteMapEntry {
                action,
                seq,
                match_tags: Vec::new(),
                match_ip_address: Vec::new(),
                set_metric: None,
                set_metric_type: None,
                set_tag: None,
                span: name.span,
            })
            .action = action;
        self.stack.push(Mode::RouteMap(name.value, seq.value));
        Ok(())
    }

    fn vrf_header(&mut self, name: Spanned<String>, style: VrfStyle) {
        let key = name.value.clone();
        self.config.vrfs.entry(key.clone()).or_insert_with(|| Vrf {
            span: name.span,
            name,
            style,
            rd: None,
            route_targets: Vec::new(),
        });
        self.stack.push(Mode::Vrf(key));
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

// -------------------------------------------------------------------- shared pieces

/// Where a crypto map body is being parsed: what is allowed differs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    CryptoMap { manual: bool },
    DynamicMap,
    IpsecProfile,
}

const SUPPORTED_TRANSFORMS: &str =
    "rri's data plane supports esp-gcm 128, esp-gcm 256 and esp-chacha20-poly1305";

fn map_body_command(
    body: &mut MapEntryBody,
    line: &Line<'_>,
    kind: BodyKind,
    warnings: &mut Vec<Diagnostic>,
) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let keywords: &[&str] = match kind {
        BodyKind::IpsecProfile => &["description", "set", "reverse-route"],
        _ => &["description", "match", "set", "reverse-route"],
    };
    let kw = c.keyword("a crypto map command", keywords)?;
    match kw.value {
        "description" => body.description = Some(c.rest("a description")?),
        "match" => {
            c.keyword("'address'", &["address"])?;
            let acl = c.word("an access list number or name")?;
            c.end()?;
            body.match_address = Some(Spanned::new(acl_name(&acl.value), acl.span));
        }
        "reverse-route" => {
            let rr = reverse_route(&mut c, warnings)?;
            body.reverse_route = Some(Spanned::new(rr, kw.span.to(c.prev_span())));
        }
        _ => {
            let set_keywords: &[&str] = match kind {
                BodyKind::CryptoMap { manual: true } => &[
                    "peer",
                    "transform-set",
                    "reverse-route",
                    "security-association",
                    "session-key",
                ],
                BodyKind::IpsecProfile => &[
                    "transform-set",
                    "reverse-route",
                    "security-association",
                    "isakmp-profile",
                    "ikev2-profile",
                    "pfs",
                ],
                _ => &[
                    "peer",
                    "transform-set",
                    "reverse-route",
                    "security-association",
                    "isakmp-profile",
                    "ikev2-profile",
                    "pfs",
                ],
            };
            let what = c.keyword("a set command", set_keywords)?;
            match what.value {
                "peer" => {
                    let target = c.word("a peer address or host name")?;
                    let mut spec = PeerSpec {
                        target: match target.value.parse::<Ipv4Addr>() {
                            Ok(a) => PeerTarget::Address(a),
                            Err(_) => PeerTarget::Host {
                                name: target.value.clone(),
                                dynamic: false,
                            },
                        },
                        default: false,
                    };
                    while let Some(opt) = c.opt_keyword(&["dynamic", "default"]) {
                        match (opt.value, &mut spec.target) {
                            ("dynamic", PeerTarget::Host { dynamic, .. }) => *dynamic = true,
                            ("dynamic", PeerTarget::Address(_)) => {
                                return err(Diagnostic::error(
                                    Code::UnexpectedToken,
                                    opt.span,
                                    "'dynamic' applies to host names only; an address needs no resolution",
                                ))
                            }
                            _ => spec.default = true,
                        }
                    }
                    c.end_or("'dynamic' or 'default'", &["dynamic", "default"])?;
                    let span = target.span.to(c.prev_span());
                    body.peers.push(Spanned::new(spec, span));
                }
                "transform-set" => {
                    let mut names = Vec::new();
                    while !c.at_end() {
                        names.push(c.word("a transform set name")?);
                    }
                    if names.is_empty() {
                        return err(Diagnostic::error(
                            Code::Incomplete,
                            c.here(),
                            "incomplete command: expected one to six transform set names",
                        ));
                    }
                    if names.len() > 6 {
                        return err(Diagnostic::error(
                            Code::InvalidValue,
                            names[6].span,
                            "at most six transform sets can be listed",
                        ));
                    }
                    body.transform_sets = names;
                }
                "reverse-route" => {
                    let opt = c.keyword("'distance' or 'tag'", &["distance", "tag"])?;
                    if opt.value == "distance" {
                        body.rri_distance = Some(c.number("distance", 1u8, 255)?);
                    } else {
                        body.rri_tag = Some(c.number("tag", 1u32, u32::MAX)?);
                    }
                    c.end()?;
                }
                "security-association" => {
                    let opt = c.keyword(
                        "'idletime', 'lifetime' or 'replay'",
                        &["idletime", "idle-time", "lifetime", "replay"],
                    )?;
                    match opt.value {
                        "idletime" | "idle-time" => {
                            let secs = c.number("idle time", 60u32, 86400)?;
                            let default_peer = c.opt_keyword(&["default"]).is_some();
                            c.end()?;
                            body.idle_time = Some(Spanned::new(
                                IdleTime {
                                    seconds: secs.value,
                                    default_peer,
                                },
                                secs.span,
                            ));
                        }
                        "lifetime" => {
                            let unit =
                                c.keyword("'seconds' or 'kilobytes'", &["seconds", "kilobytes"])?;
                            if unit.value == "seconds" {
                                body.lifetime_seconds = Some(c.number("lifetime", 120u32, 86400)?);
                            } else {
                                body.lifetime_kilobytes =
                                    Some(c.number("lifetime", 2560u64, 4_294_967_295)?);
                            }
                            c.end()?;
                        }
                        _ => {
                            let r = c.keyword(
                                "'window-size' or 'disable'",
                                &["window-size", "disable"],
                            )?;
                            let value = if r.value == "disable" {
                                Spanned::new(Replay::Disabled, r.span)
                            } else {
                                let w = replay_window(&mut c)?;
                                Spanned::new(Replay::WindowSize(w.value), w.span)
                            };
                            c.end()?;
                            body.replay = Some(value);
                        }
                    }
                }
                "isakmp-profile" => {
                    body.isakmp_profile = Some(c.word("an isakmp profile name")?);
                    c.end()?;
                }
                "ikev2-profile" => {
                    body.ikev2_profile = Some(c.word("an ikev2 profile name")?);
                    c.end()?;
                }
                "pfs" => {
                    let g = if c.at_end() {
                        Spanned::new(DhGroup::Group(1), what.span)
                    } else {
                        dh_group(&mut c)?
                    };
                    c.end()?;
                    body.pfs = Some(g);
                }
                _ => {
                    let dir = c.keyword("'inbound' or 'outbound'", &["inbound", "outbound"])?;
                    c.keyword("'esp'", &["esp"])?;
                    let spi = c.number("SPI", 256u32, u32::MAX)?;
                    c.keyword("'cipher'", &["cipher"])?;
                    let cipher = hex_bytes(&c.word("a hexadecimal key")?)?;
                    let authenticator = if c.opt_keyword(&["authenticator"]).is_some() {
                        Some(hex_bytes(&c.word("a hexadecimal key")?)?)
                    } else {
                        None
                    };
                    c.end()?;
                    let direction = if dir.value == "inbound" {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    };
                    body.session_keys.retain(|k| k.direction != direction);
                    body.session_keys.push(Spanned::new(
                        SessionKey {
                            direction,
                            spi: spi.value,
                            cipher: cipher.into(),
                            authenticator: authenticator.map(SecretBytes::from),
                        },
                        dir.span.to(c.prev_span()),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn reverse_route(c: &mut Cursor<'_, '_>, warnings: &mut Vec<Diagnostic>) -> Parsed<ReverseRoute> {
    let mut rr = ReverseRoute {
        static_routes: false,
        tag: None,
        remote_peer: None,
    };
    const OPTS: &[&str] = &["static", "tag", "remote-peer", "remote"];
    if let Some(opt) = c.opt_keyword(OPTS) {
        match opt.value {
            "static" => rr.static_routes = true,
            "tag" => {
                rr.tag = Some(c.number("tag", 1u32, u32::MAX)?.value);
                rr.static_routes = c.opt_keyword(&["static"]).is_some();
            }
            _ => {
                if opt.value == "remote" {
                    // Cisco's own step examples write "remote peer"; IOS spells it remote-peer.
                    let peer = c.keyword("'peer'", &["peer"])?;
                    warnings.push(Diagnostic::warning(
                        Code::NonCanonicalSpelling,
                        opt.span.to(peer.span),
                        "'reverse-route remote peer' is written 'remote-peer'; read as that",
                    ));
                }
                rr.remote_peer = Some(if c.next_is_ipv4() {
                    let addr = c.ipv4("next hop")?;
                    let gateway = c.opt_keyword(&["gateway"]).is_some();
                    RemotePeer::NextHop {
                        addr: addr.value,
                        gateway,
                    }
                } else {
                    RemotePeer::Interface
                });
                rr.static_routes = c.opt_keyword(&["static"]).is_some();
            }
        }
    }
    c.end_or("'static', 'tag' or 'remote-peer'", OPTS)?;
    Ok(rr)
}

fn replay_window(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<u32>> {
    let w = c.number("replay window size", 64u32, 4096)?;
    if !w.value.is_power_of_two() {
        return err(Diagnostic::error(
            Code::InvalidValue,
            w.span,
            format!(
                "invalid replay window size {}: expected 64, 128, 256, 512, 1024, 2048 or 4096",
                w.value
            ),
        ));
    }
    Ok(w)
}

fn dh_group(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<DhGroup>> {
    let w = c.word("a Diffie-Hellman group (group14, group19, group31, ...)")?;
    let n = w
        .value
        .to_ascii_lowercase()
        .strip_prefix("group")
        .and_then(|n| n.parse::<u16>().ok())
        .filter(|n| [1, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31].contains(n));
    match n {
        Some(n) => Ok(Spanned::new(DhGroup::Group(n), w.span)),
        None => err(Diagnostic::error(
            Code::InvalidValue,
            w.span,
            format!(
                "invalid group '{}': expected group1, group2, group5, group14, group15, group16, \
                 group19, group20, group21, group24 or group31",
                w.value
            ),
        )),
    }
}

fn transform(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<Transform>> {
    const NAMES: &[&str] = &[
        "esp-gcm",
        "esp-gmac",
        "esp-chacha20-poly1305",
        "esp-aes",
        "esp-3des",
        "esp-des",
        "esp-null",
        "esp-sha-hmac",
        "esp-md5-hmac",
        "esp-sha256-hmac",
        "esp-sha384-hmac",
        "esp-sha512-hmac",
        "ah-sha-hmac",
        "ah-md5-hmac",
        "comp-lzs",
    ];
    let t = c.peek().expect("caller checked");
    let name = match NAMES.iter().find(|n| n.eq_ignore_ascii_case(t.text)) {
        Some(n) => *n,
        None => {
            let mut d = *unexpected(t.span, t.text, "a transform", NAMES);
            d.note = Some(SUPPORTED_TRANSFORMS.into());
            return Err(Box::new(d));
        }
    };
    c.pos += 1;
    let bits = |c: &mut Cursor<'_, '_>, allowed: &[u16], default: u16| -> Parsed<u16> {
        if !c.next_is_number() {
            return Ok(default);
        }
        let n = c.number("key size", 0u16, 512)?;
        if !allowed.contains(&n.value) {
            return err(Diagnostic::error(
                Code::InvalidValue,
                n.span,
                format!("invalid key size {}: expected {allowed:?}", n.value),
            ));
        }
        Ok(n.value)
    };
    let value = match name {
        "esp-gcm" => Transform::EspGcm(bits(c, &[128, 256], 128)?),
        "esp-gmac" => Transform::EspGmac(bits(c, &[128, 256], 128)?),
        "esp-aes" => Transform::EspAes(bits(c, &[128, 192, 256], 128)?),
        "esp-chacha20-poly1305" => Transform::EspChacha20Poly1305,
        "esp-3des" => Transform::Esp3des,
        "esp-des" => Transform::EspDes,
        "esp-null" => Transform::EspNull,
        "esp-sha-hmac" => Transform::EspShaHmac,
        "esp-md5-hmac" => Transform::EspMd5Hmac,
        "esp-sha256-hmac" => Transform::EspSha256Hmac,
        "esp-sha384-hmac" => Transform::EspSha384Hmac,
        "esp-sha512-hmac" => Transform::EspSha512Hmac,
        "ah-sha-hmac" => Transform::AhShaHmac,
        "ah-md5-hmac" => Transform::AhMd5Hmac,
        _ => Transform::CompLzs,
    };
    Ok(Spanned::new(value, t.span.to(c.prev_span())))
}

fn isakmp_key(c: &mut Cursor<'_, '_>, in_keyring: bool) -> Parsed<Spanned<IsakmpKey>> {
    // Global: "key KEY address A [M]"; keyring: "pre-shared-key address A [M] key KEY".
    let start = c.here();
    let mut key = None;
    if !in_keyring {
        key = Some(c.word("a pre-shared key")?.value);
    }
    c.keyword("'address'", &["address"])?;
    let address = c.ipv4("peer address")?.value;
    let len = if c.next_is_ipv4() {
        c.mask("peer mask")?.value
    } else {
        32
    };
    if in_keyring {
        c.keyword("'key'", &["key"])?;
        key = Some(c.word("a pre-shared key")?.value);
    }
    let _ = c.opt_keyword(&["no-xauth"]);
    c.end()?;
    Ok(Spanned::new(
        IsakmpKey {
            key: key.expect("read above").into(),
            address,
            len,
        },
        start.to(c.prev_span()),
    ))
}

fn dpd_mode(c: &mut Cursor<'_, '_>, required: bool) -> Parsed<Option<DpdMode>> {
    let m = if required {
        Some(c.keyword("'periodic' or 'on-demand'", &["periodic", "on-demand"])?)
    } else {
        c.opt_keyword(&["periodic", "on-demand"])
    };
    Ok(m.map(|m| {
        if m.value == "periodic" {
            DpdMode::Periodic
        } else {
            DpdMode::OnDemand
        }
    }))
}

fn keepalive(c: &mut Cursor<'_, '_>, min: u32, max: u32) -> Parsed<Spanned<Keepalive>> {
    let interval = c.number("keepalive interval", min, max)?;
    let retry = if c.opt_keyword(&["retry"]).is_some() || c.next_is_number() {
        Some(c.number("retry interval", 2u32, 60)?.value)
    } else {
        None
    };
    let mode = dpd_mode(c, false)?;
    c.end()?;
    Ok(Spanned::new(
        Keepalive {
            interval: interval.value,
            retry,
            mode,
        },
        interval.span,
    ))
}

fn isakmp_policy_command(p: &mut IsakmpPolicy, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "an isakmp policy command",
        &[
            "encryption",
            "encr",
            "hash",
            "authentication",
            "group",
            "lifetime",
        ],
    )?;
    match kw.value {
        "encryption" | "encr" => p.encryption = Some(c.rest("an encryption algorithm")?),
        "hash" => p.hash = Some(c.rest("a hash algorithm")?),
        "authentication" => p.authentication = Some(c.rest("an authentication method")?),
        "group" => {
            p.group = Some(c.number("group", 1u16, 31)?);
            c.end()?;
        }
        _ => {
            p.lifetime = Some(c.number("lifetime", 60u32, 86400)?);
            c.end()?;
        }
    }
    Ok(())
}

fn isakmp_profile_command(p: &mut IsakmpProfile, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "an isakmp profile command",
        Mode::IsakmpProfile(String::new()).keywords(),
    )?;
    match kw.value {
        "keyring" => {
            p.keyring = Some(c.word("a keyring name")?);
            c.end()?;
        }
        "match" => {
            c.keyword("'identity'", &["identity"])?;
            let k = c.keyword(
                "'group', 'address' or 'host'",
                &["group", "address", "host"],
            )?;
            let m = match k.value {
                "group" => IdentityMatch::Group(c.word("a group name")?.value),
                "host" => IdentityMatch::Host(c.word("a host name")?.value),
                _ => {
                    let addr = c.ipv4("address")?.value;
                    let len = if c.next_is_ipv4() {
                        c.mask("mask")?.value
                    } else {
                        32
                    };
                    let vrf = if c.at_end() {
                        None
                    } else {
                        Some(c.word("a VRF name")?.value)
                    };
                    IdentityMatch::Address { addr, len, vrf }
                }
            };
            c.end()?;
            p.match_identities.push(Spanned::new(m, k.span));
        }
        "client" => {
            let k = c.keyword(
                "'authentication' or 'configuration'",
                &["authentication", "configuration"],
            )?;
            if k.value == "authentication" {
                c.keyword("'list'", &["list"])?;
                p.client_authentication_list = Some(c.word("a list name")?);
            } else {
                c.keyword("'address'", &["address"])?;
                let v = c.keyword("'initiate' or 'respond'", &["initiate", "respond"])?;
                p.client_configuration_address = Some(Spanned::new(v.value.to_string(), v.span));
            }
            c.end()?;
        }
        "isakmp" => {
            c.keyword("'authorization'", &["authorization"])?;
            c.keyword("'list'", &["list"])?;
            p.isakmp_authorization_list = Some(c.word("a list name")?);
            c.end()?;
        }
        "virtual-template" => {
            p.virtual_template = Some(c.number("virtual template", 1u32, 65535)?);
            c.end()?;
        }
        "keepalive" => p.keepalive = Some(keepalive(&mut c, 10, 3600)?),
        "self-identity" => p.self_identity = Some(c.rest("an identity")?),
        _ => unreachable!(),
    }
    Ok(())
}

fn ikev2_proposal_command(p: &mut Ikev2Proposal, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "an ikev2 proposal command",
        &["encryption", "prf", "integrity", "group"],
    )?;
    if c.at_end() {
        return err(Diagnostic::error(
            Code::Incomplete,
            c.here(),
            format!(
                "incomplete command: expected at least one {} algorithm",
                kw.value
            ),
        ));
    }
    while !c.at_end() {
        match kw.value {
            "encryption" => {
                let a = c.keyword(
                    "an encryption algorithm",
                    &[
                        "aes-gcm-128",
                        "aes-gcm-256",
                        "chacha20-poly1305",
                        "aes-cbc-128",
                        "aes-cbc-256",
                        "3des",
                    ],
                )?;
                let v = match a.value {
                    "aes-gcm-128" => Ikev2Cipher::AesGcm128,
                    "aes-gcm-256" => Ikev2Cipher::AesGcm256,
                    "chacha20-poly1305" => Ikev2Cipher::Chacha20Poly1305,
                    "aes-cbc-128" => Ikev2Cipher::AesCbc128,
                    "aes-cbc-256" => Ikev2Cipher::AesCbc256,
                    _ => Ikev2Cipher::TripleDes,
                };
                p.encryption.push(Spanned::new(v, a.span));
            }
            "prf" => {
                let a = c.keyword("a PRF", &["sha256", "sha384", "sha512", "sha1"])?;
                let v = match a.value {
                    "sha256" => Ikev2Prf::Sha256,
                    "sha384" => Ikev2Prf::Sha384,
                    "sha512" => Ikev2Prf::Sha512,
                    _ => Ikev2Prf::Sha1,
                };
                p.prf.push(Spanned::new(v, a.span));
            }
            "integrity" => {
                let a = c.keyword(
                    "an integrity algorithm",
                    &["sha1", "sha256", "sha384", "sha512"],
                )?;
                p.integrity.push(Spanned::new(a.value.to_string(), a.span));
            }
            _ => {
                let g = c.number("Diffie-Hellman group", 1u16, 32)?;
                p.groups.push(g);
            }
        }
    }
    Ok(())
}

fn ikev2_policy_command(p: &mut Ikev2Policy, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword("an ikev2 policy command", &["proposal", "match"])?;
    if kw.value == "proposal" {
        p.proposals.push(c.word("a proposal name")?);
    } else {
        let k = c.keyword("'address' or 'fvrf'", &["address", "fvrf"])?;
        if k.value == "address" {
            c.keyword("'local'", &["local"])?;
            p.match_local.push(c.ipv4("local address")?);
        } else {
            p.match_fvrf = Some(c.word("a VRF name or 'any'")?);
        }
    }
    c.end()
}

fn identity(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<Identity>> {
    let k = c.keyword(
        "'address', 'fqdn', 'email' or 'key-id'",
        &["address", "fqdn", "email", "key-id"],
    )?;
    let v = match k.value {
        "address" => Identity::Address(c.ipv4("address")?.value),
        "fqdn" => Identity::Fqdn(c.word("a name")?.value),
        "email" => Identity::Email(c.word("an e-mail address")?.value),
        _ => Identity::KeyId(c.word("a key id")?.value),
    };
    Ok(Spanned::new(v, k.span.to(c.prev_span())))
}

fn ikev2_keyring_peer_command(p: &mut Ikev2KeyringPeer, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "an ikev2 keyring peer command",
        &["address", "hostname", "identity", "pre-shared-key"],
    )?;
    match kw.value {
        "address" => {
            let a = c.ipv4("peer address")?;
            let len = if c.next_is_ipv4() {
                c.mask("mask")?.value
            } else {
                32
            };
            p.address = Some(Spanned::new((a.value, len), a.span));
        }
        "hostname" => p.hostname = Some(c.word("a host name")?),
        "identity" => p.identity = Some(identity(&mut c)?),
        _ => match c.opt_keyword(&["local", "remote"]) {
            Some(d) if d.value == "local" => {
                p.pre_shared_key_local = Some(c.word("a key")?.map(SecretString::new))
            }
            Some(_) => p.pre_shared_key_remote = Some(c.word("a key")?.map(SecretString::new)),
            None => p.pre_shared_key = Some(c.word("a key")?.map(SecretString::new)),
        },
    }
    c.end()
}

fn ikev2_profile_command(p: &mut Ikev2Profile, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "an ikev2 profile command",
        Mode::Ikev2Profile(String::new()).keywords(),
    )?;
    match kw.value {
        "match" => {
            let k = c.keyword("'identity' or 'address'", &["identity", "address"])?;
            if k.value == "address" {
                c.keyword("'local'", &["local"])?;
                p.match_local_address.push(c.ipv4("local address")?);
            } else {
                c.keyword("'remote'", &["remote"])?;
                let t = c.keyword(
                    "'address', 'fqdn', 'email', 'key-id' or 'any'",
                    &["address", "fqdn", "email", "key-id", "any"],
                )?;
                let m = match t.value {
                    "address" => {
                        let a = c.ipv4("address")?.value;
                        let len = if c.next_is_ipv4() {
                            c.mask("mask")?.value
                        } else {
                            32
                        };
                        RemoteIdentityMatch::Address(a, len)
                    }
                    "fqdn" => {
                        let domain = c.opt_keyword(&["domain"]).is_some();
                        RemoteIdentityMatch::Fqdn {
                            name: c.word("a name")?.value,
                            domain,
                        }
                    }
                    "email" => RemoteIdentityMatch::Email(c.word("an e-mail address")?.value),
                    "key-id" => RemoteIdentityMatch::KeyId(c.word("a key id")?.value),
                    _ => RemoteIdentityMatch::Any,
                };
                p.match_remote
                    .push(Spanned::new(m, t.span.to(c.prev_span())));
            }
        }
        "identity" => {
            c.keyword("'local'", &["local"])?;
            p.identity_local = Some(identity(&mut c)?);
        }
        "authentication" => {
            let side = c.keyword("'local' or 'remote'", &["local", "remote"])?;
            let m = c.keyword("'pre-share'", &["pre-share", "rsa-sig", "ecdsa-sig"])?;
            let v = Some(Spanned::new(m.value.to_string(), m.span));
            if side.value == "local" {
                p.auth_local = v;
            } else {
                p.auth_remote = v;
            }
        }
        "keyring" => {
            c.keyword("'local'", &["local"])?;
            p.keyring = Some(c.word("a keyring name")?);
        }
        "dpd" => {
            let interval = c.number("dpd interval", 10u32, 3600)?;
            let retry = c.number("dpd retry interval", 2u32, 60)?;
            let mode = dpd_mode(&mut c, true)?;
            p.dpd = Some(Spanned::new(
                Keepalive {
                    interval: interval.value,
                    retry: Some(retry.value),
                    mode,
                },
                interval.span,
            ));
        }
        "lifetime" => p.lifetime = Some(c.number("lifetime", 120u32, 86400)?),
        "virtual-template" => {
            p.virtual_template = Some(c.number("virtual template", 1u32, 65535)?)
        }
        _ => {
            c.keyword("'keepalive'", &["keepalive"])?;
            p.nat_keepalive = Some(c.number("NAT keepalive", 5u32, 3600)?);
        }
    }
    c.end()
}

fn routing_protocol(c: &mut Cursor<'_, '_>, choices: &[&'static str]) -> Parsed<RoutingProtocol> {
    let p = c.keyword("a routing protocol", choices)?;
    Ok(match p.value {
        "ospf" => RoutingProtocol::Ospf(c.number("OSPF process id", 1u32, 65535)?.value),
        "bgp" => RoutingProtocol::Bgp(c.number("AS number", 1u32, u32::MAX)?.value),
        "eigrp" => RoutingProtocol::Eigrp(c.number("AS number", 1u32, 65535)?.value),
        "rip" => RoutingProtocol::Rip,
        _ => unreachable!("choices are protocols"),
    })
}

fn router_command(r: &mut RouterProcess, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "a router command",
        &["redistribute", "network", "neighbor", "router-id"],
    )?;
    match kw.value {
        "redistribute" => {
            let start = c.here();
            let source = match c.opt_keyword(&["static", "connected"]) {
                Some(s) if s.value == "static" => RedistributeSource::Static,
                Some(_) => RedistributeSource::Connected,
                None => RedistributeSource::Protocol(routing_protocol(
                    &mut c,
                    &["static", "connected", "ospf", "bgp", "eigrp", "rip"],
                )?),
            };
            let mut red = Redistribute {
                source,
                metric: None,
                metric_type: None,
                subnets: false,
                tag: None,
                route_map: None,
            };
            const OPTS: &[&str] = &["metric", "metric-type", "subnets", "tag", "route-map"];
            while let Some(opt) = c.opt_keyword(OPTS) {
                match opt.value {
                    "metric" => red.metric = Some(c.number("metric", 0u32, u32::MAX)?.value),
                    "metric-type" => red.metric_type = Some(c.number("metric type", 1u8, 2)?.value),
                    "subnets" => red.subnets = true,
                    "tag" => red.tag = Some(c.number("tag", 0u32, u32::MAX)?.value),
                    _ => red.route_map = Some(c.word("a route-map name")?),
                }
            }
            c.end_or("a redistribute option", OPTS)?;
            r.redistribute
                .push(Spanned::new(red, start.to(c.prev_span())));
        }
        "network" => r.networks.push(c.rest("a network statement")?),
        "neighbor" => r.neighbors.push(c.rest("a neighbor statement")?),
        _ => {
            r.router_id = Some(c.ipv4("router id")?);
            c.end()?;
        }
    }
    Ok(())
}

fn route_map_command(
    e: &mut RouteMapEntry,
    line: &Line<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword("'match' or 'set'", &["match", "set"])?;
    if kw.value == "match" {
        let k = c.keyword("'tag' or 'ip'", &["tag", "ip"])?;
        if k.value == "tag" {
            loop {
                e.match_tags.push(c.number("tag", 0u32, u32::MAX)?);
                if c.at_end() {
                    break;
                }
            }
        } else {
            c.keyword("'address'", &["address"])?;
            loop {
                let w = c.word("an access list")?;
                e.match_ip_address
                    .push(Spanned::new(acl_name(&w.value), w.span));
                if c.at_end() {
                    break;
                }
            }
        }
        return Ok(());
    }
    let k = c.keyword(
        "'metric', 'metric-type' or 'tag'",
        &["metric", "metric-type", "tag"],
    )?;
    match k.value {
        "metric" => e.set_metric = Some(c.number("metric", 0u32, u32::MAX)?),
        "tag" => e.set_tag = Some(c.number("tag", 0u32, u32::MAX)?),
        _ => {
            let t = c.word("'type-1' or 'type-2'")?;
            let n = match t.value.to_ascii_lowercase().as_str() {
                "type-1" => 1,
                "type-2" => 2,
                "type1" | "type2" => {
                    // Cisco's route-tag example writes "type1".
                    warnings.push(Diagnostic::warning(
                        Code::NonCanonicalSpelling,
                        t.span,
                        format!(
                            "'{}' is written 'type-{}'; read as that",
                            t.value,
                            &t.value[4..]
                        ),
                    ));
                    if t.value.ends_with('1') {
                        1
                    } else {
                        2
                    }
                }
                _ => {
                    return Err(unexpected(
                        t.span,
                        &t.value,
                        "a metric type",
                        &["type-1", "type-2"],
                    ))
                }
            };
            e.set_metric_type = Some(Spanned::new(n, t.span));
        }
    }
    c.end()
}

fn ezvpn_command(e: &mut EzvpnClient, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword("an ezvpn command", Mode::Ezvpn(String::new()).keywords())?;
    match kw.value {
        "connect" => {
            let v = c.keyword("'auto', 'manual' or 'acl'", &["auto", "manual", "acl"])?;
            e.connect = Some(Spanned::new(v.value.to_string(), v.span));
        }
        "group" => {
            let g = c.word("a group name")?;
            c.keyword("'key'", &["key"])?;
            let k = c.word("a group key")?;
            e.group = Some(Spanned::new((g.value, k.value.into()), g.span));
        }
        "mode" => {
            let v = c.keyword(
                "'client', 'network-extension' or 'network-plus'",
                &["client", "network-extension", "network-plus"],
            )?;
            e.mode = Some(Spanned::new(v.value.to_string(), v.span));
        }
        "peer" => {
            let p = c.rest("a peer address or host name")?;
            e.peers.push(p);
        }
        "username" => {
            let u = c.word("a user name")?;
            c.keyword("'password'", &["password"])?;
            let p = c.word("a password")?;
            e.username = Some(Spanned::new((u.value, p.value.into()), u.span));
        }
        "xauth" => {
            c.keyword("'userid'", &["userid"])?;
            c.keyword("'mode'", &["mode"])?;
            let v = c.keyword(
                "'interactive', 'local' or 'http-intercept'",
                &["interactive", "local", "http-intercept"],
            )?;
            e.xauth_userid_mode = Some(Spanned::new(v.value.to_string(), v.span));
        }
        _ => e.virtual_interface = Some(c.number("virtual template", 1u32, 65535)?),
    }
    c.end()
}

fn prefix(c: &mut Cursor<'_, '_>, what: &str) -> Parsed<Prefix> {
    let addr = c.ipv4(what)?;
    let len = c.mask("mask")?;
    let network = u32::from(addr.value) & mask_bits(len.value);
    if network != u32::from(addr.value) {
        return err(Diagnostic::error(
            Code::InvalidValue,
            addr.span.to(len.span),
            format!(
                "inconsistent address and mask: {} has host bits set for mask {} (the network is {})",
                addr.value,
                Ipv4Addr::from(mask_bits(len.value)),
                Ipv4Addr::from(network)
            ),
        ));
    }
    Ok(Prefix {
        addr: addr.value,
        len: len.value,
    })
}

fn addr_match(c: &mut Cursor<'_, '_>, what: &str) -> Parsed<AddrMatch> {
    if c.opt_keyword(&["any"]).is_some() {
        return Ok(AddrMatch::Any);
    }
    if c.opt_keyword(&["host"]).is_some() {
        return Ok(AddrMatch::Host(c.ipv4(what)?.value));
    }
    if !c.next_is_ipv4() {
        let t = c.peek();
        return match t {
            Some(t) => Err(unexpected(
                t.span,
                t.text,
                &format!("a {what}: any, host A, or A WILDCARD"),
                &["any", "host"],
            )),
            None => err(Diagnostic::error(
                Code::Incomplete,
                c.here(),
                format!("incomplete command: expected a {what} (any, host A, or A WILDCARD)"),
            )),
        };
    }
    let addr = c.ipv4(what)?.value;
    if !c.next_is_ipv4() {
        // A standard list may give a single address: a host.
        return Ok(AddrMatch::Host(addr));
    }
    let wild = c.ipv4("wildcard")?.value;
    Ok(AddrMatch::Wildcard(
        Ipv4Addr::from(u32::from(addr) & !u32::from(wild)),
        wild,
    ))
}

fn extended_entry(c: &mut Cursor<'_, '_>, seq: Option<u32>, action: Action) -> Parsed<AclEntry> {
    const PROTOS: &[&str] = &["ip", "icmp", "tcp", "udp", "gre", "esp", "ahp"];
    let protocol = if c.next_is_number() {
        let n = c.number("protocol number", 0u8, 255)?.value;
        match n {
            0 | 4 => Protocol::Ip,
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            47 => Protocol::Gre,
            50 => Protocol::Esp,
            51 => Protocol::Ahp,
            n => Protocol::Number(n),
        }
    } else {
        match c.keyword("a protocol", PROTOS)?.value {
            "ip" => Protocol::Ip,
            "icmp" => Protocol::Icmp,
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "gre" => Protocol::Gre,
            "esp" => Protocol::Esp,
            _ => Protocol::Ahp,
        }
    };
    let src = addr_match(c, "source")?;
    let src_port = if protocol.has_ports() {
        port_match(c)?
    } else {
        None
    };
    let dst = addr_match(c, "destination")?;
    let dst_port = if protocol.has_ports() {
        port_match(c)?
    } else {
        None
    };
    let icmp = if protocol == Protocol::Icmp
        && !c.at_end()
        && c.peek()
            .is_some_and(|t| !t.text.eq_ignore_ascii_case("log"))
    {
        Some(icmp_type(c)?)
    } else {
        None
    };
    let log = c.opt_keyword(&["log", "log-input"]).is_some();
    c.end_or("'log' or the end of the entry", &["log"])?;
    Ok(AclEntry {
        seq,
        action,
        protocol,
        src,
        src_port,
        dst,
        dst_port,
        icmp,
        log,
    })
}

const PORT_NAMES: &[(&str, u16)] = &[
    ("bgp", 179),
    ("bootpc", 68),
    ("bootps", 67),
    ("domain", 53),
    ("ftp", 21),
    ("ftp-data", 20),
    ("isakmp", 500),
    ("non500-isakmp", 4500),
    ("ntp", 123),
    ("smtp", 25),
    ("snmp", 161),
    ("ssh", 22),
    ("syslog", 514),
    ("telnet", 23),
    ("tftp", 69),
    ("www", 80),
];

/// The IOS name of a well-known port.
pub(crate) fn port_name(port: u16) -> Option<&'static str> {
    PORT_NAMES.iter().find(|(_, p)| *p == port).map(|(n, _)| *n)
}

fn port(c: &mut Cursor<'_, '_>) -> Parsed<u16> {
    let t = c.peek().ok_or_else(|| {
        Box::new(Diagnostic::error(
            Code::Incomplete,
            c.here(),
            "incomplete command: expected a port",
        ))
    })?;
    if let Ok(p) = t.text.parse::<u16>() {
        c.pos += 1;
        return Ok(p);
    }
    if let Some((_, p)) = PORT_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(t.text))
    {
        c.pos += 1;
        return Ok(*p);
    }
    let names: Vec<&'static str> = PORT_NAMES.iter().map(|(n, _)| *n).collect();
    Err(unexpected(
        t.span,
        t.text,
        "a port number (0-65535) or name",
        &names,
    ))
}

fn port_match(c: &mut Cursor<'_, '_>) -> Parsed<Option<PortMatch>> {
    let Some(op) = c.opt_keyword(&["eq", "neq", "lt", "gt", "range"]) else {
        return Ok(None);
    };
    Ok(Some(match op.value {
        "eq" => {
            let mut ports = vec![port(c)?];
            while c.peek().is_some_and(|t| {
                t.text.parse::<u16>().is_ok()
                    || PORT_NAMES
                        .iter()
                        .any(|(n, _)| n.eq_ignore_ascii_case(t.text))
            }) && !c.next_is_ipv4()
            {
                ports.push(port(c)?);
            }
            PortMatch::Eq(ports)
        }
        "neq" => PortMatch::Neq(port(c)?),
        "lt" => PortMatch::Lt(port(c)?),
        "gt" => PortMatch::Gt(port(c)?),
        _ => {
            let a = port(c)?;
            let b = port(c)?;
            PortMatch::Range(a, b)
        }
    }))
}

const ICMP_NAMES: &[(&str, u8)] = &[
    ("echo-reply", 0),
    ("unreachable", 3),
    ("echo", 8),
    ("time-exceeded", 11),
];

/// The IOS name of an ICMP type.
pub(crate) fn icmp_name(t: u8) -> Option<&'static str> {
    ICMP_NAMES.iter().find(|(_, n)| *n == t).map(|(s, _)| *s)
}

fn icmp_type(c: &mut Cursor<'_, '_>) -> Parsed<(u8, Option<u8>)> {
    if c.next_is_number() {
        let t = c.number("ICMP type", 0u8, 255)?.value;
        let code = if c.next_is_number() {
            Some(c.number("ICMP code", 0u8, 255)?.value)
        } else {
            None
        };
        return Ok((t, code));
    }
    let names: Vec<&'static str> = ICMP_NAMES.iter().map(|(n, _)| *n).collect();
    let k = c.keyword("an ICMP type", &names)?;
    let t = ICMP_NAMES
        .iter()
        .find(|(n, _)| *n == k.value)
        .map(|(_, t)| *t)
        .expect("listed");
    Ok((t, None))
}

/// An access list reference: a number if it is one, else a name.
fn acl_name(s: &str) -> AclName {
    match s.parse::<u32>() {
        Ok(n) => AclName::Number(n),
        Err(_) => AclName::Name(s.to_string()),
    }
}

/// The classful prefix length of an address (A /8, B /16, C /24).
fn classful_len(addr: Ipv4Addr) -> u8 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

const INTERFACE_TYPES: &[&str] = &[
    "FastEthernet",
    "GigabitEthernet",
    "TenGigabitEthernet",
    "Ethernet",
    "Serial",
    "Loopback",
    "Tunnel",
    "Virtual-Template",
    "Virtual-Access",
    "Vlan",
    "Dialer",
    "Port-channel",
];

/// The canonical spelling of an interface name: the type written out in IOS's case
/// (`fa0/0` and `FASTETHERNET0/0` are `FastEthernet0/0`); unknown types are kept as written.
pub fn canonical_interface(name: &str) -> String {
    let split = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (kind, number) = name.split_at(split);
    if kind.is_empty() || number.is_empty() {
        return name.to_string();
    }
    match is_keyword(kind, INTERFACE_TYPES) {
        Some(full) => format!("{full}{number}"),
        None => name.to_string(),
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let hex: String = s
        .chars()
        .filter(|c| *c != '.' && *c != ':' && *c != '-')
        .collect();
    if hex.len() != 12 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(mac)
}

fn lcore_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if a > b || b > 1023 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse::<u32>().ok().filter(|&n| n <= 1023)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
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
