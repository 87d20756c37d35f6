//! The IKEv2 codec: scapy's IKEv2 layer as the independent reading and writing of the same
//! messages, a round trip over arbitrary messages, and safety on every truncation and byte
//! flip of a real one.

use ike::message::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

fn scapy(args: &[&str]) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "run scripts/setup: the scapy venv is missing"
    );
    let out = Command::new(python)
        .arg(root.join("crates/ike/tests/scapy_ike.py"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sa_init() -> Message {
    Message {
        header: Header {
            spi_i: 0x0102_0304_0506_0708,
            spi_r: 0,
            next_payload: 0,
            exchange: exchange::IKE_SA_INIT,
            flags: flags::INITIATOR,
            message_id: 0,
        },
        payloads: vec![
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: protocol::IKE,
                spi: vec![],
                transforms: vec![
                    Transform {
                        kind: transform_type::ENCR,
                        id: 20,
                        key_len: Some(256),
                    },
                    Transform {
                        kind: transform_type::PRF,
                        id: 5,
                        key_len: None,
                    },
                    Transform {
                        kind: transform_type::DH,
                        id: 31,
                        key_len: None,
                    },
                ],
            }]),
            Payload::Ke {
                group: 31,
                data: (0..32).collect(),
            },
            Payload::Nonce((100..132).collect()),
            Payload::Notify {
                protocol: 0,
                spi: vec![],
                kind: 16388,
                data: vec![0; 20],
            },
            Payload::TsI(vec![TrafficSelector::Ipv4 {
                protocol: 6,
                start_port: 0,
                end_port: 65535,
                start: Ipv4Addr::new(10, 0, 0, 0),
                end: Ipv4Addr::new(10, 0, 0, 255),
            }]),
        ],
    }
}

#[test]
fn reads_what_scapy_writes() {
    let bytes = hex(scapy(&["build"]).trim());
    let m = Message::parse(&bytes).expect("parses");
    let mut expected = sa_init();
    // scapy writes no key length attribute unless the transform length says so.
    if let Payload::Sa(p) = &mut expected.payloads[0] {
        p[0].transforms[0].key_len = None;
    }
    assert_eq!(
        m,
        Message {
            header: Header {
                next_payload: payload_type::SA,
                ..expected.header
            },
            ..expected
        }
    );
    assert_eq!(m.emit(), bytes, "emit(parse(x)) == x");
}

#[test]
fn scapy_reads_what_rri_writes() {
    let bytes = sa_init().emit();
    let out = scapy(&["dissect", &to_hex(&bytes)]);
    for line in [
        "init_SPI=0102030405060708",
        "exch_type=34",
        &format!("length={}", bytes.len()),
        "transform=1,20,256",
        "transform=2,5,None",
        "transform=4,31,None",
        "group=31",
        &format!("ke={}", to_hex(&(0..32).collect::<Vec<u8>>())),
        "notify=16388",
        "ts=6,0,65535,10.0.0.0,10.0.0.255",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_or_a_message_never_a_panic() {
    let bytes = sa_init().emit();
    for n in 0..bytes.len() {
        let mut cut = bytes[..n].to_vec();
        // Keep the header's length consistent so that the payload parsers are reached.
        if n >= HEADER_LEN {
            cut[24..28].copy_from_slice(&(n as u32).to_be_bytes());
        }
        assert!(Message::parse(&cut).is_err(), "truncated to {n}");
    }
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            if let Ok(m) = Message::parse(&b) {
                let again =
                    Message::parse(&m.emit()).expect("what was read can be written and read");
                assert_eq!(again.payloads, m.payloads);
            }
        }
    }
}

#[test]
fn an_unknown_critical_payload_is_kept_with_its_bit() {
    let m = Message {
        header: sa_init().header,
        payloads: vec![
            Payload::Unknown {
                kind: 99,
                critical: true,
                body: vec![1, 2, 3],
            },
            Payload::Nonce(vec![7; 16]),
        ],
    };
    let back = Message::parse(&m.emit()).unwrap();
    assert_eq!(back.payloads, m.payloads);
}

