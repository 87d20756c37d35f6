//! The pipeline's decisions on plain buffers: local delivery and punts, crypto map paths,
//! acquire and resolve events, MTU handling (ICMP fragmentation-needed and fragmentation
//! before encryption), selectors, VLAN input, and arbitrary frames.

use esp::{OutboundSa, SaParams, TunnelTemplate};
use pipeline::{Action, Pipeline, Target};
use pktbuf::{PacketBuf, TestBuf};
use policy::build::{self, PortBinding};
use policy::{Event, Policy, PuntReason, Reason, RingOnly, WorkerCountersSnapshot};
use proptest::prelude::*;
use std::net::Ipv4Addr;
use wire::ipv4::{Ipv4Packet, Ipv4Repr};

const HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0x10, 5];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0x20, 2];
const MAC0: [u8; 6] = [2, 0, 0, 0, 1, 1];
const MAC1: [u8; 6] = [2, 0, 0, 0, 2, 1];
const KEY_IN: &str = "000102030405060708090a0b0c0d0e0f10111213";
const KEY_OUT: &str = "101112131415161718191a1b1c1d1e1f20212223";

fn config(extra: &str, outside_mtu: u16) -> String {
    format!(
        "interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 ip mtu {outside_mtu}
 crypto map VPN
ip route 10.2.0.0 255.255.0.0 192.0.2.2
ip route 10.3.0.0 255.255.0.0 192.0.2.2
ip route 10.4.0.0 255.255.0.0 192.0.2.77
access-list 101 deny ip 10.1.0.0 0.0.255.255 10.2.9.0 0.0.0.255
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
access-list 102 permit ip 10.1.0.0 0.0.255.255 10.3.0.0 0.0.255.255
crypto ipsec transform-set GCM esp-gcm 128
crypto map VPN 10 ipsec-manual
 set peer 192.0.2.2
 set transform-set GCM
 match address 101
 set session-key inbound esp 4096 cipher {KEY_IN}
 set session-key outbound esp 8192 cipher {KEY_OUT}
crypto map VPN 20 ipsec-isakmp
 set peer 192.0.2.3
 set transform-set GCM
 match address 102
{extra}"
    )
}

struct Setup {
    policy: Policy,
    fib: std::sync::Arc<fib::Snapshot>,
}

fn setup(outside_mtu: u16) -> Setup {
    let checked = config::check(&config("", outside_mtu));
    assert!(
        checked
            .diagnostics
            .0
            .iter()
            .all(|d| d.severity == config::Severity::Warning),
        "{:?}",
        checked.diagnostics
    );
    let ports = [
        PortBinding::new("GigabitEthernet0/0", 0, MAC0),
        PortBinding::new("GigabitEthernet0/1", 1, MAC1),
    ];
    let mut built = build::from_config(&checked.config, &ports, 0, &RingOnly).unwrap();
    built
        .policy
        .neighbours
        .insert((0, u32::from(Ipv4Addr::new(10, 1, 0, 5))), HOST_MAC);
    built
        .policy
        .neighbours
        .insert((1, u32::from(Ipv4Addr::new(192, 0, 2, 2))), PEER_MAC);
    let fib = arc_swap::Guard::into_inner(built.reader.load());
    Setup {
        policy: built.policy,
        fib,
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn ip_packet(src: [u8; 4], dst: [u8; 4], protocol: u8, len: usize, df: bool) -> Vec<u8> {
    let mut p = vec![0u8; len];
    Ipv4Repr {
        src: Ipv4Addr::from(src),
        dst: Ipv4Addr::from(dst),
        protocol,
        tos: 0,
        ident: 7,
        dont_fragment: df,
        ttl: 64,
        payload_len: (len - 20) as u16,
    }
    .emit(&mut p);
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    if protocol == 17 && len >= 28 {
        wire::udp::emit_header(&mut p[20..], 1234, 5678, len - 28);
    }
    p
}

fn frame(dst: [u8; 6], payload: &[u8]) -> TestBuf {
    let mut f = vec![0u8; 14];
    wire::ether::emit(&mut f, dst, HOST_MAC, 0x0800);
    f.extend_from_slice(payload);
    TestBuf::like_mbuf(&f)
}

struct Run {
    action: Action,
    events: Vec<Event>,
    counters: WorkerCountersSnapshot,
}

fn run(s: &Setup, port: u16, buf: &mut TestBuf, now_ns: u64) -> Run {
    let p = Pipeline::new(&s.policy, &s.fib, now_ns);
    let mut events = Vec::new();
    let mut counters = WorkerCountersSnapshot::default();
    let action = p.process(port, buf, &mut counters, &mut |e| events.push(e));
    Run {
        action,
        events,
        counters,
    }
}

/// The peer's side of the manual SA (it sends with our inbound key).
fn peer_sa() -> OutboundSa {
    let p = SaParams::from_keymat(
        4096,
        esp::Transform::AesGcm128,
        &unhex(KEY_IN),
        TunnelTemplate::new(Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 1)),
    )
    .unwrap();
    OutboundSa::new(&p, 0).unwrap()
}

/// The peer's receiving side of our outbound SA.
fn peer_inbound() -> esp::InboundSa {
    let p = SaParams::from_keymat(
        8192,
        esp::Transform::AesGcm128,
        &unhex(KEY_OUT),
        TunnelTemplate::new(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2)),
    )
    .unwrap();
    esp::InboundSa::new(&p, 0).unwrap()
}

