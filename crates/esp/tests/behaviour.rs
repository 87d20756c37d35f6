//! Behaviour of the SA logic: round trips, the outer header, tampering, sequence numbers and
//! nonces across threads, exhaustion, lifetimes, the burst API and every drop reason.

mod common;

use common::*;
use esp::*;
use pktbuf::{PacketBuf, TestBuf};
use proptest::prelude::*;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use std::collections::HashSet;
use wire::ipv4::Ipv4Packet;

const SEC: u64 = 1_000_000_000;

fn transform() -> impl Strategy<Value = Transform> {
    prop::sample::select(vec![
        Transform::AesGcm128,
        Transform::AesGcm256,
        Transform::ChaCha20Poly1305,
    ])
}

/// Fixes the outer total length and checksum after the packet was cut at `len` bytes.
fn cut(outer: &[u8], len: usize) -> Vec<u8> {
    let mut p = outer[..len].to_vec();
    if len >= 20 {
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        if len >= 28 && p[9] == 17 {
            p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
        }
        Ipv4Packet::new_checked(&mut p[..]).unwrap().fill_checksum();
    }
    p
}

proptest! {
    #[test]
    fn round_trip(t in transform(), udp in any::<bool>(), esn in any::<bool>(), len in 28usize..1500,
                  seed in any::<u8>(), df in any::<bool>(), count in 1usize..5, minimal in any::<bool>()) {
        let padding = if minimal { Padding::Minimal } else { Padding::Align16 };
        let p = SaParams { padding, ..params(t, udp, esn) };
        let out = OutboundSa::new(&p, 0).unwrap();
        let inb = InboundSa::new(&p, 0).unwrap();
        for k in 0..count {
            let inner = inner_packet(len, seed.wrapping_add(k as u8), df);
            let outer = encapsulate(&out, &inner);
            prop_assert_eq!(outer.len(), out.outer_len(inner.len()));
            let plain = outer.len() - out.front_overhead() - ICV_LEN;
            prop_assert_eq!(plain % padding.alignment(), 0);
            prop_assert!(plain - inner.len() - 2 < padding.alignment(), "no more padding than needed");
            let ip = Ipv4Packet::new_checked(&outer[..]).unwrap();
            prop_assert!(ip.verify_checksum());
            prop_assert_eq!(ip.total_len(), outer.len());
            prop_assert_eq!((ip.src(), ip.dst(), ip.ttl()), (LOCAL, REMOTE, 64));
            prop_assert_eq!(ip.protocol(), if udp { 17 } else { 50 });
            prop_assert_eq!(ip.dont_fragment(), df, "DF copied by default");
            prop_assert_eq!(ip.tos(), 0x28, "DSCP and ECN copied");
            prop_assert_eq!(ip.ident(), (k + 1) as u16, "identification from the sequence number");
            let esp_at = out.front_overhead() - 16;
            prop_assert_eq!(&outer[esp_at + 4..esp_at + 8], &((k + 1) as u32).to_be_bytes());
            prop_assert_eq!(&outer[esp_at + 8..esp_at + 16], &((k + 1) as u64).to_be_bytes(), "IV is the sequence number");
            if udp {
                prop_assert_eq!(&outer[20..24], &[0x11, 0x94, 0x11, 0x94]);
                prop_assert_eq!(usize::from(u16::from_be_bytes([outer[24], outer[25]])), outer.len() - 20);
                prop_assert_eq!(&outer[26..28], &[0, 0], "zero UDP checksum");
            }
            prop_assert_eq!(decapsulate(&inb, &outer), Ok(inner));
        }
        prop_assert_eq!(inb.counters().snapshot().packets, count as u64);
        prop_assert_eq!(out.counters().snapshot().bytes, (count * len) as u64);
    }

    /// Any single-byte change to the outer IPv4 header or the ESP packet, or any cut, is a
    /// counted drop and never a panic; the SA still accepts the genuine packet afterwards.
    #[test]
    fn tampering_is_a_counted_drop(t in transform(), udp in any::<bool>(), len in 28usize..200,
                                   at in any::<prop::sample::Index>(), flip in 1u8..=255,
                                   cut_at in any::<prop::sample::Index>(), fix_lengths in any::<bool>()) {
        let p = params(t, udp, false);
        let out = OutboundSa::new(&p, 0).unwrap();
        let inb = InboundSa::new(&p, 0).unwrap();
        let outer = encapsulate(&out, &inner_packet(len, 7, false));
        let esp_at = out.front_overhead() - 16;
        // Bytes the receiver ignores by design: the UDP ports and checksum (RFC 3948: NATs
        // rewrite ports, and the checksum is not checked).
        let ignored = if udp { 20..24 } else { 0..0 };
        let mut i = at.index(outer.len());
        if ignored.contains(&i) || (udp && (26..28).contains(&i)) {
            i = esp_at;
        }
        let mut tampered = outer.clone();
        tampered[i] ^= flip;
        // A refusal by `classify` is counted by the caller (no SA is known yet); a refusal
        // by the SA must show in its counters.
        let drops = || inb.counters().snapshot().total_drops();
        let try_packet = |packet: &[u8]| -> Result<(), DropReason> {
            let Classified::Esp(loc) = classify(packet)? else { return Err(DropReason::BadOuterHeader) };
            let before = drops();
            let mut buf = TestBuf::like_mbuf(packet);
            let v = inb.decapsulate(&mut buf, &loc, 0).map(|_| ());
            assert_eq!(drops(), before + u64::from(v.is_err()), "drop not counted");
            v
        };
        prop_assert!(try_packet(&tampered).is_err(), "byte {} changed and the packet was accepted", i);
        let n = cut_at.index(outer.len());
        let short = if fix_lengths { cut(&outer, n) } else { outer[..n].to_vec() };
        prop_assert!(try_packet(&short).is_err(), "cut at {} and accepted", n);
        // Wrong locations from a careless caller are refused, not trusted.
        if let Ok(Classified::Esp(mut loc)) = classify(&outer) {
            loc.esp_end = outer.len() + 1 + n;
            let mut buf = TestBuf::like_mbuf(&outer[..n]);
            prop_assert_eq!(inb.decapsulate(&mut buf, &loc, 0), Err(DropReason::TooShort));
        }
        // The genuine packet is still accepted: nothing above moved the window.
        prop_assert_eq!(try_packet(&outer), Ok(()));
    }
}

