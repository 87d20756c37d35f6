//! IPsec: crypto maps (static, dynamic, `ipsec-manual`), their entries' bodies, transform
//! sets, IPsec profiles, global IPsec settings and Easy VPN clients.

use super::*;

impl Parser {
    pub(super) fn crypto_map_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
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

    pub(super) fn crypto_map_entry_point(&mut self, name: &Spanned<String>) -> &mut CryptoMap {
        self.config
            .crypto_maps
            .entry(name.value.clone())
            .or_insert_with(|| CryptoMap {
                name: name.clone(),
                local_address: None,
                entries: BTreeMap::new(),
            })
    }

    pub(super) fn dynamic_map_header(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
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

    pub(super) fn crypto_ipsec(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
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
}

/// Where a crypto map body is being parsed: what is allowed differs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyKind {
    CryptoMap { manual: bool },
    DynamicMap,
    IpsecProfile,
}

pub(super) const SUPPORTED_TRANSFORMS: &str =
    "rri's data plane supports esp-gcm 128, esp-gcm 256 and esp-chacha20-poly1305";

pub(super) fn map_body_command(
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
                    let target_kind = match target.value.parse::<Ipv4Addr>() {
                        Ok(a) => PeerTarget::Address(a),
                        Err(_) => {
                            if let Some(problem) = host_name_problem(&target.value) {
                                return err(Diagnostic::error(
                                    Code::InvalidValue,
                                    target.span,
                                    format!("'{}' is {problem}", target.value),
                                )
                                .with_note(
                                    "set peer takes an IPv4 address or a DNS host name \
                                     (RFC 1123: letters, digits and hyphens in dot-separated \
                                     labels, the last not all digits)",
                                ));
                            }
                            PeerTarget::Host {
                                name: target.value.clone(),
                                dynamic: false,
                            }
                        }
                    };
                    let mut spec = PeerSpec {
                        target: target_kind,
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

pub(super) fn reverse_route(
    c: &mut Cursor<'_, '_>,
    warnings: &mut Vec<Diagnostic>,
) -> Parsed<ReverseRoute> {
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

pub(super) fn replay_window(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<u32>> {
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

pub(super) fn transform(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<Transform>> {
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

pub(super) fn ezvpn_command(e: &mut EzvpnClient, line: &Line<'_>) -> Parsed<()> {
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

/// Why `name` cannot be a peer's DNS host name, or `None` when it can (RFC 1123 section 2.1:
/// labels of letters, digits and hyphens, not starting or ending with a hyphen, at most 63
/// bytes, 253 in all, the last label not all digits). Template placeholders left in a pasted
/// configuration (`<PEER_IP>`, `{peer}`, `x.x.x.x`) and dotted numbers that are not an
/// address (`300.1.1.1`) are named as what they are.
pub(super) fn host_name_problem(name: &str) -> Option<String> {
    let placeholder = name.starts_with(['<', '{', '[', '$'])
        || name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.eq_ignore_ascii_case(&'x')));
    if placeholder {
        return Some("a placeholder, not an address or a host name: fill in the peer".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() == 4
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("not an IPv4 address (each part is 0 to 255)".into());
    }
    if name.len() > 253 {
        return Some("longer than a host name may be (253 characters)".into());
    }
    for label in &labels {
        if label.is_empty() {
            return Some("not a host name: it has an empty label".into());
        }
        if label.len() > 63 {
            return Some(format!(
                "not a host name: label '{label}' is longer than 63 characters"
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
        {
            return Some(format!(
                "not a host name: '{bad}' is not a letter, digit or hyphen"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "not a host name: label '{label}' starts or ends with a hyphen"
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some("not a host name: its last label is all digits".into());
    }
    None
}
