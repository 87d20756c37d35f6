//! Helpers shared by the ESP integration tests.
#![allow(dead_code)]

use esp::*;
use pktbuf::{PacketBuf, TestBuf};
use std::net::Ipv4Addr;
use wire::ipv4::{proto, Ipv4Repr};

pub const LOCAL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

pub fn keymat(transform: Transform, seed: u8) -> Vec<u8> {
    (0..transform.keymat_len())
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
        .collect()
}

/// Parameters for one SA between LOCAL and REMOTE (the outbound view; inbound uses the same).
pub fn params(transform: Transform, udp: bool, esn: bool) -> SaParams {
    let mut tunnel = TunnelTemplate::new(LOCAL, REMOTE);
    if udp {
        tunnel.udp = Some(UdpEncap {
            src_port: 4500,
            dst_port: 4500,
        });
    }
    let mut p =
        SaParams::from_keymat(0x1000_0001, transform, &keymat(transform, 3), tunnel).unwrap();
    p.esn = esn;
    p
}

/// An inner IPv4/UDP packet of `total` bytes (at least 28) with a payload derived from `seed`.
pub fn inner_packet(total: usize, seed: u8, dont_fragment: bool) -> Vec<u8> {
    assert!(total >= 28);
    let mut p = vec![0u8; total];
    Ipv4Repr {
        src: Ipv4Addr::new(10, 1, 0, 5),
        dst: Ipv4Addr::new(10, 2, 0, 9),
        protocol: proto::UDP,
        tos: 0x28,
        ident: u16::from(seed) * 257,
        dont_fragment,
        ttl: 63,
        payload_len: (total - 20) as u16,
    }
    .emit(&mut p);
    wire::udp::emit_header(&mut p[20..], 40000, 40001, total - 28);
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    p
}

/// Encapsulates `inner` on `sa` in an mbuf-shaped buffer and returns the outer packet.
pub fn encapsulate(sa: &OutboundSa, inner: &[u8]) -> Vec<u8> {
    let mut buf = TestBuf::like_mbuf(inner);
    sa.encapsulate(&mut buf, 0).unwrap();
    buf.data().to_vec()
}

/// Classifies and decapsulates `outer` on `sa`; the inner packet, or why it was dropped.
pub fn decapsulate(sa: &InboundSa, outer: &[u8]) -> Result<Vec<u8>, DropReason> {
    let at = match classify(outer)? {
        Classified::Esp(at) => at,
        other => panic!("not ESP: {other:?}"),
    };
    let mut buf = TestBuf::like_mbuf(outer);
    sa.decapsulate(&mut buf, &at, 0)?;
    Ok(buf.data().to_vec())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}