#[test]
fn every_sequence_number_and_nonce_is_used_once_across_threads() {
    // Four threads share one SA, half single packets, half bursts. Every outer packet's IV
    // must equal its sequence number, and all numbers must be distinct and gap-free: with
    // the key fixed per SA, that is the (key, nonce) uniqueness invariant.
    const PER_THREAD: usize = 5000;
    let p = params(Transform::AesGcm128, false, true);
    let sa = OutboundSa::new(&p, 0).unwrap();
    let seqs: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let sa = &sa;
                s.spawn(move || {
                    let mut seen = Vec::with_capacity(PER_THREAD);
                    let iv_of = |outer: &[u8]| {
                        let seq = u32::from_be_bytes(outer[24..28].try_into().unwrap());
                        let iv = u64::from_be_bytes(outer[28..36].try_into().unwrap());
                        assert_eq!(iv as u32, seq, "IV and sequence number disagree");
                        iv
                    };
                    if t % 2 == 0 {
                        for _ in 0..PER_THREAD {
                            seen.push(iv_of(&encapsulate(sa, &inner_packet(60, t, false))));
                        }
                    } else {
                        let mut verdicts = [Ok(()); 32];
                        for _ in 0..PER_THREAD / 32 + 1 {
                            let mut bufs: Vec<TestBuf> = (0..32)
                                .map(|_| TestBuf::like_mbuf(&inner_packet(60, t, false)))
                                .collect();
                            let want = (PER_THREAD - seen.len()).min(32);
                            assert_eq!(
                                sa.encapsulate_burst(&mut bufs[..want], 0, &mut verdicts),
                                want
                            );
                            let mut last = 0;
                            for b in &bufs[..want] {
                                let iv = iv_of(b.data());
                                seen.push(iv);
                                assert!(iv > last, "a burst's numbers increase");
                                last = iv;
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<u64> = seqs.into_iter().flatten().collect();
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(all.len(), 4 * PER_THREAD);
    assert_eq!(distinct.len(), all.len(), "a nonce was used twice");
    assert_eq!(
        distinct,
        (1..=all.len() as u64).collect(),
        "numbers are not 1..=N"
    );
    assert_eq!(sa.last_seq(), all.len() as u64);
}

#[test]
fn sequence_numbers_never_wrap() {
    for (esn, end) in [(false, u64::from(u32::MAX)), (true, u64::MAX)] {
        let p = params(Transform::AesGcm256, false, esn);
        let sa = OutboundSa::new(&p, 0).unwrap();
        assert_eq!(sa.rekey_requested(), None);
        sa.resume_after(end - 3);
        assert_eq!(sa.rekey_requested(), None, "resuming alone raises nothing");
        let inb = InboundSa::new(&p, 0).unwrap();
        inb.window().accept(end - 10).unwrap();
        for k in 0..3 {
            let outer = encapsulate(&sa, &inner_packet(40, k, false));
            assert_eq!(decapsulate(&inb, &outer).map(|_| ()), Ok(()));
            assert_eq!(sa.rekey_requested(), Some(RekeyReason::SequenceSpace));
        }
        assert_eq!(sa.last_seq(), end);
        let mut buf = TestBuf::like_mbuf(&inner_packet(40, 9, false));
        let before = buf.clone();
        assert_eq!(
            sa.encapsulate(&mut buf, 0),
            Err(DropReason::SequenceExhausted)
        );
        assert_eq!(buf, before, "a refused packet is untouched");
        let mut bufs = vec![TestBuf::like_mbuf(&inner_packet(40, 1, false)); 4];
        let mut verdicts = [Ok(()); 4];
        assert_eq!(sa.encapsulate_burst(&mut bufs, 0, &mut verdicts), 0);
        assert!(verdicts
            .iter()
            .all(|v| *v == Err(DropReason::SequenceExhausted)));
        assert_eq!(sa.last_seq(), end, "the counter stays at the end");
        sa.resume_after(3);
        assert_eq!(sa.last_seq(), end, "resuming never moves backwards");
        let c = sa.counters().snapshot();
        assert_eq!((c.packets, c.drops(DropReason::SequenceExhausted)), (3, 5));
    }
}

#[test]
fn a_burst_stops_exactly_at_the_end_of_the_space() {
    let sa = OutboundSa::new(&params(Transform::AesGcm128, true, false), 0).unwrap();
    sa.resume_after(u64::from(u32::MAX) - 5);
    let mut bufs = vec![TestBuf::like_mbuf(&inner_packet(64, 1, false)); 8];
    let mut verdicts = [Ok(()); 8];
    assert_eq!(sa.encapsulate_burst(&mut bufs, 0, &mut verdicts), 5);
    assert!(verdicts[..5].iter().all(Result::is_ok));
    assert!(verdicts[5..]
        .iter()
        .all(|v| *v == Err(DropReason::SequenceExhausted)));
    let last = &bufs[4].data()[28 + 4..28 + 8];
    assert_eq!(last, &u32::MAX.to_be_bytes());
}

#[test]
fn esn_round_trip_across_the_32_bit_boundary() {
    for t in [Transform::AesGcm128, Transform::ChaCha20Poly1305] {
        let p = params(t, true, true);
        let out = OutboundSa::new(&p, 0).unwrap();
        let inb = InboundSa::new(&p, 0).unwrap();
        out.resume_after((1 << 32) - 4);
        inb.window().accept((1 << 32) - 4).unwrap();
        let mut outers = Vec::new();
        for k in 0..8 {
            outers.push(encapsulate(&out, &inner_packet(100, k, false)));
        }
        // Deliver with some reordering across the boundary.
        for i in [1, 0, 3, 2, 5, 4, 7, 6] {
            assert_eq!(
                decapsulate(&inb, &outers[i]).map(|p| p.len()),
                Ok(100),
                "packet {i}"
            );
        }
        assert_eq!(inb.window().top(), (1 << 32) + 4);
        // A replay from before the boundary is still recognised.
        assert_eq!(decapsulate(&inb, &outers[1]), Err(DropReason::Replay));
        // The same packets on a non-ESN receiver fail authentication (the AAD differs).
        let p32 = SaParams {
            esn: false,
            ..p.clone()
        };
        let inb32 = InboundSa::new(&p32, 0).unwrap();
        assert_eq!(decapsulate(&inb32, &outers[7]), Err(DropReason::AuthFailed));
    }
}

#[test]
fn a_forged_high_sequence_number_does_not_move_the_window() {
    let p = params(Transform::AesGcm128, false, false);
    let out = OutboundSa::new(&p, 0).unwrap();
    let inb = InboundSa::new(&p, 0).unwrap();
    let genuine: Vec<Vec<u8>> = (0..3)
        .map(|k| encapsulate(&out, &inner_packet(50, k, false)))
        .collect();
    assert!(decapsulate(&inb, &genuine[2]).is_ok());
    let mut forged = genuine[0].clone();
    forged[24..28].copy_from_slice(&4_000_000u32.to_be_bytes());
    assert_eq!(decapsulate(&inb, &forged), Err(DropReason::AuthFailed));
    assert_eq!(inb.window().top(), 3);
    assert!(
        decapsulate(&inb, &genuine[0]).is_ok(),
        "numbers behind the edge still accepted"
    );
    assert!(decapsulate(&inb, &genuine[1]).is_ok());
}

/// `set security-association replay disable`: replays, and (without extended sequence
/// numbers) packets older than the window, are accepted; forgeries still fail; the window
/// still follows the sender, since extended sequence numbers are inferred from it.
#[test]
fn anti_replay_off_accepts_replays_but_not_forgeries() {
    for esn in [false, true] {
        let mut p = params(Transform::AesGcm128, false, esn);
        p.anti_replay = false;
        let out = OutboundSa::new(&p, 0).unwrap();
        let inb = InboundSa::new(&p, 0).unwrap();
        assert!(!inb.anti_replay());
        let packets: Vec<Vec<u8>> = (0..200)
            .map(|k| encapsulate(&out, &inner_packet(30, k as u8, false)))
            .collect();
        assert!(decapsulate(&inb, &packets[199]).is_ok());
        assert!(decapsulate(&inb, &packets[199]).is_ok(), "a replay passes");
        let old = decapsulate(&inb, &packets[0]);
        if esn {
            // With extended sequence numbers a packet further behind than the window is
            // read as one from the next 2^32 (RFC 4303 appendix A2.1), so it does not
            // authenticate: the window still decides the high half.
            assert_eq!(old, Err(DropReason::AuthFailed));
        } else {
            assert!(old.is_ok(), "older than the window passes: {old:?}");
        }
        assert!(
            decapsulate(&inb, &packets[150]).is_ok(),
            "within the window, out of order"
        );
        assert_eq!(inb.window().top(), 200);
        let mut forged = packets[170].clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(decapsulate(&inb, &forged), Err(DropReason::AuthFailed));
        let c = inb.counters().snapshot();
        assert_eq!(
            (
                c.drops(DropReason::Replay),
                c.drops(DropReason::OutsideWindow)
            ),
            (0, 0)
        );
        // The same packets on an SA with anti-replay on are refused.
        let on = InboundSa::new(&params(Transform::AesGcm128, false, esn), 0).unwrap();
        assert!(decapsulate(&on, &packets[199]).is_ok());
        assert_eq!(decapsulate(&on, &packets[199]), Err(DropReason::Replay));
    }
}

#[test]
fn window_edges_on_real_packets() {
    let mut p = params(Transform::AesGcm128, false, false);
    p.replay_window = 128;
    let out = OutboundSa::new(&p, 0).unwrap();
    let inb = InboundSa::new(&p, 0).unwrap();
    let packets: Vec<Vec<u8>> = (0..300)
        .map(|k| encapsulate(&out, &inner_packet(30, k as u8, false)))
        .collect();
    assert!(decapsulate(&inb, &packets[299]).is_ok()); // seq 300
    assert!(decapsulate(&inb, &packets[299 - 127]).is_ok(), "W-1 behind");
    assert_eq!(
        decapsulate(&inb, &packets[299 - 128]),
        Err(DropReason::OutsideWindow),
        "W behind"
    );
    assert_eq!(
        decapsulate(&inb, &packets[299 - 129]),
        Err(DropReason::OutsideWindow),
        "W+1 behind"
    );
    assert_eq!(
        decapsulate(&inb, &packets[299 - 127]),
        Err(DropReason::Replay)
    );
    let c = inb.counters().snapshot();
    assert_eq!(
        (
            c.drops(DropReason::OutsideWindow),
            c.drops(DropReason::Replay)
        ),
        (2, 1)
    );
}

/// Seals `plain` (everything after the IV) as an authentic ESP packet with sequence
/// number `seq` under the test key, independently of rri's encapsulation.
fn forge_authentic(p: &SaParams, seq: u32, mut plain: Vec<u8>) -> Vec<u8> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &p.key).unwrap());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&p.salt);
    nonce[4..].copy_from_slice(&u64::from(seq).to_be_bytes());
    let mut aad = p.spi.to_be_bytes().to_vec();
    aad.extend_from_slice(&seq.to_be_bytes());
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut plain,
        )
        .unwrap();
    let mut esp = p.spi.to_be_bytes().to_vec();
    esp.extend_from_slice(&seq.to_be_bytes());
    esp.extend_from_slice(&u64::from(seq).to_be_bytes());
    esp.extend_from_slice(&plain);
    esp.extend_from_slice(tag.as_ref());
    let mut outer = vec![0u8; 20];
    wire::ipv4::Ipv4Repr {
        src: REMOTE,
        dst: LOCAL,
        protocol: 50,
        tos: 0,
        ident: 1,
        dont_fragment: false,
        ttl: 64,
        payload_len: esp.len() as u16,
    }
    .emit(&mut outer);
    outer.extend_from_slice(&esp);
    outer
}

