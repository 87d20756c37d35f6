//! parse(render(m)) == m over generated models: every item kind, every option, values across
//! their ranges. The generator produces only models the parser can produce (for example a
//! wildcard address with its don't-care bits cleared, as the parser stores it).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use config::*;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

fn sp<T>(v: T) -> Spanned<T> {
    Spanned::bare(v)
}

fn name() -> impl Strategy<Value = String> {
    "n[a-z0-9_]{0,6}"
}

fn host() -> impl Strategy<Value = String> {
    "[a-z]{1,6}\\.example(\\.com)?"
}

fn text() -> impl Strategy<Value = String> {
    vec("[A-Za-z0-9_.,:/-]{1,8}", 1..4).prop_map(|w| w.join(" "))
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn prefix() -> impl Strategy<Value = Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, len)| Prefix {
        addr: Ipv4Addr::from(a & mask_bits(len)),
        len,
    })
}

fn mask_len() -> impl Strategy<Value = u8> {
    0u8..=32
}

fn iface_name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "FastEthernet",
            "GigabitEthernet",
            "Serial",
            "Loopback",
            "Tunnel",
            "Virtual-Template",
            "Vlan",
        ]),
        0u32..20,
        option::of(0u32..4),
    )
        .prop_map(|(t, a, b)| match b {
            Some(b) => format!("{t}{a}/{b}"),
            None => format!("{t}{a}"),
        })
}

fn addr_match() -> impl Strategy<Value = AddrMatch> {
    prop_oneof![
        Just(AddrMatch::Any),
        ipv4().prop_map(AddrMatch::Host),
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, w)| { AddrMatch::Wildcard(Ipv4Addr::from(a & !w), Ipv4Addr::from(w)) }),
    ]
}

fn port_match() -> impl Strategy<Value = PortMatch> {
    prop_oneof![
        vec(any::<u16>(), 1..4).prop_map(PortMatch::Eq),
        any::<u16>().prop_map(PortMatch::Neq),
        any::<u16>().prop_map(PortMatch::Lt),
        any::<u16>().prop_map(PortMatch::Gt),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortMatch::Range(a, b)),
    ]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Ip),
        Just(Protocol::Icmp),
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Gre),
        Just(Protocol::Esp),
        Just(Protocol::Ahp),
        (2u8..=255)
            .prop_filter("named protocols are parsed as names", |n| {
                ![4, 6, 17, 47, 50, 51].contains(n)
            })
            .prop_map(Protocol::Number),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![Just(Action::Permit), Just(Action::Deny)]
}

fn extended_entry(named: bool) -> impl Strategy<Value = AclEntry> {
    (
        if named {
            option::of(1u32..100_000).boxed()
        } else {
            Just(None).boxed()
        },
        action(),
        protocol(),
        addr_match(),
        option::of(port_match()),
        addr_match(),
        option::of(port_match()),
        option::of((any::<u8>(), option::of(any::<u8>()))),
        any::<bool>(),
    )
        .prop_map(
            |(seq, action, protocol, src, sp_, dst, dp, icmp, log)| AclEntry {
                seq,
                action,
                protocol,
                src,
                src_port: if protocol.has_ports() { sp_ } else { None },
                dst,
                dst_port: if protocol.has_ports() { dp } else { None },
                icmp: if protocol == Protocol::Icmp {
                    icmp
                } else {
                    None
                },
                log,
            },
        )
}

fn standard_entry() -> impl Strategy<Value = AclEntry> {
    (action(), addr_match(), any::<bool>()).prop_map(|(action, src, log)| AclEntry {
        seq: None,
        action,
        protocol: Protocol::Ip,
        src,
        src_port: None,
        dst: AddrMatch::Any,
        dst_port: None,
        icmp: None,
        log,
    })
}

fn access_lists() -> impl Strategy<Value = BTreeMap<AclName, AccessList>> {
    let numbered_ext = (
        100u32..200,
        vec(extended_entry(false), 1..5),
        vec(text(), 0..2),
    );
    let numbered_std = (1u32..100, vec(standard_entry(), 1..4), vec(text(), 0..2));
    let named = (
        "acl[a-z]{1,5}",
        vec(extended_entry(true), 0..5),
        vec(text(), 0..2),
    );
    (
        vec(numbered_ext, 0..3),
        vec(numbered_std, 0..2),
        vec(named, 0..2),
    )
        .prop_map(|(ext, std, named)| {
            let mut out = BTreeMap::new();
            let mut put = |name: AclName, kind, entries: Vec<AclEntry>, remarks: Vec<String>| {
                out.insert(
                    name.clone(),
                    AccessList {
                        name,
                        kind,
                        entries: entries.into_iter().map(sp).collect(),
                        remarks: remarks.into_iter().map(sp).collect(),
                        span: Span::default(),
                    },
                );
            };
            for (n, e, r) in ext {
                put(AclName::Number(n), AclKind::Extended, e, r);
            }
            for (n, e, r) in std {
                put(AclName::Number(n), AclKind::Standard, e, r);
            }
            for (n, e, r) in named {
                put(AclName::Name(n), AclKind::Extended, e, r);
            }
            out
        })
}