fn decap_at_peer(sa: &esp::InboundSa, frame: &TestBuf) -> Result<Vec<u8>, esp::DropReason> {
    let outer = &frame.data()[14..];
    let esp::Classified::Esp(at) = esp::classify(outer)? else {
        panic!("not ESP")
    };
    let mut b = TestBuf::like_mbuf(outer);
    sa.decapsulate(&mut b, &at, 0)?;
    Ok(b.data().to_vec())
}

#[test]
fn local_traffic_is_punted_or_dropped_by_kind() {
    let s = setup(1500);
    let ours = [10, 1, 0, 1];
    let cases: Vec<(Vec<u8>, Action)> = vec![
        (
            ip_packet([10, 1, 0, 5], ours, 1, 60, false),
            Action::Punt(PuntReason::Icmp),
        ),
        (
            ip_packet([10, 1, 0, 5], ours, 6, 60, false),
            Action::Punt(PuntReason::Local),
        ),
        (
            {
                let mut p = ip_packet([10, 1, 0, 5], ours, 17, 60, false);
                wire::udp::emit_header(&mut p[20..], 500, 500, 32);
                p
            },
            Action::Punt(PuntReason::Ike),
        ),
        (
            {
                let mut p = ip_packet([10, 1, 0, 5], ours, 17, 60, false);
                wire::udp::emit_header(&mut p[20..], 4500, 4500, 32);
                p[28..32].fill(0);
                p
            },
            Action::Punt(PuntReason::Ike),
        ),
        (
            {
                let mut p = ip_packet([10, 1, 0, 5], ours, 17, 29, false);
                wire::udp::emit_header(&mut p[20..], 4500, 4500, 1);
                p[28] = 0xff;
                p
            },
            Action::Drop(Reason::NatKeepalive),
        ),
        (
            {
                let mut p = ip_packet([192, 0, 2, 2], [192, 0, 2, 1], 50, 80, false);
                p[20..24].copy_from_slice(&999u32.to_be_bytes());
                p
            },
            Action::Drop(Reason::BadSpi),
        ),
    ];
    for (i, (packet, want)) in cases.into_iter().enumerate() {
        let mut buf = frame(MAC0, &packet);
        let before = buf.clone();
        let r = run(&s, 0, &mut buf, 0);
        assert_eq!(r.action, want, "case {i}");
        if let Action::Punt(_) = want {
            assert_eq!(buf, before, "punted frames are unchanged");
            assert_eq!(r.counters.punted, 1);
        }
    }
    let mut arp =
        TestBuf::like_mbuf(&[[0xff; 6].as_slice(), &HOST_MAC, &[0x08, 0x06], &[0; 28]].concat());
    assert_eq!(
        run(&s, 0, &mut arp, 0).action,
        Action::Punt(PuntReason::Arp)
    );
    let mut unknown_port = frame(MAC0, &ip_packet([10, 1, 0, 5], ours, 1, 60, false));
    assert_eq!(
        run(&s, 9, &mut unknown_port, 0).action,
        Action::Drop(Reason::UnknownPort)
    );
}

