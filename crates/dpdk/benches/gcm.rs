//! AES-GCM sealing: intel-ipsec-mb through DPDK's CPU crypto API (`crypto_aesni_gcm`, a
//! burst of 32 per call) against ring's `seal_in_place_separate_tag` one packet at a time
//! (what `esp::OutboundSa` calls), one core, same buffers, in one run. Plaintext lengths are
//! what ESP seals for 64-, 512- and 1400-byte inner packets with 16-byte alignment (80, 528,
//! 1408) and IMIX (7:4:1 of 64/570/1518 inner: 80/576/1536), AAD 12 bytes (ESN). Medians of 5
//! interleaved rounds.
//!
//! Run: `cargo bench -p dpdk --bench gcm` (root; an EAL with --no-huge on CPU 1).

use std::time::Instant;

use dpdk::{CryptoDev, Eal, GcmDirection, GcmJob, GcmSession, MAX_AAD_LEN};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

const BURST: usize = 32;
const PACKETS: usize = 1 << 20;
const ROUNDS: usize = 5;

fn main() {
    let eal = Eal::init(testkit::bench_eal_args("gcm", 512, &["crypto_aesni_gcm"]))
        .expect("EAL starts (run as root)");
    let dev = CryptoDev::open(&eal, "crypto_aesni_gcm", 16).expect("crypto_aesni_gcm");
    println!("# AES-GCM seal, one core (CPU 1): ns/packet, ring one at a time vs ipsec-mb via DPDK CPU crypto, bursts of {BURST}; median of {ROUNDS} rounds");
    let mixes: [(&str, Vec<usize>); 4] = [
        ("64 (80)", vec![80]),
        ("512 (528)", vec![528]),
        ("1400 (1408)", vec![1408]),
        (
            "IMIX",
            vec![80, 576, 80, 80, 1536, 80, 576, 80, 80, 576, 80, 576],
        ),
    ];
    for key_len in [16usize, 32] {
        let key = vec![0x42u8; key_len];
        let algorithm = if key_len == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let ring_key = LessSafeKey::new(UnboundKey::new(algorithm, &key).unwrap());
        let session = GcmSession::new(&dev, &key, 12, GcmDirection::Seal).unwrap();
        for (name, sizes) in &mixes {
            let mut bufs: Vec<Vec<u8>> = (0..BURST)
                .map(|i| vec![0x5a; sizes[i % sizes.len()]])
                .collect();
            let (mut ring_ns, mut dpdk_ns) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                let t = Instant::now();
                for i in 0..PACKETS {
                    let mut nonce = [0u8; 12];
                    nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
                    let aad = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 1];
                    let tag = ring_key
                        .seal_in_place_separate_tag(
                            Nonce::assume_unique_for_key(nonce),
                            Aad::from(&aad),
                            &mut bufs[i % BURST],
                        )
                        .unwrap();
                    let _ = std::hint::black_box(tag);
                }
                ring_ns.push(t.elapsed().as_nanos() as f64 / PACKETS as f64);

                let t = Instant::now();
                let mut ok = [false; BURST];
                for round in 0..PACKETS / BURST {
                    let mut jobs: [GcmJob<'_>; BURST] = {
                        let mut it = bufs.iter_mut();
                        std::array::from_fn(|i| {
                            let mut iv = [0u8; 12];
                            iv[4..].copy_from_slice(&((round * BURST + i) as u64).to_be_bytes());
                            let mut aad = [0u8; MAX_AAD_LEN];
                            aad[..4].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
                            GcmJob {
                                data: it.next().expect("BURST buffers"),
                                iv,
                                aad,
                                tag: [0; 16],
                            }
                        })
                    };
                    assert_eq!(session.process(&mut jobs, &mut ok), BURST);
                    std::hint::black_box(jobs[0].tag);
                }
                dpdk_ns.push(t.elapsed().as_nanos() as f64 / PACKETS as f64);
            }
            ring_ns.sort_by(f64::total_cmp);
            dpdk_ns.sort_by(f64::total_cmp);
            let (r, d) = (ring_ns[ROUNDS / 2], dpdk_ns[ROUNDS / 2]);
            println!(
                "aes-gcm-{:<3} {name:<12} ring {r:>7.1}  ipsec-mb {d:>7.1}  ring / ipsec-mb {:.2}",
                key_len * 8,
                r / d
            );
        }
    }
    drop(dev);
    drop(eal);
}