fn transform() -> impl Strategy<Value = Transform> {
    prop_oneof![
        prop::sample::select(vec![128u16, 256]).prop_map(Transform::EspGcm),
        prop::sample::select(vec![128u16, 256]).prop_map(Transform::EspGmac),
        prop::sample::select(vec![128u16, 192, 256]).prop_map(Transform::EspAes),
        Just(Transform::EspChacha20Poly1305),
        Just(Transform::Esp3des),
        Just(Transform::EspDes),
        Just(Transform::EspNull),
        Just(Transform::EspShaHmac),
        Just(Transform::EspMd5Hmac),
        Just(Transform::EspSha256Hmac),
        Just(Transform::EspSha384Hmac),
        Just(Transform::EspSha512Hmac),
        Just(Transform::AhShaHmac),
        Just(Transform::AhMd5Hmac),
        Just(Transform::CompLzs),
    ]
}

fn transform_sets() -> impl Strategy<Value = BTreeMap<String, TransformSet>> {
    btree_map(
        name(),
        (
            vec(transform(), 1..4),
            option::of(prop_oneof![
                Just(IpsecMode::Tunnel),
                Just(IpsecMode::Transport)
            ]),
        ),
        0..3,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(n, (t, mode))| {
                let ts = TransformSet {
                    name: sp(n.clone()),
                    transforms: t.into_iter().map(sp).collect(),
                    mode: mode.map(sp),
                    span: Span::default(),
                };
                (n, ts)
            })
            .collect()
    })
}

fn peer() -> impl Strategy<Value = PeerSpec> {
    (
        prop_oneof![
            ipv4().prop_map(PeerTarget::Address),
            (host(), any::<bool>()).prop_map(|(name, dynamic)| PeerTarget::Host { name, dynamic }),
        ],
        any::<bool>(),
    )
        .prop_map(|(target, default)| PeerSpec { target, default })
}

fn reverse_route() -> impl Strategy<Value = ReverseRoute> {
    prop_oneof![
        any::<bool>().prop_map(|s| ReverseRoute {
            static_routes: s,
            tag: None,
            remote_peer: None
        }),
        (1u32.., any::<bool>()).prop_map(|(t, s)| ReverseRoute {
            static_routes: s,
            tag: Some(t),
            remote_peer: None
        }),
        any::<bool>().prop_map(|s| ReverseRoute {
            static_routes: s,
            tag: None,
            remote_peer: Some(RemotePeer::Interface)
        }),
        (ipv4(), any::<bool>(), any::<bool>()).prop_map(|(addr, gateway, s)| ReverseRoute {
            static_routes: s,
            tag: None,
            remote_peer: Some(RemotePeer::NextHop { addr, gateway })
        }),
    ]
}

fn dh() -> impl Strategy<Value = DhGroup> {
    prop::sample::select(vec![1u16, 2, 5, 14, 15, 16, 19, 20, 21, 24, 31]).prop_map(DhGroup::Group)
}

#[derive(Clone, Copy, Debug)]
enum Where {
    Static,
    Manual,
    Dynamic,
    Profile,
}

fn session_keys() -> impl Strategy<Value = Vec<Spanned<SessionKey>>> {
    let key = |direction| {
        (
            256u32..,
            vec(any::<u8>(), 1..40),
            option::of(vec(any::<u8>(), 1..20)),
        )
            .prop_map(move |(spi, cipher, authenticator)| SessionKey {
                direction,
                spi,
                cipher: cipher.into(),
                authenticator: authenticator.map(SecretBytes::from),
            })
    };
    (
        option::of(key(Direction::Inbound)),
        option::of(key(Direction::Outbound)),
        any::<bool>(),
    )
        .prop_map(|(i, o, swap)| {
            let mut v: Vec<SessionKey> = i.into_iter().chain(o).collect();
            if swap {
                v.reverse();
            }
            v.into_iter().map(sp).collect()
        })
}

