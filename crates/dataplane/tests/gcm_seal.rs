//! ESP burst encapsulation sealed by `dataplane::crypto::GcmBurstSeal` on every engine and mix
//! of engines (intel-ipsec-mb through DPDK's `crypto_aesni_gcm` and called directly, rri's
//! VAES code where the CPU has it, ring) gives the very packets ring gives, for both key
//! sizes, with and without extended sequence numbers, plain ESP and ESP-in-UDP; they
//! decapsulate.

use std::net::Ipv4Addr;
use std::sync::Arc;

use dataplane::crypto::{Engine, GcmBurstSeal, GcmEngines, Plan};
use dpdk::{CryptoDev, Eal};
use esp::{
    classify, Classified, InboundSa, OutboundSa, SaParams, Transform, TunnelTemplate, UdpEncap,
};
use pktbuf::{PacketBuf, TestBuf};
use policy::SaCrypto;
use wire::ipv4::{proto, Ipv4Repr};

fn inner(total: usize, seed: u8) -> Vec<u8> {
    let mut p = vec![0u8; total];
    Ipv4Repr {
        src: Ipv4Addr::new(10, 1, 0, 5),
        dst: Ipv4Addr::new(10, 2, 0, 9),
        protocol: proto::UDP,
        tos: 0,
        ident: u16::from(seed),
        dont_fragment: true,
        ttl: 63,
        payload_len: (total - 20) as u16,
    }
    .emit(&mut p);
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u8);
    }
    p
}

/// An SA's parameters: a tunnel between two documentation addresses, in UDP when `udp`,
/// key material `i * step`.
fn sa_params(spi: u32, transform: Transform, udp: bool, esn: bool, step: u8) -> SaParams {
    let mut tunnel = TunnelTemplate::new(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 2),
    );
    if udp {
        tunnel.udp = Some(UdpEncap {
            src_port: 4500,
            dst_port: 4500,
        });
    }
    let keymat: Vec<u8> = (0..transform.keymat_len() as u8)
        .map(|i| i.wrapping_mul(step))
        .collect();
    let mut p = SaParams::from_keymat(spi, transform, &keymat, tunnel).unwrap();
    p.esn = esn;
    p
}

#[test]
fn every_engine_and_mix_gives_ring_s_packets() {
    let eal = Eal::init(testkit::eal_args(
        "gcmseal",
        "0@0",
        &["crypto_aesni_gcm".into()],
    ))
    .expect("EAL starts with crypto_aesni_gcm");
    let dev = CryptoDev::open(&eal, "crypto_aesni_gcm", 16).expect("CPU crypto device");
    // Each engine alone, and bursts mixing two or three (the inner packets run from 20 to
    // 1441 bytes), through the device's CPU crypto API and calling its library directly.
    let mixed = Plan::split(Engine::Vaes, 300, Engine::Device).with_step(900, Engine::Ring);
    let plans = [
        Plan::uniform(Engine::Device),
        Plan::uniform(Engine::Vaes),
        Plan::uniform(Engine::Ring),
        Plan::split(Engine::Device, 600, Engine::Ring),
        Plan::split(Engine::Device, 600, Engine::Vaes),
        mixed,
    ];
    for (plan, direct) in plans.iter().flat_map(|p| [(*p, false), (*p, true)]) {
        for transform in [Transform::AesGcm128, Transform::AesGcm256] {
            for (udp, esn) in [(false, false), (true, true)] {
                let p = sa_params(0x2000_0001, transform, udp, esn, 3);
                let aad_len = if esn { 12 } else { 8 };
                let seal = if direct {
                    GcmBurstSeal::direct(&p.key, aad_len)
                } else {
                    GcmBurstSeal::new(&dev, &p.key, aad_len)
                };
                let seal = seal.unwrap().with_plan(plan);
                let ring_sa = OutboundSa::new(&p, 0).unwrap();
                let mb_sa = OutboundSa::new(&p, 0)
                    .unwrap()
                    .with_burst_seal(Arc::new(seal));
                let inners: Vec<Vec<u8>> = (0..50).map(|k| inner(20 + 29 * k, k as u8)).collect();
                let mut a: Vec<TestBuf> = inners.iter().map(|i| TestBuf::like_mbuf(i)).collect();
                let mut b = a.clone();
                let mut verdicts = vec![Ok(()); 50];
                assert_eq!(ring_sa.encapsulate_burst(&mut a, 0, &mut verdicts), 50);
                assert_eq!(mb_sa.encapsulate_burst(&mut b, 0, &mut verdicts), 50);
                let inbound = InboundSa::new(&p, 0).unwrap();
                for k in 0..50 {
                    assert_eq!(
                        a[k].data(),
                        b[k].data(),
                        "{transform:?} udp {udp} esn {esn} {plan:?} direct {direct} packet {k}"
                    );
                    let mut buf = b[k].clone();
                    let Ok(Classified::Esp(at)) = classify(buf.data()) else {
                        panic!("packet {k} is not ESP");
                    };
                    let mut v = [Err(esp::DropReason::TooShort)];
                    assert_eq!(
                        inbound.decapsulate_burst(std::slice::from_mut(&mut buf), &[at], 0, &mut v),
                        1
                    );
                    assert_eq!(buf.data(), inners[k].as_slice());
                }
            }
        }
    }
    drop(dev);
}