#[test]
fn the_sk_payload_ends_the_chain_and_keeps_its_inner_type() {
    let m = Message {
        header: Header {
            exchange: exchange::IKE_AUTH,
            message_id: 1,
            ..sa_init().header
        },
        payloads: vec![Payload::Sk {
            first: payload_type::IDI,
            body: vec![9; 40],
        }],
    };
    let bytes = m.emit();
    assert_eq!(bytes[16], payload_type::SK);
    let back = Message::parse(&bytes).unwrap();
    assert_eq!(back.payloads, m.payloads);
    let inner = vec![
        Payload::IdI {
            kind: 1,
            data: vec![192, 0, 2, 1],
        },
        Payload::Auth {
            method: 2,
            data: vec![5; 32],
        },
    ];
    let mut chain = Vec::new();
    emit_payload_chain(&inner, &mut chain);
    assert_eq!(
        parse_payload_chain(payload_type::IDI, &chain).unwrap(),
        inner
    );
}

fn transform() -> impl Strategy<Value = Transform> {
    (1u8..=5, any::<u16>(), prop::option::of(any::<u16>()))
        .prop_map(|(kind, id, key_len)| Transform { kind, id, key_len })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(protocol, a, b, s, e)| {
                TrafficSelector::Ipv4 {
                    protocol,
                    start_port: a,
                    end_port: b,
                    start: Ipv4Addr::from(s),
                    end: Ipv4Addr::from(e),
                }
            }),
        prop::collection::vec(any::<u8>(), 3..20).prop_map(|mut body| {
            // An IPv6 range (type 8): protocol, length, then the rest.
            let len = (body.len() + 1) as u16;
            body[1..3].copy_from_slice(&len.to_be_bytes());
            TrafficSelector::Unsupported { kind: 8, body }
        }),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        prop::collection::vec(
            (
                1u8..=255,
                1u8..=3,
                prop_oneof![Just(0usize), Just(4), Just(8)],
                prop::collection::vec(transform(), 0..6)
            ),
            1..4
        )
        .prop_map(|ps| Payload::Sa(
            ps.into_iter()
                .map(|(number, protocol, spi, transforms)| Proposal {
                    number,
                    protocol,
                    spi: vec![0xab; spi],
                    transforms
                })
                .collect()
        )),
        (any::<u16>(), bytes(64)).prop_map(|(group, data)| Payload::Ke { group, data }),
        (any::<u8>(), bytes(32)).prop_map(|(kind, data)| Payload::IdI { kind, data }),
        (any::<u8>(), bytes(32)).prop_map(|(kind, data)| Payload::IdR { kind, data }),
        (any::<u8>(), bytes(64)).prop_map(|(method, data)| Payload::Auth { method, data }),
        bytes(64).prop_map(Payload::Nonce),
        (any::<u8>(), bytes(8), any::<u16>(), bytes(32)).prop_map(|(protocol, spi, kind, data)| {
            Payload::Notify {
                protocol,
                spi,
                kind,
                data,
            }
        }),
        (any::<u8>(), 0u8..9, 0usize..5).prop_map(|(protocol, spi_size, n)| Payload::Delete {
            protocol,
            spi_size,
            spis: vec![vec![0x5a; spi_size as usize]; n]
        }),
        bytes(32).prop_map(Payload::Vendor),
        prop::collection::vec(selector(), 0..4).prop_map(Payload::TsI),
        prop::collection::vec(selector(), 0..4).prop_map(Payload::TsR),
        (100u8..=255, any::<bool>(), bytes(32)).prop_map(|(kind, critical, body)| {
            Payload::Unknown {
                kind,
                critical,
                body,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn parse_of_emit_is_identity(
        spi_i in any::<u64>(), spi_r in any::<u64>(), exchange in 34u8..=37, fl in any::<u8>(), id in any::<u32>(),
        mut payloads in prop::collection::vec(payload(), 0..8),
        sk in prop::option::of((33u8..=45, bytes(64))),
    ) {
        if let Some((first, body)) = sk {
            payloads.push(Payload::Sk { first, body });
        }
        let m = Message {
            header: Header { spi_i, spi_r, next_payload: payloads.first().map_or(0, Payload::kind), exchange, flags: fl, message_id: id },
            payloads,
        };
        let bytes = m.emit();
        prop_assert_eq!(Message::parse(&bytes), Ok(m));
    }
}