#[test]
fn protected_traffic_is_encapsulated_and_the_peer_opens_it() {
    let s = setup(1500);
    let inner = ip_packet([10, 1, 0, 5], [10, 2, 0, 7], 17, 300, true);
    let mut buf = frame(MAC0, &inner);
    let r = run(&s, 0, &mut buf, 0);
    assert_eq!(r.action, Action::Forward(1));
    assert_eq!(r.counters.encapsulated, 1);
    assert_eq!(&buf.data()[..12], &[PEER_MAC, MAC1].concat()[..]);
    let got = decap_at_peer(&peer_inbound(), &buf).unwrap();
    let mut want = inner.clone();
    Ipv4Packet::new_checked(&mut want[..])
        .unwrap()
        .decrement_ttl();
    assert_eq!(got, want);
}

#[test]
fn vlan_tagged_input_is_forwarded() {
    let s = setup(1500);
    let inner = ip_packet([10, 1, 0, 5], [10, 2, 9, 1], 17, 100, false);
    let mut f = vec![0u8; 18];
    f[..6].copy_from_slice(&MAC0);
    f[6..12].copy_from_slice(&HOST_MAC);
    f[12..18].copy_from_slice(&[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
    f.extend_from_slice(&inner);
    let mut buf = TestBuf::like_mbuf(&f);
    assert_eq!(
        run(&s, 0, &mut buf, 0).action,
        Action::Forward(1),
        "deny entry: clear"
    );
    assert_eq!(buf.data()[12..14], [0x08, 0x00]);
    assert_eq!(buf.data()[14 + 8], 63);
}

#[test]
fn a_missing_sa_raises_one_acquire_per_second() {
    let s = setup(1500);
    let packet = ip_packet([10, 1, 0, 5], [10, 3, 0, 1], 17, 100, false);
    let acquire = Event::Acquire {
        map: 0,
        entry: 1,
        peer: Some(Ipv4Addr::new(192, 0, 2, 3)),
    };
    let r = run(&s, 0, &mut frame(MAC0, &packet), 5_000);
    assert_eq!(
        (r.action, r.events),
        (Action::Drop(Reason::NoSa), vec![acquire])
    );
    let r = run(&s, 0, &mut frame(MAC0, &packet), 900_000_000);
    assert_eq!(
        (r.action, r.events.len()),
        (Action::Drop(Reason::NoSa), 0),
        "rate-limited"
    );
    let r = run(&s, 0, &mut frame(MAC0, &packet), 1_100_000_000);
    assert_eq!(r.events, vec![acquire]);
}

#[test]
fn an_unknown_next_hop_asks_for_resolution() {
    let s = setup(1500);
    let r = run(
        &s,
        0,
        &mut frame(
            MAC0,
            &ip_packet([10, 1, 0, 5], [10, 4, 0, 1], 17, 100, false),
        ),
        0,
    );
    assert_eq!(r.action, Action::Drop(Reason::NoNeighbour));
    assert_eq!(
        r.events,
        vec![Event::Resolve {
            port: 1,
            addr: Ipv4Addr::new(192, 0, 2, 77)
        }]
    );
}

#[test]
fn inbound_esp_is_checked_against_the_selectors() {
    let s = setup(1500);
    let peer = peer_sa();
    let esp_frame = |inner: &[u8]| {
        let mut b = TestBuf::like_mbuf(inner);
        peer.encapsulate(&mut b, 0).unwrap();
        frame(MAC1, b.data())
    };
    let good = ip_packet([10, 2, 0, 7], [10, 1, 0, 5], 17, 120, false);
    let mut buf = esp_frame(&good);
    let r = run(&s, 1, &mut buf, 0);
    assert_eq!(r.action, Action::Forward(0));
    assert_eq!(r.counters.decapsulated, 1);
    let mut want = good.clone();
    Ipv4Packet::new_checked(&mut want[..])
        .unwrap()
        .decrement_ttl();
    assert_eq!(&buf.data()[14..], &want[..]);
    assert_eq!(&buf.data()[..12], &[HOST_MAC, MAC0].concat()[..]);

    let spoofed = ip_packet([10, 9, 9, 9], [10, 1, 0, 5], 17, 120, false);
    assert_eq!(
        run(&s, 1, &mut esp_frame(&spoofed), 0).action,
        Action::Drop(Reason::PolicyViolation)
    );
    // Counted on the SA as well, for `show crypto ipsec sa`.
    let sa = &s
        .policy
        .inbound
        .get(&peer.spi())
        .expect("the inbound SA")
        .sa;
    assert_eq!(
        sa.counters()
            .snapshot()
            .drops(esp::DropReason::SelectorMismatch),
        1
    );
    let first = esp_frame(&good);
    let mut again = first.clone();
    let mut once = first;
    assert_eq!(run(&s, 1, &mut once, 0).action, Action::Forward(0));
    assert_eq!(
        run(&s, 1, &mut again, 0).action,
        Action::Drop(Reason::EspRejected),
        "a replay"
    );
}

#[test]
fn dont_fragment_too_big_gets_icmp_fragmentation_needed() {
    let s = setup(1500);
    let big = ip_packet([10, 1, 0, 5], [10, 2, 0, 7], 17, 1480, true);
    let mut buf = frame(MAC0, &big);
    let r = run(&s, 0, &mut buf, 0);
    assert_eq!(
        r.action,
        Action::Forward(0),
        "the ICMP goes back toward the sender"
    );
    assert_eq!(r.counters.drops(Reason::FragNeededSent), 1);
    let icmp_packet = &buf.data()[14..];
    let ip = Ipv4Packet::new_checked(icmp_packet).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 5), 1)
    );
    let icmp = wire::icmp::IcmpPacket::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((icmp.msg_type(), icmp.code()), (3, 4));
    // The advertised MTU is the largest inner packet whose ESP fits 1500 bytes.
    let mtu = usize::from(icmp.next_hop_mtu());
    let sa = s.policy.maps[0].entries[0].outbound.clone().unwrap();
    assert!(
        sa.outer_len(mtu) <= 1500 && sa.outer_len(mtu + 1) > 1500,
        "mtu {mtu}"
    );
    assert_eq!(
        &ip.payload()[8..],
        &big[..28],
        "quotes the header and 8 bytes"
    );
    // A packet that size now passes.
    let fits = ip_packet([10, 1, 0, 5], [10, 2, 0, 7], 17, mtu, true);
    assert_eq!(
        run(&s, 0, &mut frame(MAC0, &fits), 0).action,
        Action::Forward(1)
    );
}