#[test]
fn authentic_packets_with_bad_trailers_are_dropped_by_reason() {
    let p = params(Transform::AesGcm128, false, false);
    let inb = InboundSa::new(&p, 0).unwrap();
    let inner = inner_packet(30, 1, false); // 30 + 2 = 32: no padding needed
    let with = |pad: &[u8], nh: u8| {
        let mut v = inner.clone();
        v.extend_from_slice(pad);
        v.push(pad.len() as u8);
        v.push(nh);
        v
    };
    let cases: Vec<(Vec<u8>, Result<usize, DropReason>)> = vec![
        (with(&[], 4), Ok(30)),
        (with(&[1, 2, 3, 4], 4), Ok(30)),
        (with(&[1, 2, 9, 4], 4), Err(DropReason::BadPadding)),
        (with(&[], 41), Err(DropReason::BadNextHeader)),
        (with(&[], 59), Err(DropReason::BadNextHeader)),
        (
            {
                let mut v = with(&[], 4);
                let n = v.len();
                v[n - 2] = 200; // pad length beyond the payload
                v
            },
            Err(DropReason::BadPadding),
        ),
        (
            {
                let mut v = with(&[], 4);
                v[0] = 0x60; // not IPv4
                v
            },
            Err(DropReason::MalformedInner),
        ),
        (vec![0, 4], Err(DropReason::MalformedInner)),
        (
            {
                // Traffic-flow padding behind the inner packet is removed.
                let mut v = inner.clone();
                v.extend_from_slice(&[0xee; 10]);
                v.extend_from_slice(&[1, 2, 2, 4]);
                v
            },
            Ok(30),
        ),
    ];
    for (i, (plain, want)) in cases.into_iter().enumerate() {
        let outer = forge_authentic(&p, i as u32 + 1, plain);
        let got = decapsulate(&inb, &outer).map(|inner| inner.len());
        assert_eq!(got, want, "case {i}");
    }
    let c = inb.counters().snapshot();
    assert_eq!(c.drops(DropReason::BadPadding), 2);
    assert_eq!(c.drops(DropReason::BadNextHeader), 2);
    assert_eq!(c.drops(DropReason::MalformedInner), 2);
    assert_eq!(c.packets, 3);
}

