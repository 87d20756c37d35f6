//! ESP decapsulation on arbitrary input: never a panic, every refusal a counted drop, and
//! whatever is accepted is a well-formed inner IPv4 packet. The first byte picks the mode:
//! 0 arbitrary outer packets (classify, then decapsulate on the SA with the packet's SPI);
//! 1 arbitrary plaintext sealed authentically, so the trailer and inner checks see fuzzed
//! bytes behind a valid ICV; 2 arbitrary inner packets encapsulated and decapsulated again,
//! which must give them back.
#![no_main]

use esp::{classify, Classified, InboundSa, OutboundSa, SaParams, Transform, TunnelTemplate};
use pktbuf::{PacketBuf, TestBuf};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use std::net::Ipv4Addr;
use std::sync::OnceLock;

const KEYMAT: [u8; 20] = [7; 20];
const SPI: u32 = 0x1000;
const SPI_ESN: u32 = 0x2000;
/// The round-trip mode's own SA pair, so that fuzzed sequence numbers of the other modes
/// cannot push its window ahead of its sender.
const SPI_ROUND_TRIP: u32 = 0x3000;

struct Sas {
    plain: InboundSa,
    esn: InboundSa,
    round_trip: InboundSa,
    out: OutboundSa,
    key: LessSafeKey,
}

fn sas() -> &'static Sas {
    static SAS: OnceLock<Sas> = OnceLock::new();
    SAS.get_or_init(|| {
        let tunnel = TunnelTemplate::new(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
        let p = SaParams::from_keymat(SPI, Transform::AesGcm128, &KEYMAT, tunnel).unwrap();
        let esn = SaParams {
            spi: SPI_ESN,
            esn: true,
            replay_window: 1024,
            ..p.clone()
        };
        let round_trip = SaParams {
            spi: SPI_ROUND_TRIP,
            ..p.clone()
        };
        Sas {
            plain: InboundSa::new(&p, 0).unwrap(),
            esn: InboundSa::new(&esn, 0).unwrap(),
            round_trip: InboundSa::new(&round_trip, 0).unwrap(),
            out: OutboundSa::new(&round_trip, 0).unwrap(),
            key: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &KEYMAT[..16]).unwrap()),
        }
    })
}

fn decapsulate(packet: &[u8]) -> Option<Vec<u8>> {
    let Ok(Classified::Esp(at)) = classify(packet) else {
        return None;
    };
    let sa = match at.spi {
        SPI_ESN => &sas().esn,
        SPI_ROUND_TRIP => &sas().round_trip,
        _ => &sas().plain,
    };
    let before = sa.counters().snapshot();
    let mut buf = TestBuf::like_mbuf(&packet[..packet.len().min(2048)]);
    let verdict = sa.decapsulate(&mut buf, &at, 0);
    let after = sa.counters().snapshot();
    match verdict {
        Ok(d) => {
            assert_eq!(after.packets, before.packets + 1);
            assert_eq!(buf.len(), d.inner_len);
            let inner = wire::ipv4::Ipv4Packet::new_checked(buf.data()).expect("inner is IPv4");
            assert_eq!(inner.total_len(), d.inner_len);
            Some(buf.data().to_vec())
        }
        Err(_) => {
            assert_eq!(
                after.total_drops(),
                before.total_drops() + 1,
                "uncounted drop"
            );
            None
        }
    }
}

fn seal_authentic(seq: u32, mut plain: Vec<u8>) -> Vec<u8> {
    let salt = &KEYMAT[16..];
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(salt);
    nonce[4..].copy_from_slice(&u64::from(seq).to_be_bytes());
    let mut aad = SPI.to_be_bytes().to_vec();
    aad.extend_from_slice(&seq.to_be_bytes());
    let tag = sas()
        .key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut plain,
        )
        .unwrap();
    let esp_len = 16 + plain.len() + 16;
    let mut packet = vec![0u8; 20];
    wire::ipv4::Ipv4Repr {
        src: Ipv4Addr::new(192, 0, 2, 2),
        dst: Ipv4Addr::new(192, 0, 2, 1),
        protocol: 50,
        tos: 0,
        ident: 0,
        dont_fragment: false,
        ttl: 64,
        payload_len: esp_len as u16,
    }
    .emit(&mut packet);
    packet.extend_from_slice(&SPI.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&u64::from(seq).to_be_bytes());
    packet.extend_from_slice(&plain);
    packet.extend_from_slice(tag.as_ref());
    packet
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            decapsulate(rest);
        }
        1 => {
            if rest.len() < 4 || rest.len() > 1900 {
                return;
            }
            let seq = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
            decapsulate(&seal_authentic(seq, rest[4..].to_vec()));
        }
        _ => {
            if rest.len() > 1900 {
                return;
            }
            let mut buf = TestBuf::like_mbuf(rest);
            if sas().out.encapsulate(&mut buf, 0).is_ok() {
                let total = wire::ipv4::Ipv4Packet::new_checked(rest)
                    .unwrap()
                    .total_len();
                let back = decapsulate(buf.data()).expect("own packet refused");
                assert_eq!(back, &rest[..total]);
            }
        }
    }
});