#[test]
fn the_direct_sealer_refuses_what_it_cannot_seal() {
    for (key_len, aad_len) in [(16, 4), (16, 16), (24, 8), (0, 8)] {
        assert!(
            GcmBurstSeal::direct(&vec![1u8; key_len], aad_len).is_err(),
            "{key_len}-byte key, {aad_len}-byte AAD"
        );
    }
    // A job whose ICV slot is not 16 bytes is reported as not sealed and left alone, by
    // every engine.
    for engine in [Engine::Device, Engine::Vaes, Engine::Ring] {
        let seal = GcmBurstSeal::direct(&[1u8; 16], 8)
            .unwrap()
            .with_plan(Plan::uniform(engine));
        let mut data = [7u8; 32];
        let mut icv = [9u8; 8];
        let mut jobs = [esp::SealJob {
            plaintext: &mut data,
            icv: &mut icv,
            nonce: [0; 12],
            aad: [0; 12],
            aad_len: 8,
        }];
        let mut ok = [true];
        esp::BurstSeal::seal_burst(&seal, &mut jobs, &mut ok);
        assert!(!ok[0], "{engine:?}");
        assert_eq!(data, [7u8; 32], "{engine:?}");
        assert_eq!(icv, [9u8; 8], "{engine:?}");
    }
}

#[test]
fn inbound_sas_open_with_the_vaes_code_as_ring_does() {
    if !gcm::vaes::supported() {
        eprintln!("skipped: this CPU has no VAES and VPCLMULQDQ (inbound SAs open with ring)");
        return;
    }
    for transform in [Transform::AesGcm128, Transform::AesGcm256] {
        for (udp, esn) in [(false, false), (true, true)] {
            let p = sa_params(0x3000_0002, transform, udp, esn, 7);
            let out = OutboundSa::new(&p, 0).unwrap();
            let vaes = GcmEngines::without_device().inbound(InboundSa::new(&p, 0).unwrap(), &p);
            assert!(vaes.has_packet_open(), "{transform:?}");
            let ring = InboundSa::new(&p, 0).unwrap();
            let inners: Vec<Vec<u8>> = (0..60).map(|k| inner(20 + 25 * k, k as u8)).collect();
            let mut sealed: Vec<TestBuf> = inners.iter().map(|i| TestBuf::like_mbuf(i)).collect();
            let mut v = vec![Ok(()); sealed.len()];
            assert_eq!(out.encapsulate_burst(&mut sealed, 0, &mut v), sealed.len());
            for (k, packet) in sealed.iter().enumerate() {
                // Every third packet with one bit of its ciphertext or ICV flipped.
                let mut bytes = packet.data().to_vec();
                let tampered = k % 3 == 2;
                if tampered {
                    let at = bytes.len() - 1 - (k * 13) % 40;
                    bytes[at] ^= 0x10;
                }
                let mut outcomes = Vec::new();
                for sa in [&vaes, &ring] {
                    let mut buf = TestBuf::like_mbuf(&bytes);
                    let Ok(Classified::Esp(at)) = classify(buf.data()) else {
                        panic!("packet {k} is not ESP");
                    };
                    let mut verdict = [Err(esp::DropReason::TooShort)];
                    sa.decapsulate_burst(std::slice::from_mut(&mut buf), &[at], 0, &mut verdict);
                    outcomes.push((verdict[0].map(|d| d.inner_len), buf.data().to_vec()));
                }
                let (vaes_outcome, ring_outcome) = (&outcomes[0], &outcomes[1]);
                if tampered {
                    assert_eq!(
                        vaes_outcome.0,
                        Err(esp::DropReason::AuthFailed),
                        "packet {k}"
                    );
                    assert_eq!(
                        ring_outcome.0,
                        Err(esp::DropReason::AuthFailed),
                        "packet {k}"
                    );
                } else {
                    assert_eq!(vaes_outcome, ring_outcome, "{transform:?} packet {k}");
                    assert_eq!(vaes_outcome.1, inners[k], "{transform:?} packet {k}");
                }
            }
            let auth_failed = vaes
                .counters()
                .snapshot()
                .drops(esp::DropReason::AuthFailed);
            assert_eq!(auth_failed, 20, "{transform:?}");
        }
    }
}