#[test]
fn classify_tells_esp_ike_and_keepalives_apart() {
    let udp = |payload: &[u8], dport: u16| {
        let mut p = vec![0u8; 28];
        p.extend_from_slice(payload);
        wire::ipv4::Ipv4Repr {
            src: REMOTE,
            dst: LOCAL,
            protocol: 17,
            tos: 0,
            ident: 0,
            dont_fragment: false,
            ttl: 64,
            payload_len: (8 + payload.len()) as u16,
        }
        .emit(&mut p);
        wire::udp::emit_header(&mut p[20..], 4500, dport, payload.len());
        p
    };
    assert_eq!(classify(&udp(&[0xff], 4500)), Ok(Classified::Keepalive));
    assert_eq!(
        classify(&udp(&[0, 0, 0, 0, 1, 2, 3], 4500)),
        Ok(Classified::Ike { offset: 32 })
    );
    assert_eq!(classify(&udp(&[1, 2], 4500)), Err(DropReason::TooShort));
    assert_eq!(classify(&udp(&[1; 40], 500)), Ok(Classified::Other));
    let esp = udp(&[0, 0, 1, 0, 0, 0, 0, 1, 9, 9], 4500);
    match classify(&esp) {
        Ok(Classified::Esp(at)) => {
            assert_eq!((at.spi, at.esp_offset, at.esp_end), (256, 28, esp.len()));
            assert_eq!(at.udp_ports, Some((4500, 4500)));
            assert_eq!((at.outer_src, at.outer_dst), (REMOTE, LOCAL));
        }
        other => panic!("{other:?}"),
    }
    let mut bad_sum = esp.clone();
    bad_sum[10] ^= 1;
    assert_eq!(classify(&bad_sum), Err(DropReason::BadOuterHeader));
    let mut fragment = esp.clone();
    fragment[6] = 0x20; // more fragments
    Ipv4Packet::new_checked(&mut fragment[..])
        .unwrap()
        .fill_checksum();
    fragment[9] = 50;
    Ipv4Packet::new_checked(&mut fragment[..])
        .unwrap()
        .fill_checksum();
    assert_eq!(classify(&fragment), Err(DropReason::Fragment));
    assert_eq!(classify(&esp[..10]), Err(DropReason::TooShort));
}