#[test]
fn fragmentable_packets_are_fragmented_before_encryption() {
    let s = setup(1500);
    let big = ip_packet([10, 1, 0, 5], [10, 2, 0, 7], 17, 3000, false);
    let mut buf = TestBuf::new(
        128,
        &[&frame(MAC0, &[]).data()[..14], &big[..]].concat(),
        1000,
    );
    let p = Pipeline::new(&s.policy, &s.fib, 0);
    let mut counters = WorkerCountersSnapshot::default();
    let mut events = Vec::new();
    let Action::Fragment(plan) = p.process(0, &mut buf, &mut counters, &mut |e| events.push(e))
    else {
        panic!("expected fragmentation");
    };
    assert!(matches!(
        plan.target,
        Target::Sa {
            map: 0,
            entry: 0,
            ..
        }
    ));
    let mut out = Vec::new();
    p.fragment(
        plan,
        buf,
        &mut || Some(TestBuf::new(128, &[], 2048 - 128)),
        &mut counters,
        &mut |e| events.push(e),
        &mut |b, a| out.push((b, a)),
    );
    assert_eq!(out.len(), 3, "3000 bytes through a 1400-odd MTU");
    let peer = peer_inbound();
    let mut payload = vec![0u8; 3000 - 20];
    let mut covered = 0;
    for (b, a) in &out {
        assert_eq!(*a, Action::Forward(1));
        assert!(b.len() - 14 <= 1500);
        let inner = decap_at_peer(&peer, b).unwrap();
        let ip = Ipv4Packet::new_checked(&inner[..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.ttl(), 63);
        assert_eq!(ip.ident(), 7);
        let offset = usize::from(ip.flags_frag() & 0x1fff) * 8;
        let more = ip.flags_frag() & 0x2000 != 0;
        assert_eq!(more, offset + ip.payload().len() < 3000 - 20);
        payload[offset..offset + ip.payload().len()].copy_from_slice(ip.payload());
        covered += ip.payload().len();
    }
    assert_eq!(covered, 3000 - 20);
    assert_eq!(
        payload,
        big[20..].to_vec(),
        "fragments reassemble to the original"
    );
    assert_eq!(counters.encapsulated, 3);
}

#[test]
fn clear_traffic_is_fragmented_to_a_small_mtu() {
    let s = setup(576);
    let big = ip_packet([10, 1, 0, 5], [10, 2, 9, 9], 17, 1400, false);
    let mut buf = frame(MAC0, &big);
    let p = Pipeline::new(&s.policy, &s.fib, 0);
    let mut counters = WorkerCountersSnapshot::default();
    let Action::Fragment(plan) = p.process(0, &mut buf, &mut counters, &mut |_| {}) else {
        panic!()
    };
    let mut out = Vec::new();
    p.fragment(
        plan,
        buf,
        &mut || Some(TestBuf::new(128, &[], 1920)),
        &mut counters,
        &mut |_| {},
        &mut |b, a| out.push((b, a)),
    );
    assert_eq!(out.len(), 3);
    let total: usize = out
        .iter()
        .map(|(b, a)| {
            assert_eq!(*a, Action::Forward(1));
            let ip = Ipv4Packet::new_checked(&b.data()[14..]).unwrap();
            assert!(ip.total_len() <= 576 && ip.verify_checksum());
            ip.payload().len()
        })
        .sum();
    assert_eq!(total, 1380);
    // Without buffers the packet is dropped whole and counted.
    let mut buf = frame(MAC0, &big);
    let Action::Fragment(plan) = p.process(0, &mut buf, &mut counters, &mut |_| {}) else {
        panic!()
    };
    let mut out = Vec::new();
    p.fragment(
        plan,
        buf,
        &mut || None::<TestBuf>,
        &mut counters,
        &mut |_| {},
        &mut |b, a| out.push((b, a)),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, Action::Drop(Reason::NeedsFragmentation));
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic_and_are_all_accounted(frames in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..200), 1..40), port in 0u16..3) {
        let s = setup(1500);
        let p = Pipeline::new(&s.policy, &s.fib, 0);
        let mut counters = WorkerCountersSnapshot::default();
        let mut forwarded = 0u64;
        for f in &frames {
            let mut buf = TestBuf::like_mbuf(f);
            match p.process(port, &mut buf, &mut counters, &mut |_| {}) {
                Action::Forward(_) | Action::Fragment(_) => forwarded += 1,
                _ => {}
            }
        }
        prop_assert_eq!(forwarded + counters.punted + counters.total_drops(), frames.len() as u64);
    }
}