fn body(place: Where) -> impl Strategy<Value = MapEntryBody> {
    let map_like = !matches!(place, Where::Profile);
    let negotiated = !matches!(place, Where::Manual);
    (
        (
            option::of(text()),
            if map_like {
                vec(peer(), 0..3).boxed()
            } else {
                Just(vec![]).boxed()
            },
            if map_like {
                option::of(prop_oneof![
                    (100u32..200).prop_map(AclName::Number),
                    "acl[a-z]{1,4}".prop_map(AclName::Name)
                ])
                .boxed()
            } else {
                Just(None).boxed()
            },
            vec(name(), 0..3),
            option::of(reverse_route()),
            option::of(1u8..=255),
            option::of(1u32..),
        ),
        (
            option::of((60u32..=86400, any::<bool>())),
            option::of(120u32..=86400),
            option::of(2560u64..=4_294_967_295),
            option::of(prop_oneof![
                (6u32..=12).prop_map(|b| Replay::WindowSize(1 << b)),
                Just(Replay::Disabled)
            ]),
            if negotiated {
                option::of(name()).boxed()
            } else {
                Just(None).boxed()
            },
            if negotiated {
                option::of(name()).boxed()
            } else {
                Just(None).boxed()
            },
            if negotiated {
                option::of(dh()).boxed()
            } else {
                Just(None).boxed()
            },
            if matches!(place, Where::Manual) {
                session_keys().boxed()
            } else {
                Just(vec![]).boxed()
            },
        ),
    )
        .prop_map(
            |(
                (description, peers, acl, ts, rr, dist, tag),
                (idle, life_s, life_kb, replay, isakmp, ikev2, pfs, keys),
            )| MapEntryBody {
                description: description.map(sp),
                peers: peers.into_iter().map(sp).collect(),
                match_address: acl.map(sp),
                transform_sets: ts.into_iter().map(sp).collect(),
                reverse_route: rr.map(sp),
                rri_distance: dist.map(sp),
                rri_tag: tag.map(sp),
                idle_time: idle.map(|(seconds, default_peer)| {
                    sp(IdleTime {
                        seconds,
                        default_peer,
                    })
                }),
                lifetime_seconds: life_s.map(sp),
                lifetime_kilobytes: life_kb.map(sp),
                replay: replay.map(sp),
                isakmp_profile: isakmp.map(sp),
                ikev2_profile: ikev2.map(sp),
                pfs: pfs.map(sp),
                session_keys: keys,
            },
        )
}

fn crypto_maps() -> impl Strategy<Value = BTreeMap<String, CryptoMap>> {
    let entry = prop_oneof![
        body(Where::Static).prop_map(|b| (CryptoMapKind::Isakmp, b)),
        body(Where::Manual).prop_map(|b| (CryptoMapKind::Manual, b)),
        name().prop_map(|d| (CryptoMapKind::Dynamic(sp(d)), MapEntryBody::default())),
    ];
    btree_map(
        name(),
        (
            option::of(iface_name()),
            btree_map(1u32..=65535, entry, 0..3),
        ),
        0..3,
    )
    .prop_map(|maps| {
        maps.into_iter()
            .filter(|(_, (local, entries))| local.is_some() || !entries.is_empty())
            .map(|(n, (local, entries))| {
                let map = CryptoMap {
                    name: sp(n.clone()),
                    local_address: local.map(sp),
                    entries: entries
                        .into_iter()
                        .map(|(seq, (kind, body))| {
                            (
                                seq,
                                CryptoMapEntry {
                                    seq: sp(seq),
                                    kind,
                                    body,
                                    span: Span::default(),
                                },
                            )
                        })
                        .collect(),
                };
                (n, map)
            })
            .collect()
    })
}

fn dynamic_maps() -> impl Strategy<Value = BTreeMap<String, DynamicMap>> {
    btree_map(
        name(),
        btree_map(1u32..=65535, body(Where::Dynamic), 1..3),
        0..2,
    )
    .prop_map(|maps| {
        maps.into_iter()
            .map(|(n, entries)| {
                let map = DynamicMap {
                    name: sp(n.clone()),
                    entries: entries
                        .into_iter()
                        .map(|(seq, body)| {
                            (
                                seq,
                                DynamicMapEntry {
                                    seq: sp(seq),
                                    body,
                                    span: Span::default(),
                                },
                            )
                        })
                        .collect(),
                };
                (n, map)
            })
            .collect()
    })
}