#[test]
fn bad_spi_and_too_short_are_counted() {
    let p = params(Transform::AesGcm128, false, false);
    let out = OutboundSa::new(&p, 0).unwrap();
    let other = InboundSa::new(
        &SaParams {
            spi: 0x2000,
            ..p.clone()
        },
        0,
    )
    .unwrap();
    let outer = encapsulate(&out, &inner_packet(40, 1, false));
    assert_eq!(decapsulate(&other, &outer), Err(DropReason::BadSpi));
    let short = cut(&outer, 20 + 8 + 8 + 16 + 1);
    assert_eq!(decapsulate(&other, &short), Err(DropReason::TooShort));
    let c = other.counters().snapshot();
    assert_eq!(
        (c.drops(DropReason::BadSpi), c.drops(DropReason::TooShort)),
        (1, 1)
    );
}

/// `packet` with its IPv4 header length field set to `words`.
fn ihl(packet: &[u8], words: u8) -> Vec<u8> {
    let mut p = packet.to_vec();
    p[0] = 0x40 | words;
    p
}

#[test]
fn outbound_refuses_what_it_cannot_encapsulate() {
    let sa = OutboundSa::new(&params(Transform::AesGcm128, true, false), 0).unwrap();
    let inner = inner_packet(100, 1, false);
    let cases: Vec<(TestBuf, DropReason)> = vec![
        (TestBuf::new(10, &inner, 100), DropReason::NoRoom),
        (TestBuf::new(128, &inner, 10), DropReason::NoRoom),
        (
            TestBuf::like_mbuf(&[0x45, 0, 0]),
            DropReason::MalformedInner,
        ),
        // A header length under 5 words: the receiver could not parse what it got.
        (
            TestBuf::like_mbuf(&ihl(&inner, 4)),
            DropReason::MalformedInner,
        ),
        // A header length past the total length.
        (
            TestBuf::like_mbuf(&ihl(&inner_packet(28, 1, false), 15)),
            DropReason::MalformedInner,
        ),
        (TestBuf::like_mbuf(&[0x60; 40]), DropReason::MalformedInner),
        (
            TestBuf::new(128, &inner_packet(65500, 1, false), 64),
            DropReason::TooBig,
        ),
    ];
    for (mut buf, reason) in cases {
        let before = buf.clone();
        assert_eq!(sa.encapsulate(&mut buf, 0), Err(reason));
        assert_eq!(buf, before);
    }
    assert_eq!(sa.last_seq(), 0, "refused packets use no sequence numbers");
    // Ethernet padding behind a short inner packet is not encrypted.
    let mut padded = inner_packet(28, 1, false);
    padded.extend_from_slice(&[0; 18]);
    let mut buf = TestBuf::like_mbuf(&padded);
    sa.encapsulate(&mut buf, 0).unwrap();
    assert_eq!(buf.len(), sa.outer_len(28));
    let c = sa.counters().snapshot();
    assert_eq!(
        (
            c.drops(DropReason::NoRoom),
            c.drops(DropReason::MalformedInner)
        ),
        (2, 4)
    );
    assert_eq!(c.drops(DropReason::TooBig), 1);
}

