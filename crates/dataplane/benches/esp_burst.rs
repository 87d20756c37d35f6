//! ESP burst encapsulation sealed by ring against the same sealed by intel-ipsec-mb through
//! DPDK's CPU crypto API (`GcmBurstSeal`), with ring's raw seal of the inner length as the
//! anchor the ESP benchmark uses, one core, same buffers (32 mbuf-shaped), in one run: inner packets of
//! 64, 512 and 1400 bytes and IMIX (7:4:1 of 64/570/1518), AES-GCM-128 and -256, ESN on.
//! Medians of 5 interleaved rounds.
//!
//! Run: `cargo bench -p dataplane --bench esp_burst` (root; an EAL with --no-huge on CPU 1).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use dataplane::crypto::GcmBurstSeal;
use dpdk::{CryptoDev, Eal};
use esp::{OutboundSa, SaParams, Transform, TunnelTemplate};
use pktbuf::{PacketBuf, TestBuf};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

const BURST: usize = 32;
const PACKETS: usize = 1 << 19;
const ROUNDS: usize = 5;

fn inner(len: usize) -> Vec<u8> {
    let mut p = vec![0xa5u8; len];
    wire::ipv4::Ipv4Repr {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
        protocol: 17,
        tos: 0,
        ident: 1,
        dont_fragment: true,
        ttl: 64,
        payload_len: (len - 20) as u16,
    }
    .emit(&mut p);
    p
}

/// ns per packet of `encapsulate_burst`, restoring each inner packet after its burst.
fn encap(sa: &OutboundSa, sizes: &[usize]) -> f64 {
    let inners: Vec<Vec<u8>> = (0..BURST).map(|i| inner(sizes[i % sizes.len()])).collect();
    let mut bufs: Vec<TestBuf> = inners.iter().map(|p| TestBuf::like_mbuf(p)).collect();
    let mut verdicts = [Ok(()); BURST];
    let front = sa.front_overhead();
    let t = Instant::now();
    for _ in 0..PACKETS / BURST {
        assert_eq!(sa.encapsulate_burst(&mut bufs, 0, &mut verdicts), BURST);
        for (buf, inner) in bufs.iter_mut().zip(&inners) {
            buf.adj(front).unwrap();
            let len = buf.len();
            buf.trim(len - inner.len()).unwrap();
            buf.data_mut()[..20].copy_from_slice(&inner[..20]);
        }
    }
    t.elapsed().as_nanos() as f64 / PACKETS as f64
}

/// ns per packet of ring's raw seal of the inner length, in the same kind of buffers.
fn raw(key: &LessSafeKey, sizes: &[usize]) -> f64 {
    let mut bufs: Vec<TestBuf> = (0..BURST)
        .map(|i| TestBuf::like_mbuf(&vec![0x5a; sizes[i % sizes.len()]]))
        .collect();
    let aad = [0x12u8, 0x34, 0x56, 0x78, 0, 0, 0, 1];
    let t = Instant::now();
    for i in 0..PACKETS {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                bufs[i % BURST].data_mut(),
            )
            .unwrap();
        let _ = std::hint::black_box(tag);
    }
    t.elapsed().as_nanos() as f64 / PACKETS as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let eal = Eal::init(testkit::bench_eal_args(
        "espburst",
        512,
        &["crypto_aesni_gcm"],
    ))
    .expect("EAL starts (run as root)");
    let dev = CryptoDev::open(&eal, "crypto_aesni_gcm", 16).expect("crypto_aesni_gcm");
    println!("# ESP encapsulate_burst x{BURST}, one core (CPU 1): ns/packet; ratios to ring's raw seal of the inner length");
    let mixes: [(&str, Vec<usize>); 4] = [
        ("64", vec![64]),
        ("512", vec![512]),
        ("1400", vec![1400]),
        (
            "IMIX",
            vec![64, 570, 64, 64, 1518, 64, 570, 64, 64, 570, 64, 570],
        ),
    ];
    for transform in [Transform::AesGcm128, Transform::AesGcm256] {
        let keymat: Vec<u8> = (0..transform.keymat_len() as u8).collect();
        let tunnel = TunnelTemplate::new(
            Ipv4Addr::new(198, 51, 100, 1),
            Ipv4Addr::new(203, 0, 113, 2),
        );
        let mut p = SaParams::from_keymat(0x1234_5678, transform, &keymat, tunnel).unwrap();
        p.esn = true;
        let algorithm = if transform == Transform::AesGcm128 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let key = LessSafeKey::new(UnboundKey::new(algorithm, &p.key).unwrap());
        let ring_sa = OutboundSa::new(&p, 0).unwrap();
        let mb_sa = OutboundSa::new(&p, 0)
            .unwrap()
            .with_burst_seal(Arc::new(GcmBurstSeal::new(&dev, &p.key, 12).unwrap()));
        for (name, sizes) in &mixes {
            let (mut r, mut e_ring, mut e_mb) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                r.push(raw(&key, sizes));
                e_ring.push(encap(&ring_sa, sizes));
                e_mb.push(encap(&mb_sa, sizes));
            }
            let (r, a, b) = (median(r), median(e_ring), median(e_mb));
            println!(
                "{transform:?} {name:>5}  raw ring seal {r:>6.1}  encap ring {a:>6.1} ({:.2})  encap ipsec-mb {b:>6.1} ({:.2})",
                a / r,
                b / r
            );
        }
    }
    drop(dev);
    drop(eal);
}