fn ipsec_profiles() -> impl Strategy<Value = BTreeMap<String, IpsecProfile>> {
    btree_map(name(), body(Where::Profile), 0..2).prop_map(|m| {
        m.into_iter()
            .map(|(n, body)| {
                let p = IpsecProfile {
                    name: sp(n.clone()),
                    body,
                    span: Span::default(),
                };
                (n, p)
            })
            .collect()
    })
}

fn interfaces() -> impl Strategy<Value = Vec<Interface>> {
    let iface = (
        (
            iface_name(),
            any::<bool>(),
            option::of(text()),
            option::of((ipv4(), mask_len())),
            vec((ipv4(), mask_len()), 0..2),
            option::of(option::of(iface_name())),
            option::of((name(), option::of((name(), any::<bool>())))),
            vec(text(), 0..2),
        ),
        (
            option::of((name(), any::<bool>())),
            option::of(prop_oneof![
                Just(TunnelMode::IpsecIpv4),
                Just(TunnelMode::GreIp)
            ]),
            option::of(prop_oneof![
                iface_name(),
                ipv4().prop_map(|a| a.to_string())
            ]),
            option::of(ipv4()),
            option::of(name()),
            any::<bool>(),
            option::of(64u16..=9216),
            option::of(68u16..=9216),
        ),
        (
            option::of(any::<[u8; 6]>()),
            option::of(prop_oneof![
                "net_[a-z]{3,6}[0-9],[a-z]{1,4}=[a-z0-9/.]{1,8}".prop_map(DpdkDevice::Vdev),
                "0000:0[0-9]:00\\.[0-7]".prop_map(DpdkDevice::Pci)
            ]),
        ),
    )
        .prop_map(
            |(
                (n, tt, desc, addr, sec, unnum, cmap, standby),
                (vrf, tmode, tsrc, tdst, tprot, shut, mtu, ipmtu),
                (mac, dev),
            )| {
                let addr_of = |(a, len): (Ipv4Addr, u8)| sp(InterfaceAddress { addr: a, len });
                Interface {
                    name: sp(n),
                    type_tunnel: tt,
                    description: desc.map(sp),
                    address: addr.map(addr_of),
                    secondary_addresses: sec.into_iter().map(addr_of).collect(),
                    unnumbered: unnum.map(sp),
                    crypto_map: cmap.map(|(name, red)| {
                        sp(InterfaceCryptoMap {
                            name,
                            redundancy: red.as_ref().map(|r| r.0.clone()),
                            stateful: red.is_some_and(|r| r.1),
                        })
                    }),
                    standby: standby.into_iter().map(sp).collect(),
                    vrf: vrf.map(|(name, legacy)| sp(VrfBinding { name, legacy })),
                    tunnel_mode: tmode.map(sp),
                    tunnel_source: tsrc.map(sp),
                    tunnel_destination: tdst.map(sp),
                    tunnel_protection: tprot.map(sp),
                    shutdown: shut,
                    mtu: mtu.map(sp),
                    ip_mtu: ipmtu.map(sp),
                    mac_address: mac.map(sp),
                    dpdk_device: dev.map(sp),
                    span: Span::default(),
                }
            },
        );
    vec(iface, 0..4).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|i| seen.insert(i.name.value.clone()));
        v
    })
}

fn static_routes() -> impl Strategy<Value = Vec<Spanned<StaticRoute>>> {
    let route = (
        option::of(name()),
        prefix(),
        prop_oneof![
            ipv4().prop_map(|a| (Some(a), None)),
            (iface_name(), option::of(ipv4())).prop_map(|(i, a)| (a, Some(i))),
        ],
        option::of(1u8..=255),
        option::of(1u32..),
        option::of(name()),
        any::<bool>(),
    )
        .prop_map(
            |(vrf, prefix, (next_hop, interface), distance, tag, name, permanent)| {
                sp(StaticRoute {
                    vrf,
                    prefix,
                    next_hop,
                    interface,
                    distance,
                    tag,
                    name,
                    permanent,
                })
            },
        );
    vec(route, 0..4)
}

fn keepalive(retry_and_mode: bool) -> impl Strategy<Value = Keepalive> {
    let mode = prop_oneof![Just(DpdMode::Periodic), Just(DpdMode::OnDemand)];
    (10u32..=3600, option::of(2u32..=60), option::of(mode)).prop_map(
        move |(interval, retry, mode)| {
            if retry_and_mode {
                Keepalive {
                    interval,
                    retry: Some(retry.unwrap_or(2)),
                    mode: Some(mode.unwrap_or(DpdMode::Periodic)),
                }
            } else {
                Keepalive {
                    interval,
                    retry,
                    mode,
                }
            }
        },
    )
}