#[test]
fn burst_verdicts_follow_each_packet() {
    let p = params(Transform::ChaCha20Poly1305, false, false);
    let out = OutboundSa::new(&p, 0).unwrap();
    let inb = InboundSa::new(&p, 0).unwrap();
    let mut bufs: Vec<TestBuf> = (0..100)
        .map(|k| TestBuf::like_mbuf(&inner_packet(64 + k, k as u8, false)))
        .collect();
    bufs[3] = TestBuf::like_mbuf(&[1, 2, 3]);
    bufs[70] = TestBuf::new(4, &inner_packet(64, 0, false), 64);
    let mut verdicts = vec![Ok(()); 100];
    assert_eq!(out.encapsulate_burst(&mut bufs, 0, &mut verdicts), 98);
    assert_eq!(verdicts[3], Err(DropReason::MalformedInner));
    assert_eq!(verdicts[70], Err(DropReason::NoRoom));
    assert_eq!(out.last_seq(), 98, "failed packets use no numbers");

    let ok: Vec<usize> = (0..100).filter(|&i| i != 3 && i != 70).collect();
    let mut outers: Vec<TestBuf> = ok.iter().map(|&i| bufs[i].clone()).collect();
    outers[10] = outers[9].clone(); // a duplicate inside the burst
    let locs: Vec<EspLocation> = outers
        .iter()
        .map(|b| match classify(b.data()) {
            Ok(Classified::Esp(at)) => at,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut dv = vec![Err(DropReason::TooShort); outers.len()];
    assert_eq!(inb.decapsulate_burst(&mut outers, &locs, 0, &mut dv), 97);
    assert_eq!(dv[10], Err(DropReason::Replay));
    for (j, &i) in ok.iter().enumerate().filter(|(j, _)| *j != 10) {
        assert_eq!(dv[j].map(|d| d.inner_len), Ok(64 + i));
        assert_eq!(outers[j].data(), inner_packet(64 + i, i as u8, false));
    }
    let c = inb.counters().snapshot();
    assert_eq!((c.packets, c.drops(DropReason::Replay)), (97, 1));
}

#[test]
fn packet_lifetimes_soft_then_hard() {
    let mut p = params(Transform::AesGcm128, false, false);
    p.lifetime.soft.packets = Some(3);
    p.lifetime.hard.packets = Some(5);
    let out = OutboundSa::new(&p, 0).unwrap();
    let inb = InboundSa::new(&p, 0).unwrap();
    let mut outers = Vec::new();
    for k in 0..5 {
        assert_eq!(out.rekey_requested().is_some(), k >= 3, "packet {k}");
        outers.push(encapsulate(&out, &inner_packet(40, k, false)));
    }
    assert_eq!(out.rekey_requested(), Some(RekeyReason::Packets));
    let mut buf = TestBuf::like_mbuf(&inner_packet(40, 9, false));
    assert_eq!(
        out.encapsulate(&mut buf, 0),
        Err(DropReason::LifetimeExpired)
    );
    assert_eq!(out.expired(), Some(RekeyReason::Packets));

    let mut q = p.clone();
    q.lifetime.hard.packets = Some(4);
    let inb4 = InboundSa::new(&q, 0).unwrap();
    for (k, o) in outers.iter().enumerate() {
        assert!(decapsulate(&inb, o).is_ok());
        assert_eq!(decapsulate(&inb4, o).is_ok(), k < 4, "inbound packet {k}");
    }
    assert_eq!(inb.rekey_requested(), Some(RekeyReason::Packets));
    assert_eq!(inb4.expired(), Some(RekeyReason::Packets));
    assert_eq!(
        inb4.counters()
            .snapshot()
            .drops(DropReason::LifetimeExpired),
        1
    );
}

#[test]
fn time_and_byte_lifetimes() {
    let mut p = params(Transform::AesGcm256, false, false);
    p.lifetime = Lifetime::with_hard(LifetimeLimits {
        seconds: Some(100),
        kilobytes: Some(10),
        packets: None,
    });
    assert_eq!(p.lifetime.soft.seconds, Some(90));
    let created = 5 * SEC;
    let out = OutboundSa::new(&p, created).unwrap();
    let mut buf = TestBuf::like_mbuf(&inner_packet(1000, 1, false));
    out.encapsulate(&mut buf, created + 89 * SEC).unwrap();
    assert_eq!(out.rekey_requested(), None);
    assert_eq!(out.remaining_seconds(created + 89 * SEC), Some(11));
    let mut buf = TestBuf::like_mbuf(&inner_packet(1000, 1, false));
    out.encapsulate(&mut buf, created + 90 * SEC).unwrap();
    assert_eq!(out.rekey_requested(), Some(RekeyReason::Seconds));
    let mut buf = TestBuf::like_mbuf(&inner_packet(1000, 1, false));
    assert_eq!(
        out.encapsulate(&mut buf, created + 100 * SEC),
        Err(DropReason::LifetimeExpired)
    );
    assert_eq!(out.expired(), Some(RekeyReason::Seconds));

    // Bytes: 10 KB hard, 9 KB soft, in 1000-byte packets; checked before each packet, so the
    // packet that crosses a limit is the last one sent under it.
    let out = OutboundSa::new(&p, 0).unwrap();
    let mut sent = 0;
    while out
        .encapsulate(&mut TestBuf::like_mbuf(&inner_packet(1000, 1, false)), SEC)
        .is_ok()
    {
        sent += 1;
        // The check before packet 11 sees 10000 bytes, past the soft 9216.
        assert_eq!(
            out.rekey_requested().is_some(),
            sent >= 11,
            "after {sent} packets"
        );
    }
    assert_eq!(out.rekey_requested(), Some(RekeyReason::Kilobytes));
    assert_eq!(
        sent, 11,
        "11 x 1000 bytes: the 11th starts at 10000 < 10240"
    );
    assert_eq!(out.expired(), Some(RekeyReason::Kilobytes));
}

#[test]
fn bad_parameters_are_refused_with_a_reason() {
    let good = params(Transform::AesGcm128, false, false);
    let cases = [
        (
            SaParams {
                spi: 255,
                ..good.clone()
            },
            "reserved",
        ),
        (
            SaParams {
                key: vec![0; 15].into(),
                ..good.clone()
            },
            "needs 16 bytes of key, got 15",
        ),
        (
            SaParams {
                replay_window: 16,
                ..good.clone()
            },
            "replay window 16",
        ),
        (
            SaParams {
                replay_window: 70000,
                ..good.clone()
            },
            "replay window 70000",
        ),
        (
            SaParams {
                lifetime: Lifetime {
                    soft: LifetimeLimits {
                        seconds: Some(10),
                        ..Default::default()
                    },
                    hard: LifetimeLimits {
                        seconds: Some(5),
                        ..Default::default()
                    },
                },
                ..good.clone()
            },
            "soft lifetime of 10 seconds is above the hard lifetime of 5",
        ),
    ];
    for (p, want) in cases {
        let e = OutboundSa::new(&p, 0).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
        assert!(InboundSa::new(&p, 0).is_err());
    }
    let e =
        SaParams::from_keymat(300, Transform::ChaCha20Poly1305, &[0; 32], good.tunnel).unwrap_err();
    assert_eq!(
        e.to_string(),
        "esp-chacha20-poly1305 needs 36 bytes of key, got 32"
    );
    assert!(
        !format!("{good:?}").contains(&format!("{:?}", good.key)),
        "keys stay out of Debug"
    );
}

/// A BurstSeal backed by ring with the SA's key, refusing the jobs whose index is in `refuse`
/// (as a device might), and counting its calls.
#[derive(Debug)]
struct RingBurst {
    key: LessSafeKey,
    refuse: Vec<usize>,
    calls: std::sync::atomic::AtomicUsize,
}

impl BurstSeal for RingBurst {
    fn seal_burst(&self, jobs: &mut [SealJob<'_>], ok: &mut [bool]) {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for (i, (job, ok)) in jobs.iter_mut().zip(ok.iter_mut()).enumerate() {
            if self.refuse.contains(&i) {
                *ok = false;
                continue;
            }
            let tag = self
                .key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(job.nonce),
                    Aad::from(&job.aad[..job.aad_len]),
                    job.plaintext,
                )
                .unwrap();
            job.icv.copy_from_slice(tag.as_ref());
            *ok = true;
        }
    }
}

#[test]
fn a_burst_seal_hook_gives_the_same_packets_as_ring() {
    for (udp, esn) in [(false, false), (true, true)] {
        let p = params(Transform::AesGcm128, udp, esn);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &p.key).unwrap());
        let hook = std::sync::Arc::new(RingBurst {
            key,
            refuse: vec![5],
            calls: Default::default(),
        });
        let plain = OutboundSa::new(&p, 0).unwrap();
        let hooked = OutboundSa::new(&p, 0)
            .unwrap()
            .with_burst_seal(hook.clone());
        assert!(hooked.has_burst_seal() && !plain.has_burst_seal());
        let inners: Vec<Vec<u8>> = (0..40)
            .map(|k| inner_packet(28 + 37 * k, k as u8, true))
            .collect();
        let mut a: Vec<TestBuf> = inners.iter().map(|i| TestBuf::like_mbuf(i)).collect();
        let mut b = a.clone();
        let mut va = vec![Ok(()); 40];
        let mut vb = vec![Ok(()); 40];
        assert_eq!(plain.encapsulate_burst(&mut a, 0, &mut va), 40);
        assert_eq!(hooked.encapsulate_burst(&mut b, 0, &mut vb), 39);
        // One call for the whole burst.
        assert_eq!(hook.calls.load(std::sync::atomic::Ordering::Relaxed), 1);
        let inb = InboundSa::new(&p, 0).unwrap();
        for k in 0..40 {
            if k == 5 {
                // Refused by the hook: dropped, never sent.
                assert_eq!(vb[k], Err(DropReason::SealFailed));
                continue;
            }
            assert_eq!(vb[k], Ok(()));
            assert_eq!(a[k].data(), b[k].data(), "packet {k}, udp {udp}, esn {esn}");
            assert_eq!(decapsulate(&inb, b[k].data()).unwrap(), inners[k]);
        }
        // Single packets stay with ring.
        let single = encapsulate(&hooked, &inners[0]);
        assert_eq!(decapsulate(&inb, &single).unwrap(), inners[0]);
        assert_eq!(hook.calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}

/// A PacketOpen backed by ring with the SA's key, counting its calls and recording the AAD
/// lengths it was given.
#[derive(Debug)]
struct RingOpen {
    key: LessSafeKey,
    calls: std::sync::atomic::AtomicUsize,
}

impl PacketOpen for RingOpen {
    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &mut [u8],
        icv: &[u8; 16],
    ) -> bool {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut sealed = ciphertext.to_vec();
        sealed.extend_from_slice(icv);
        match self.key.open_in_place(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(aad),
            &mut sealed,
        ) {
            Ok(plain) => {
                ciphertext.copy_from_slice(plain);
                true
            }
            Err(_) => false,
        }
    }
}

