//! AES-GCM-128 sealing, one packet per call, on the three engines the data plane can choose
//! among: ring (`seal_in_place_separate_tag`), intel-ipsec-mb called directly
//! ([`gcm::ImbGcm`]) and rri's own VAES code ([`gcm::VaesGcm`], skipped on a CPU without
//! it). Plaintext lengths are what ESP seals: 52 for a 64-byte frame, 576 and 1392 for 590-
//! and 1400-byte frames, 1504 for a full 1518-byte one; AAD 8 bytes. Nanoseconds per packet,
//! median of 7 interleaved rounds, and each engine's time over ring's.
//!
//! Run: `cargo bench -p gcm --bench engines` (pin it: `taskset -c 1`).

use std::time::Instant;

use gcm::{ImbGcm, VaesGcm};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};

const PACKETS: usize = 200_000;
const ROUNDS: usize = 7;
const BUFFERS: usize = 32;

fn main() {
    let key = [0x42u8; 16];
    let ring_key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).unwrap());
    let imb = ImbGcm::new(&key).expect("intel-ipsec-mb");
    let vaes = VaesGcm::new(&key).ok();
    if vaes.is_none() {
        println!("# this CPU has no VAES/VPCLMULQDQ: VaesGcm skipped");
    }
    let aad = [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1];
    println!("# AES-GCM-128 seal, ns/packet (median of {ROUNDS} rounds of {PACKETS})");
    for size in SIZES {
        let mut bufs = vec![vec![0x5au8; size]; BUFFERS];
        let mut tag = [0u8; 16];
        let mut times: [Vec<f64>; 3] = Default::default();
        for _ in 0..ROUNDS {
            times[0].push(ns_per_packet(|i| {
                let tag = ring_key
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(iv(i)),
                        Aad::from(&aad),
                        &mut bufs[i % BUFFERS],
                    )
                    .unwrap();
                let _ = std::hint::black_box(tag);
            }));
            times[1].push(ns_per_packet(|i| {
                imb.seal_in_place(&mut bufs[i % BUFFERS], &iv(i), &aad, &mut tag);
                std::hint::black_box(&tag);
            }));
            if let Some(vaes) = &vaes {
                times[2].push(ns_per_packet(|i| {
                    vaes.seal_in_place(&mut bufs[i % BUFFERS], &iv(i), &aad, &mut tag);
                    std::hint::black_box(&tag);
                }));
            }
        }
        let [ring, imb, vaes] = times.each_mut().map(|t| median(t));
        println!(
            "{size:>5} B  ring {ring:>7.1}  ipsec-mb {imb:>7.1} ({:.2})  vaes {vaes:>7.1} ({:.2})",
            imb / ring,
            vaes / ring
        );
    }
    let Some(vaes) = vaes else {
        return;
    };
    println!("# AES-GCM-128 open, ns/packet (median of {ROUNDS} rounds of {PACKETS})");
    for size in SIZES {
        // One sealed packet, copied back before each open (both engines pay the copy).
        let mut sealed = vec![0x5au8; size];
        let mut tag = [0u8; 16];
        vaes.seal_in_place(&mut sealed, &iv(0), &aad, &mut tag);
        sealed.extend_from_slice(&tag);
        let mut buf = sealed.clone();
        let mut times: [Vec<f64>; 2] = Default::default();
        for _ in 0..ROUNDS {
            times[0].push(ns_per_packet(|_| {
                buf.copy_from_slice(&sealed);
                let plain = ring_key
                    .open_in_place(
                        Nonce::assume_unique_for_key(iv(0)),
                        Aad::from(&aad),
                        &mut buf,
                    )
                    .unwrap();
                std::hint::black_box(plain);
            }));
            times[1].push(ns_per_packet(|_| {
                buf.copy_from_slice(&sealed);
                let (data, icv) = buf.split_at_mut(size);
                let icv: &[u8; 16] = (&*icv).try_into().unwrap();
                assert!(vaes.open_in_place(data, &iv(0), &aad, icv));
                std::hint::black_box(&buf);
            }));
        }
        let [ring, vaes_ns] = times.each_mut().map(|t| median(t));
        println!(
            "{size:>5} B  ring {ring:>7.1}  vaes {vaes_ns:>7.1} ({:.2})",
            vaes_ns / ring
        );
    }
}

/// Plaintext lengths: ESP's for 64-, 590-, 1400- and 1518-byte frames, and 80.
const SIZES: [usize; 5] = [52, 80, 576, 1392, 1504];

/// The IV of packet `i`: its number, big-endian, behind four zero bytes.
fn iv(i: usize) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&(i as u64).to_be_bytes());
    iv
}

/// Nanoseconds per call of `each` over PACKETS calls (numbered from 0).
fn ns_per_packet(mut each: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    for i in 0..PACKETS {
        each(i);
    }
    t.elapsed().as_nanos() as f64 / PACKETS as f64
}

/// The median of a round's times (NaN when an engine did not run).
fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times.get(ROUNDS / 2).copied().unwrap_or(f64::NAN)
}