fn isakmp() -> impl Strategy<Value = Isakmp> {
    let policy = (
        option::of(prop::sample::select(vec!["aes 256", "aes", "3des"])),
        option::of(prop::sample::select(vec!["sha", "sha256", "md5"])),
        option::of(Just("pre-share")),
        option::of(1u16..=31),
        option::of(60u32..=86400),
    );
    let key = || {
        (name(), ipv4(), mask_len()).prop_map(|(key, address, len)| {
            sp(IsakmpKey {
                key: key.into(),
                address,
                len,
            })
        })
    };
    let ident = prop_oneof![
        name().prop_map(IdentityMatch::Group),
        host().prop_map(IdentityMatch::Host),
        (ipv4(), mask_len(), option::of(name()))
            .prop_map(|(addr, len, vrf)| IdentityMatch::Address { addr, len, vrf }),
    ];
    let profile = (
        option::of(name()),
        vec(ident, 0..3),
        option::of(name()),
        option::of(name()),
        option::of(prop::sample::select(vec!["initiate", "respond"])),
        option::of(1u32..=65535),
        option::of(keepalive(false)),
        option::of(prop::sample::select(vec!["address", "fqdn x.example"])),
    );
    (
        btree_map(1u32..=10000, policy, 0..2),
        vec(key(), 0..2),
        option::of(keepalive(false)),
        btree_map(name(), profile, 0..2),
        btree_map(name(), vec(key(), 0..3), 0..2),
    )
        .prop_map(|(policies, keys, keepalive, profiles, keyrings)| Isakmp {
            policies: policies
                .into_iter()
                .map(|(prio, (e, h, a, g, l))| {
                    (
                        prio,
                        IsakmpPolicy {
                            priority: sp(prio),
                            encryption: e.map(|s| sp(s.to_string())),
                            hash: h.map(|s| sp(s.to_string())),
                            authentication: a.map(|s| sp(s.to_string())),
                            group: g.map(sp),
                            lifetime: l.map(sp),
                            span: Span::default(),
                        },
                    )
                })
                .collect(),
            keys,
            keepalive: keepalive.map(sp),
            profiles: profiles
                .into_iter()
                .map(|(n, (kr, ids, cal, ial, cca, vt, ka, si))| {
                    let p = IsakmpProfile {
                        name: sp(n.clone()),
                        keyring: kr.map(sp),
                        match_identities: ids.into_iter().map(sp).collect(),
                        client_authentication_list: cal.map(sp),
                        isakmp_authorization_list: ial.map(sp),
                        client_configuration_address: cca.map(|s| sp(s.to_string())),
                        virtual_template: vt.map(sp),
                        keepalive: ka.map(sp),
                        self_identity: si.map(|s| sp(s.to_string())),
                        span: Span::default(),
                    };
                    (n, p)
                })
                .collect(),
            keyrings: keyrings
                .into_iter()
                .map(|(n, keys)| {
                    let k = Keyring {
                        name: sp(n.clone()),
                        keys,
                        span: Span::default(),
                    };
                    (n, k)
                })
                .collect(),
        })
}

fn identity() -> impl Strategy<Value = Identity> {
    prop_oneof![
        ipv4().prop_map(Identity::Address),
        host().prop_map(Identity::Fqdn),
        "[a-z]{1,5}@example\\.com".prop_map(Identity::Email),
        name().prop_map(Identity::KeyId),
    ]
}

