//! Known-answer tests from published full-packet vectors.
//!
//! * draft-mcgrew-gcm-test-01 tunnel-mode packets, as corrected in DPDK's
//!   `app/test/test_cryptodev_security_ipsec_test_vectors.h` (`pkt_aes_128_gcm`,
//!   `pkt_aes_256_gcm`): outer header fields TTL 0x80, identification 0x698f, DF clear.
//! * RFC 7634 Appendix A: ChaCha20-Poly1305 ESP, SPI 0x01020304, sequence number 5.
//!
//! Encapsulation is given the vector's IV (rri otherwise uses the sequence number) through
//! the crate-internal `seal`, and must reproduce the vector byte for byte; decapsulation of
//! the vector must yield the exact inner packet.

use crate::*;
use pktbuf::{PacketBuf, TestBuf};
use std::net::Ipv4Addr;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

struct Vector {
    transform: Transform,
    key: &'static str,
    salt: [u8; 4],
    spi: u32,
    seq: u64,
    iv: &'static str,
    inner: &'static str,
    /// The whole outer packet, or for RFC 7634 the ESP part from the SPI on.
    outer: &'static str,
    outer_is_esp_only: bool,
}

const GCM128: Vector = Vector {
    transform: Transform::AesGcm128,
    key: "feffe9928665731c6d6a8f9467308308",
    salt: [0xca, 0xfe, 0xba, 0xbe],
    spi: 0xa5f8,
    seq: 1,
    iv: "facedbaddecaf888",
    inner: "4500003e698f000080114dcc c0a80102 c0a80101
            0a980035002a2343b2d001000001000000000000037369700963796265726369747902646b0000010001",
    outer: "45000074698f000080324d75 c0a80102 c0a80101 0000a5f8 00000001 facedbaddecaf888
            deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c3de81827c10e9a4f51330d0eec416642
            cfbb85a5b47e48a4ec3b9ba95d918bd429c737579ff19e58cffc607a3bce8994",
    outer_is_esp_only: false,
};

const GCM256: Vector = Vector {
    transform: Transform::AesGcm256,
    key: "abbccddef00112233445566778899aababbccddef00112233445566778899aab",
    salt: [0x11, 0x22, 0x33, 0x44],
    spi: 0x4a2c_bfe3,
    seq: 1,
    iv: "0102030405060708",
    inner: "4500003069a64000800626 90 c0a80102 9389155e
            0a9e008b2dc57ee000000000700240 0020bf0000020405b401010402",
    outer: "45000068698f000080324d81 c0a80102 c0a80101 4a2cbfe3 00000001 0102030405060708
            ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763748a637985771d347f0545659f14e99def
            842d8b00144a1fec6adf0c9a927feea6c51160",
    outer_is_esp_only: false,
};

const CHACHA: Vector = Vector {
    transform: Transform::ChaCha20Poly1305,
    key: "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    salt: [0xa0, 0xa1, 0xa2, 0xa3],
    spi: 0x0102_0304,
    seq: 5,
    iv: "1011121314151617",
    inner: "45000054a6f200004001e778 c6336405 c0000205 08005b7a3a080000553bec1000073627
            08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637",
    outer: "01020304 00000005 1011121314151617
            24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c614ee8099d52844eb61aa95dfab4c02f7
            2aa71e7c4c4f64c9befe2facc638e8f3cbec163fac469b502773f6fb94e664da9165b82829f641e076aaa8266b7fb0f7
            b11b369907e1ad43",
    outer_is_esp_only: true,
};

fn params(v: &Vector) -> SaParams {
    let mut tunnel =
        TunnelTemplate::new(Ipv4Addr::new(192, 168, 1, 2), Ipv4Addr::new(192, 168, 1, 1));
    tunnel.ttl = 0x80;
    tunnel.ident = IdentPolicy::Fixed(0x698f);
    tunnel.df = DfPolicy::Clear;
    SaParams {
        spi: v.spi,
        transform: v.transform,
        key: hex(v.key).into(),
        salt: v.salt,
        esn: false,
        replay_window: 64,
        anti_replay: true,
        lifetime: Lifetime::default(),
        tunnel,
        padding: Padding::Minimal,
    }
}

fn encapsulate_with_vector_iv(v: &Vector) -> Vec<u8> {
    let sa = OutboundSa::new(&params(v), 0).unwrap();
    let mut buf = TestBuf::like_mbuf(&hex(v.inner));
    sa.prepare_for_test(&mut buf).unwrap();
    let iv: [u8; 8] = hex(v.iv).try_into().unwrap();
    assert!(sa.seal(&mut buf, v.seq, iv), "ring refused to seal");
    buf.data().to_vec()
}

/// The whole outer packet of a vector: for RFC 7634, rri's outer header in front of the
/// vector's ESP bytes.
fn outer_packet(v: &Vector) -> Vec<u8> {
    let esp = hex(v.outer);
    if !v.outer_is_esp_only {
        return esp;
    }
    let mut packet = encapsulate_with_vector_iv(v);
    packet.truncate(20);
    packet.extend_from_slice(&esp);
    packet
}

fn check_encapsulation(v: &Vector) {
    let got = encapsulate_with_vector_iv(v);
    let want = hex(v.outer);
    let got = if v.outer_is_esp_only {
        &got[20..]
    } else {
        &got[..]
    };
    assert_eq!(hex_str(got), hex_str(&want));
}

fn check_decapsulation(v: &Vector) {
    let sa = InboundSa::new(&params(v), 0).unwrap();
    let packet = outer_packet(v);
    let Ok(Classified::Esp(at)) = classify(&packet) else {
        panic!("not ESP")
    };
    assert_eq!(at.spi, v.spi);
    let mut buf = TestBuf::like_mbuf(&packet);
    let d = sa.decapsulate(&mut buf, &at, 0).unwrap();
    assert_eq!(hex_str(buf.data()), hex_str(&hex(v.inner)));
    assert_eq!(
        d,
        Decapsulated {
            seq: v.seq,
            inner_len: hex(v.inner).len()
        }
    );
    // The same packet again is a replay.
    let mut again = TestBuf::like_mbuf(&packet);
    assert_eq!(sa.decapsulate(&mut again, &at, 0), Err(DropReason::Replay));
    let c = sa.counters().snapshot();
    assert_eq!((c.packets, c.drops(DropReason::Replay)), (1, 1));
}

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn aes_gcm_128_tunnel_vector_encapsulates() {
    check_encapsulation(&GCM128);
}

#[test]
fn aes_gcm_128_tunnel_vector_decapsulates() {
    check_decapsulation(&GCM128);
}

#[test]
fn aes_gcm_256_tunnel_vector_encapsulates() {
    check_encapsulation(&GCM256);
}

#[test]
fn aes_gcm_256_tunnel_vector_decapsulates() {
    check_decapsulation(&GCM256);
}

#[test]
fn rfc7634_appendix_a_encapsulates() {
    check_encapsulation(&CHACHA);
}

#[test]
fn rfc7634_appendix_a_decapsulates() {
    check_decapsulation(&CHACHA);
}