#[test]
fn a_packet_open_hook_opens_what_ring_opens_and_refuses_the_same() {
    for (udp, esn) in [(false, false), (true, true)] {
        let p = params(Transform::AesGcm128, udp, esn);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &p.key).unwrap());
        let hook = std::sync::Arc::new(RingOpen {
            key,
            calls: Default::default(),
        });
        let out = OutboundSa::new(&p, 0).unwrap();
        let plain = InboundSa::new(&p, 0).unwrap();
        let hooked = InboundSa::new(&p, 0)
            .unwrap()
            .with_packet_open(hook.clone());
        assert!(hooked.has_packet_open() && !plain.has_packet_open());
        for k in 0..30u8 {
            let inner = inner_packet(28 + 41 * usize::from(k), k, true);
            let outer = encapsulate(&out, &inner);
            assert_eq!(decapsulate(&hooked, &outer).unwrap(), inner, "packet {k}");
            assert_eq!(decapsulate(&plain, &outer).unwrap(), inner, "packet {k}");
            // A flipped ICV bit is an authentication failure that leaves the window alone;
            // the packet itself is then a replay.
            let mut bad = outer.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert_eq!(decapsulate(&hooked, &bad), Err(DropReason::Replay));
        }
        assert_eq!(
            hook.calls.load(std::sync::atomic::Ordering::Relaxed),
            30,
            "one call per authentic packet; replays are refused before it"
        );
        let fresh = encapsulate(&out, &inner_packet(60, 99, true));
        let mut bad = fresh.clone();
        let at = bad.len() - 20;
        bad[at] ^= 0x40;
        assert_eq!(decapsulate(&hooked, &bad), Err(DropReason::AuthFailed));
        assert_eq!(
            hooked.counters().snapshot().drops(DropReason::AuthFailed),
            1
        );
        assert_eq!(
            decapsulate(&hooked, &fresh).unwrap(),
            inner_packet(60, 99, true)
        );
    }
}