fn ikev2() -> impl Strategy<Value = Ikev2> {
    let cipher = prop::sample::select(vec![
        Ikev2Cipher::AesGcm128,
        Ikev2Cipher::AesGcm256,
        Ikev2Cipher::Chacha20Poly1305,
        Ikev2Cipher::AesCbc128,
        Ikev2Cipher::AesCbc256,
        Ikev2Cipher::TripleDes,
    ]);
    let prf = prop::sample::select(vec![
        Ikev2Prf::Sha256,
        Ikev2Prf::Sha384,
        Ikev2Prf::Sha512,
        Ikev2Prf::Sha1,
    ]);
    let proposal = (
        vec(cipher, 0..3),
        vec(prf, 0..3),
        vec(prop::sample::select(vec!["sha1", "sha256"]), 0..2),
        vec(1u16..=32, 0..3),
    );
    let policy = (vec(name(), 0..3), vec(ipv4(), 0..2), option::of(name()));
    let peer = (
        option::of((ipv4(), mask_len())),
        option::of(host()),
        option::of(identity()),
        option::of(name()),
        option::of(name()),
        option::of(name()),
    );
    let remote = prop_oneof![
        (ipv4(), mask_len()).prop_map(|(a, l)| RemoteIdentityMatch::Address(a, l)),
        (host(), any::<bool>())
            .prop_map(|(name, domain)| RemoteIdentityMatch::Fqdn { name, domain }),
        "[a-z]{1,5}@example\\.com".prop_map(RemoteIdentityMatch::Email),
        name().prop_map(RemoteIdentityMatch::KeyId),
        Just(RemoteIdentityMatch::Any),
    ];
    let profile = (
        vec(remote, 0..3),
        vec(ipv4(), 0..2),
        option::of(identity()),
        option::of(Just("pre-share")),
        option::of(Just("pre-share")),
        option::of(name()),
        option::of(keepalive(true)),
        option::of(120u32..=86400),
        option::of(1u32..=65535),
        option::of(5u32..=3600),
    );
    (
        btree_map(name(), proposal, 0..2),
        btree_map(name(), policy, 0..2),
        btree_map(name(), btree_map(name(), peer, 0..3), 0..2),
        btree_map(name(), profile, 0..2),
        option::of(keepalive(true)),
        option::of(1u32..=1000),
        (option::of(1u32..=100_000), option::of(1u32..=100_000)),
    )
        .prop_map(
            |(proposals, policies, keyrings, profiles, dpd, cookie, (max_sa, max_neg))| Ikev2 {
                limit_max_sa: max_sa.map(sp),
                limit_max_in_negotiation: max_neg.map(sp),
                proposals: proposals
                    .into_iter()
                    .map(|(n, (e, p, i, g))| {
                        let v = Ikev2Proposal {
                            name: sp(n.clone()),
                            encryption: e.into_iter().map(sp).collect(),
                            prf: p.into_iter().map(sp).collect(),
                            integrity: i.into_iter().map(|s| sp(s.to_string())).collect(),
                            groups: g.into_iter().map(sp).collect(),
                            span: Span::default(),
                        };
                        (n, v)
                    })
                    .collect(),
                policies: policies
                    .into_iter()
                    .map(|(n, (props, local, fvrf))| {
                        let v = Ikev2Policy {
                            name: sp(n.clone()),
                            proposals: props.into_iter().map(sp).collect(),
                            match_local: local.into_iter().map(sp).collect(),
                            match_fvrf: fvrf.map(sp),
                            span: Span::default(),
                        };
                        (n, v)
                    })
                    .collect(),
                keyrings: keyrings
                    .into_iter()
                    .map(|(n, peers)| {
                        let v = Ikev2Keyring {
                            name: sp(n.clone()),
                            peers: peers
                                .into_iter()
                                .map(|(pn, (addr, hostname, ident, psk, l, r))| {
                                    let p = Ikev2KeyringPeer {
                                        name: sp(pn.clone()),
                                        address: addr.map(sp),
                                        hostname: hostname.map(sp),
                                        identity: ident.map(sp),
                                        pre_shared_key: psk.map(|k| sp(k.into())),
                                        pre_shared_key_local: l.map(|k| sp(k.into())),
                                        pre_shared_key_remote: r.map(|k| sp(k.into())),
                                        span: Span::default(),
                                    };
                                    (pn, p)
                                })
                                .collect(),
                            span: Span::default(),
                        };
                        (n, v)
                    })
                    .collect(),
                profiles: profiles
                    .into_iter()
                    .map(
                        |(n, (remote, local, idl, al, ar, kr, dpd, life, vt, nat))| {
                            let v = Ikev2Profile {
                                name: sp(n.clone()),
                                match_remote: remote.into_iter().map(sp).collect(),
                                match_local_address: local.into_iter().map(sp).collect(),
                                identity_local: idl.map(sp),
                                auth_local: al.map(|s| sp(s.to_string())),
                                auth_remote: ar.map(|s| sp(s.to_string())),
                                keyring: kr.map(sp),
                                dpd: dpd.map(sp),
                                lifetime: life.map(sp),
                                virtual_template: vt.map(sp),
                                nat_keepalive: nat.map(sp),
                                span: Span::default(),
                            };
                            (n, v)
                        },
                    )
                    .collect(),
                dpd: dpd.map(sp),
                cookie_challenge: cookie.map(sp),
            },
        )
}

fn routing() -> impl Strategy<
    Value = (
        Vec<RouterProcess>,
        BTreeMap<String, BTreeMap<u32, RouteMapEntry>>,
    ),
