//! IKE: ISAKMP (IKEv1) policies, keys, keyrings and profiles, and IKEv2 proposals, policies,
//! keyrings, profiles and limits.

use super::*;

impl Parser {
    /// rri extension: `crypto peer backoff INITIAL-MS MAXIMUM-MS` and
    /// `crypto peer dampening HALF-LIFE REUSE SUPPRESS MAX-SUPPRESS`.
    pub(super) fn crypto_peer(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
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

    pub(super) fn crypto_isakmp(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
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

    pub(super) fn crypto_ikev2(&mut self, c: &mut Cursor<'_, '_>) -> Parsed<()> {
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
}

pub(super) fn dh_group(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<DhGroup>> {
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

pub(super) fn isakmp_key(c: &mut Cursor<'_, '_>, in_keyring: bool) -> Parsed<Spanned<IsakmpKey>> {
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

pub(super) fn dpd_mode(c: &mut Cursor<'_, '_>, required: bool) -> Parsed<Option<DpdMode>> {
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

pub(super) fn keepalive(c: &mut Cursor<'_, '_>, min: u32, max: u32) -> Parsed<Spanned<Keepalive>> {
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

pub(super) fn isakmp_policy_command(p: &mut IsakmpPolicy, line: &Line<'_>) -> Parsed<()> {
    let mut c = Cursor::new(line);
    let kw = c.keyword(
        "an isakmp policy command",
        &["encryption", "hash", "authentication", "group", "lifetime"],
    )?;
    match kw.value {
        // `encr` (as show running-config writes it) abbreviates it.
        "encryption" => p.encryption = Some(c.rest("an encryption algorithm")?),
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

pub(super) fn isakmp_profile_command(p: &mut IsakmpProfile, line: &Line<'_>) -> Parsed<()> {
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

pub(super) fn ikev2_proposal_command(p: &mut Ikev2Proposal, line: &Line<'_>) -> Parsed<()> {
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

pub(super) fn ikev2_policy_command(p: &mut Ikev2Policy, line: &Line<'_>) -> Parsed<()> {
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

pub(super) fn identity(c: &mut Cursor<'_, '_>) -> Parsed<Spanned<Identity>> {
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

pub(super) fn ikev2_keyring_peer_command(p: &mut Ikev2KeyringPeer, line: &Line<'_>) -> Parsed<()> {
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

pub(super) fn ikev2_profile_command(p: &mut Ikev2Profile, line: &Line<'_>) -> Parsed<()> {
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