/// A sealer that fails chosen jobs before encrypting anything (their buffers still hold the
/// cleartext) must not get one of them onto the wire: each is a counted `SealFailed` drop,
/// its sequence number is spent, and every other packet of the burst is sealed as usual.
#[test]
fn jobs_the_sealer_fails_are_dropped_never_sent() {
    for (transform, udp) in [(Transform::AesGcm128, false), (Transform::AesGcm256, true)] {
        let p = params(transform, udp, false);
        let algorithm = match transform {
            Transform::AesGcm128 => &AES_128_GCM,
            _ => &ring::aead::AES_256_GCM,
        };
        let key = LessSafeKey::new(UnboundKey::new(algorithm, &p.key).unwrap());
        // Indexes within each sealing call: the first, one inside, the last of a full chunk.
        let refuse = vec![0, 17, MAX_BURST - 1];
        let hook = std::sync::Arc::new(RingBurst {
            key,
            refuse: refuse.clone(),
            calls: Default::default(),
        });
        let sa = OutboundSa::new(&p, 0)
            .unwrap()
            .with_burst_seal(hook.clone());
        let n = MAX_BURST + 30;
        let inners: Vec<Vec<u8>> = (0..n)
            .map(|k| inner_packet(28 + 11 * k, k as u8, false))
            .collect();
        let mut bufs: Vec<TestBuf> = inners.iter().map(|i| TestBuf::like_mbuf(i)).collect();
        let mut verdicts = vec![Ok(()); n];
        let refused: Vec<usize> = (0..n)
            .filter(|k| refuse.contains(&(k % MAX_BURST)))
            .collect();
        assert_eq!(refused.len(), 5);
        let sent = sa.encapsulate_burst(&mut bufs, 0, &mut verdicts);
        assert_eq!(sent, n - refused.len());
        assert_eq!(hook.calls.load(std::sync::atomic::Ordering::Relaxed), 2);
        let inb = InboundSa::new(&p, 0).unwrap();
        for k in 0..n {
            if refused.contains(&k) {
                assert_eq!(verdicts[k], Err(DropReason::SealFailed), "packet {k}");
                // Proof that the sealer failed it before encryption: the cleartext is there.
                let data = bufs[k].data();
                assert!(data
                    .windows(inners[k].len())
                    .any(|w| w == inners[k].as_slice()));
            } else {
                assert_eq!(verdicts[k], Ok(()), "packet {k}");
                assert_eq!(decapsulate(&inb, bufs[k].data()).unwrap(), inners[k]);
            }
        }
        let c = sa.counters().snapshot();
        assert_eq!(c.drops(DropReason::SealFailed), refused.len() as u64);
        assert_eq!(c.packets, (n - refused.len()) as u64);
        let sealed_bytes: usize = (0..n)
            .filter(|k| !refused.contains(k))
            .map(|k| inners[k].len())
            .sum();
        assert_eq!(c.bytes, sealed_bytes as u64);
        // Numbers given to failed jobs are not handed out again.
        assert_eq!(sa.last_seq(), n as u64);
    }
}

/// A manual SA's sequence numbers stop at the block the control thread persisted and go on
/// from where they stopped once it persists the next; a restart resumes past the block.
#[test]
fn the_sequence_ceiling_holds_until_raised_and_resumes_after_a_restart() {
    let p = params(Transform::AesGcm128, false, false);
    let sa = OutboundSa::new(&p, 0).unwrap();
    sa.set_sequence_ceiling(5);
    let inners: Vec<Vec<u8>> = (0..8).map(|k| inner_packet(60, k, false)).collect();
    let mut bufs: Vec<TestBuf> = inners.iter().map(|i| TestBuf::like_mbuf(i)).collect();
    let mut verdicts = vec![Ok(()); 8];
    assert_eq!(sa.encapsulate_burst(&mut bufs, 0, &mut verdicts), 5);
    assert!(verdicts[5..]
        .iter()
        .all(|v| *v == Err(DropReason::SequenceNotReserved)));
    assert_eq!(sa.last_seq(), 5);
    assert!(sa.expired().is_none(), "held, not expired");
    let mut one = TestBuf::like_mbuf(&inners[0]);
    assert_eq!(
        sa.encapsulate(&mut one, 0),
        Err(DropReason::SequenceNotReserved)
    );
    sa.set_sequence_ceiling(100);
    let outer = encapsulate(&sa, &inners[1]);
    assert_eq!(u32::from_be_bytes(outer[24..28].try_into().unwrap()), 6);
    assert_eq!(
        sa.counters()
            .snapshot()
            .drops(DropReason::SequenceNotReserved),
        4
    );
    // A ceiling past the end of the space is the end of the space.
    sa.set_sequence_ceiling(u64::MAX);
    assert_eq!(sa.sequence_ceiling(), u64::from(u32::MAX));
    // After a restart: the new SA resumes past the persisted block.
    let again = OutboundSa::new(&p, 0).unwrap();
    again.resume_after(100);
    again.set_sequence_ceiling(200);
    let outer = encapsulate(&again, &inners[2]);
    assert_eq!(u32::from_be_bytes(outer[24..28].try_into().unwrap()), 101);
}