> {
    let proto = prop_oneof![
        (1u32..=65535).prop_map(RoutingProtocol::Ospf),
        (1u32..).prop_map(RoutingProtocol::Bgp),
        (1u32..=65535).prop_map(RoutingProtocol::Eigrp),
        Just(RoutingProtocol::Rip),
    ];
    let source = prop_oneof![
        Just(RedistributeSource::Static),
        Just(RedistributeSource::Connected),
        proto.clone().prop_map(RedistributeSource::Protocol),
    ];
    let red = (
        source,
        option::of(any::<u32>()),
        option::of(1u8..=2),
        any::<bool>(),
        option::of(any::<u32>()),
        option::of(name()),
    )
        .prop_map(|(source, metric, metric_type, subnets, tag, rm)| {
            sp(Redistribute {
                source,
                metric,
                metric_type,
                subnets,
                tag,
                route_map: rm.map(sp),
            })
        });
    let router = (
        proto,
        option::of(ipv4()),
        vec(red, 0..3),
        vec(text(), 0..2),
        vec(text(), 0..2),
    )
        .prop_map(
            |(protocol, id, redistribute, networks, neighbors)| RouterProcess {
                protocol,
                router_id: id.map(sp),
                redistribute,
                networks: networks.into_iter().map(sp).collect(),
                neighbors: neighbors.into_iter().map(sp).collect(),
                span: Span::default(),
            },
        );
    let rm_entry = (
        action(),
        vec(any::<u32>(), 0..3),
        vec(
            prop_oneof![
                (1u32..200).prop_map(AclName::Number),
                "acl[a-z]{1,3}".prop_map(AclName::Name)
            ],
            0..2,
        ),
        option::of(any::<u32>()),
        option::of(1u8..=2),
        option::of(any::<u32>()),
    );
    (
        vec(router, 0..3),
        btree_map(name(), btree_map(0u32..=65535, rm_entry, 1..3), 0..2),
    )
        .prop_map(|(mut routers, maps)| {
            let mut seen = std::collections::HashSet::new();
            routers.retain(|r| seen.insert(r.protocol));
            let maps = maps
                .into_iter()
                .map(|(n, entries)| {
                    let entries = entries
                        .into_iter()
                        .map(|(seq, (action, tags, acls, metric, mt, tag))| {
                            (
                                seq,
                                RouteMapEntry {
                                    action,
                                    seq: sp(seq),
                                    match_tags: tags.into_iter().map(sp).collect(),
                                    match_ip_address: acls.into_iter().map(sp).collect(),
                                    set_metric: metric.map(sp),
                                    set_metric_type: mt.map(sp),
                                    set_tag: tag.map(sp),
                                    span: Span::default(),
                                },
                            )
                        })
                        .collect();
                    (n, entries)
                })
                .collect();
            (routers, maps)
        })
}

fn rest() -> impl Strategy<Value = Config> {
    (
        (
            option::of(host()),
            option::of(host()),
            vec((ipv4(), prop_oneof![Just(53u16), 1u16..]), 0..6),
            option::of(any::<bool>()),
            vec("/[a-z/]{1,10}\\.key", 0..2),
        ),
        btree_map(
            name(),
            (
                any::<bool>(),
                option::of("[0-9]{1,5}:[0-9]{1,5}"),
                vec(
                    (
                        prop::sample::select(vec![
                            RouteTargetDir::Import,
                            RouteTargetDir::Export,
                            RouteTargetDir::Both,
                        ]),
                        "[0-9]{1,5}:[0-9]{1,5}",
                    ),
                    0..3,
                ),
            ),
            0..3,
        ),
        (
            option::of(60u32..=86400),
            option::of(120u32..=86400),
            option::of(2560u64..=4_294_967_295),
            option::of((6u32..=12).prop_map(|b| 1u32 << b)),
            option::of(prop_oneof![
                Just(DfBit::Clear),
                Just(DfBit::Set),
                Just(DfBit::Copy)
            ]),
        ),
        (
            vec("--?[a-z][a-z0-9-]{0,8}", 0..4),
            option::of(0u32..=1023),
            option::of(prop::collection::btree_set(0u32..=1023, 1..4)),
            option::of(1024u32..=16_777_215),
            option::of(1u16..=256),
        ),
        btree_map(
            name(),
            (
                option::of(prop::sample::select(vec!["auto", "manual", "acl"])),
                option::of((name(), name())),
                option::of(prop::sample::select(vec![
                    "client",
                    "network-extension",
                    "network-plus",
                ])),
                vec(
                    prop_oneof![ipv4().prop_map(|a| a.to_string()), host()],
                    0..2,
                ),
                option::of((name(), name())),
                option::of(prop::sample::select(vec![
                    "interactive",
                    "local",
                    "http-intercept",
                ])),
                option::of(1u32..=65535),
            ),
            0..2,
        ),
        (
            option::of((0u32..=60_000, 0u32..=60_000)),
            option::of((1u32..=3600, 1u32..=10_000, 1u32..=10_000, 1u32..=86400)),
        ),
    )
        .prop_map(
            |((hostname, domain, ns, dnssec, anchors), vrfs, g, d, ez, pp)| Config {
                peer_policy: PeerPolicy {
                    backoff: pp.0.map(|(a, b)| {
                        sp(PeerBackoff {
                            initial_ms: a.min(b),
                            maximum_ms: a.max(b),
                        })
                    }),
                    dampening: pp.1.map(|(h, r, s, m)| {
                        sp(PeerDampening {
                            half_life_s: h,
                            reuse: r.min(s),
                            suppress: r.max(s) + 1,
                            max_suppress_s: m,
                        })
                    }),
                },
                hostname: hostname.map(sp),
                domain_name: domain.map(sp),
                name_servers: ns
                    .into_iter()
                    .map(|(address, port)| sp(NameServer { address, port }))
                    .collect(),
                dns_resolver: DnsResolver {
                    dnssec_required: dnssec.map(sp),
                    trust_anchors: anchors.into_iter().map(sp).collect(),
                },
                vrfs: vrfs
                    .into_iter()
                    .map(|(n, (def, rd, rts))| {
                        let v = Vrf {
                            name: sp(n.clone()),
                            style: if def {
                                VrfStyle::Definition
                            } else {
                                VrfStyle::IpVrf
                            },
                            rd: rd.map(sp),
                            route_targets: rts.into_iter().map(sp).collect(),
                            span: Span::default(),
                        };
                        (n, v)
                    })
                    .collect(),
                ipsec_global: IpsecGlobal {
                    idle_time: g.0.map(sp),
                    lifetime_seconds: g.1.map(sp),
                    lifetime_kilobytes: g.2.map(sp),
                    replay_window: g.3.map(sp),
                    df_bit: g.4.map(sp),
                },
                dpdk: DpdkGlobal {
                    eal_options: d.0.into_iter().map(sp).collect(),
                    main_lcore: d.1.map(sp),
                    worker_lcores: d.2.map(|s| sp(s.into_iter().collect())),
                    mempool_mbufs: d.3.map(sp),
                    burst: d.4.map(sp),
                },
                ezvpn_clients: ez
                    .into_iter()
                    .map(|(n, (connect, group, mode, peers, user, xauth, vi))| {
                        let e = EzvpnClient {
                            name: sp(n.clone()),
                            connect: connect.map(|s| sp(s.to_string())),
                            group: group.map(|(g, k)| sp((g, k.into()))),
                            mode: mode.map(|s| sp(s.to_string())),
                            peers: peers.into_iter().map(sp).collect(),
                            username: user.map(|(u, p)| sp((u, p.into()))),
                            xauth_userid_mode: xauth.map(|s| sp(s.to_string())),
                            virtual_interface: vi.map(sp),
                            span: Span::default(),
                        };
                        (n, e)
                    })
                    .collect(),
                ..Config::default()
            },
        )
}

fn configs() -> impl Strategy<Value = Config> {
    (
        rest(),
        interfaces(),
        static_routes(),
        access_lists(),
        transform_sets(),
        (crypto_maps(), dynamic_maps(), ipsec_profiles()),
        isakmp(),
        ikev2(),
        routing(),
    )
        .prop_map(
            |(
                mut c,
                ifs,
                routes,
                acls,
                ts,
                (maps, dyns, profiles),
                isakmp,
                ikev2,
                (routers, rms),
            )| {
                c.interfaces = ifs;
                c.static_routes = routes;
                c.access_lists = acls;
                c.transform_sets = ts;
                c.crypto_maps = maps;
                c.dynamic_maps = dyns;
                c.ipsec_profiles = profiles;
                c.isakmp = isakmp;
                c.ikev2 = ikev2;
                c.routers = routers;
                c.route_maps = rms;
                c
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn parse_of_render_is_identity(model in configs()) {
        let text = render(&model);
        let parsed = parse(&text);
        let errors: Vec<String> = parsed
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.render("rendered", &text))
            .collect();
        prop_assert!(errors.is_empty(), "{}\n{text}", errors.join(""));
        prop_assert_eq!(&parsed.config, &model, "\n{}", text);
        // Rendering is canonical: a second round gives the same text.
        prop_assert_eq!(render(&parsed.config), text);
    }
}
