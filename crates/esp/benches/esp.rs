//! ESP cost against the raw AEAD it is built on.
//!
//! For inner packets of 64, 512 and 1400 bytes and IMIX (7:4:1 of 64/570/1518, interleaved),
//! one core, in one run:
//! * encapsulation: ring's `seal_in_place_separate_tag` over N bytes with an 8-byte AAD (the
//!   anchor) against `OutboundSa::encapsulate` of an N-byte inner packet, one at a time and
//!   through `encapsulate_burst` in bursts of 32 (with the default 16-byte padding, and again
//!   with RFC 4303's minimal 4-byte padding, whose partial last block ring handles slowly);
//! * decapsulation: ring's `open_in_place` of N bytes plus tag against `classify` plus
//!   `InboundSa::decapsulate_burst` of the ESP packet carrying an N-byte inner packet.
//!
//! Both sides of each pair run in the same harness: encapsulation restores the inner IPv4
//! header after each packet (20 bytes) and the raw seal needs nothing; decapsulation copies
//! the pristine sealed bytes back before every open on both sides (ring decrypts in place),
//! and gets a fresh inbound SA every 128 packets (128 distinct packets stay in cache, as the raw
//! side's buffer does), outside the timed region, so that the
//! replay window accepts the same packets again. Medians of 5 interleaved rounds.
//!
//! Run: `cargo bench -p esp --bench esp`.

use esp::*;
use pktbuf::{PacketBuf, TestBuf};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

const ROUNDS: usize = 5;
const BURST: usize = 32;
const DECAP_SET: usize = 128;

fn algorithm(t: Transform) -> &'static aead::Algorithm {
    match t {
        Transform::AesGcm128 => &aead::AES_128_GCM,
        Transform::AesGcm256 => &aead::AES_256_GCM,
        Transform::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
    }
}

fn params(t: Transform) -> SaParams {
    let tunnel = TunnelTemplate::new(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(203, 0, 113, 2),
    );
    let keymat: Vec<u8> = (0..t.keymat_len() as u8).collect();
    let mut p = SaParams::from_keymat(0x1234_5678, t, &keymat, tunnel).unwrap();
    p.esn = true;
    p.replay_window = 1024;
    p
}

fn inner_packet(len: usize) -> Vec<u8> {
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

/// A workload: the inner sizes of one cycle, repeated.
struct Mix {
    name: &'static str,
    sizes: Vec<usize>,
}

fn mixes() -> Vec<Mix> {
    let imix = [64, 570, 64, 64, 1518, 64, 570, 64, 64, 570, 64, 570].to_vec();
    vec![
        Mix {
            name: "64",
            sizes: vec![64],
        },
        Mix {
            name: "512",
            sizes: vec![512],
        },
        Mix {
            name: "1400",
            sizes: vec![1400],
        },
        Mix {
            name: "IMIX",
            sizes: imix,
        },
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// ns per packet of raw seals over the mix, in the same set of buffers as the burst
/// encapsulation (`BURST` mbuf-shaped buffers in turn), so that both sides touch the same
/// memory.
fn raw_seal(key: &LessSafeKey, mix: &Mix, packets: usize) -> f64 {
    let mut bufs: Vec<TestBuf> = (0..BURST)
        .map(|i| TestBuf::like_mbuf(&vec![0x5a; mix.sizes[i % mix.sizes.len()]]))
        .collect();
    let aad = [0x12u8, 0x34, 0x56, 0x78, 0, 0, 0, 1];
    let start = Instant::now();
    for i in 0..packets {
        let buf = bufs[i % BURST].data_mut();
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), buf)
            .unwrap();
        let _ = black_box(tag);
    }
    start.elapsed().as_nanos() as f64 / packets as f64
}

fn restore(buf: &mut TestBuf, header: &[u8], front: usize) {
    // Back to the inner packet: drop what encapsulation added and rewrite the header.
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    buf.adj(front).unwrap();
    let len = buf.len();
    buf.trim(len - total).unwrap();
    buf.data_mut()[..20].copy_from_slice(header);
}

/// ns per packet of single-packet encapsulation.
fn encap_single(sa: &OutboundSa, mix: &Mix, packets: usize) -> f64 {
    let inners: Vec<Vec<u8>> = mix.sizes.iter().map(|&n| inner_packet(n)).collect();
    let mut bufs: Vec<TestBuf> = inners.iter().map(|p| TestBuf::like_mbuf(p)).collect();
    let front = sa.front_overhead();
    let start = Instant::now();
    for i in 0..packets {
        let k = i % inners.len();
        sa.encapsulate(&mut bufs[k], 0).unwrap();
        restore(&mut bufs[k], &inners[k][..20], front);
    }
    start.elapsed().as_nanos() as f64 / packets as f64
}

/// ns per packet of burst encapsulation.
fn encap_burst(sa: &OutboundSa, mix: &Mix, packets: usize) -> f64 {
    let inners: Vec<Vec<u8>> = (0..BURST)
        .map(|i| inner_packet(mix.sizes[i % mix.sizes.len()]))
        .collect();
    let mut bufs: Vec<TestBuf> = inners.iter().map(|p| TestBuf::like_mbuf(p)).collect();
    let mut verdicts = [Ok(()); BURST];
    let front = sa.front_overhead();
    let start = Instant::now();
    for _ in 0..packets / BURST {
        assert_eq!(sa.encapsulate_burst(&mut bufs, 0, &mut verdicts), BURST);
        for (buf, inner) in bufs.iter_mut().zip(&inners) {
            restore(buf, &inner[..20], front);
        }
    }
    start.elapsed().as_nanos() as f64 / (packets / BURST * BURST) as f64
}

/// ns per packet of raw opens (each preceded by restoring the sealed bytes).
fn raw_open(key: &LessSafeKey, mix: &Mix, packets: usize) -> f64 {
    let aad = [0x12u8, 0x34, 0x56, 0x78, 0, 0, 0, 1];
    let nonce = [7u8; 12];
    let sealed: Vec<Vec<u8>> = mix
        .sizes
        .iter()
        .map(|&n| {
            let mut b = vec![0x5a; n];
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&aad),
                    &mut b,
                )
                .unwrap();
            b.extend_from_slice(tag.as_ref());
            b
        })
        .collect();
    let mut work: Vec<Vec<u8>> = sealed.clone();
    let start = Instant::now();
    for i in 0..packets {
        let k = i % sealed.len();
        work[k].copy_from_slice(&sealed[k]);
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut work[k],
            )
            .unwrap();
        let _ = black_box(plain);
    }
    start.elapsed().as_nanos() as f64 / packets as f64
}

/// ns per packet of classify + burst decapsulation (each packet restored from a pristine
/// copy first; a fresh SA, untimed, every DECAP_SET packets).
fn decap(p: &SaParams, outers: &[Vec<u8>], packets: usize) -> f64 {
    let mut bufs: Vec<TestBuf> = (0..BURST).map(|i| TestBuf::like_mbuf(&outers[i])).collect();
    let mut locs = [None; BURST];
    let mut verdicts = [Err(DropReason::TooShort); BURST];
    let mut total_ns = 0u128;
    let mut done = 0;
    while done < packets {
        let sa = InboundSa::new(p, 0).unwrap();
        let start = Instant::now();
        for chunk in outers.chunks(BURST) {
            for (i, outer) in chunk.iter().enumerate() {
                let buf = &mut bufs[i];
                let headroom = buf.headroom();
                if headroom > TestBuf::MBUF_HEADROOM {
                    buf.prepend(headroom - TestBuf::MBUF_HEADROOM).unwrap();
                } else {
                    buf.adj(TestBuf::MBUF_HEADROOM - headroom).unwrap();
                }
                let len = buf.len();
                if len > outer.len() {
                    buf.trim(len - outer.len()).unwrap();
                } else {
                    buf.append(outer.len() - len).unwrap();
                }
                buf.data_mut().copy_from_slice(outer);
                locs[i] = match classify(buf.data()) {
                    Ok(Classified::Esp(at)) => Some(at),
                    _ => None,
                };
            }
            let locs: [EspLocation; BURST] = std::array::from_fn(|i| locs[i].expect("ESP"));
            let n = chunk.len();
            assert_eq!(
                sa.decapsulate_burst(&mut bufs[..n], &locs[..n], 0, &mut verdicts),
                n
            );
        }
        total_ns += start.elapsed().as_nanos();
        done += outers.len();
    }
    total_ns as f64 / done as f64
}

fn main() {
    println!("# ESP encapsulation and decapsulation against raw ring AEAD, one core");
    println!("# columns: ns/packet, Mpps, Gbit/s of inner bytes; ratio = rri / raw (goal <= 1.2)");
    for t in [
        Transform::AesGcm128,
        Transform::AesGcm256,
        Transform::ChaCha20Poly1305,
    ] {
        let key = LessSafeKey::new(UnboundKey::new(algorithm(t), &params(t).key).unwrap());
        for mix in mixes() {
            let mean_len = mix.sizes.iter().sum::<usize>() as f64 / mix.sizes.len() as f64;
            let packets = ((400_000_000.0 / (mean_len + 200.0)) as usize / 4096).max(4) * 4096;
            let p = params(t);
            let out = OutboundSa::new(&p, 0).unwrap();
            let out_minimal = OutboundSa::new(
                &SaParams {
                    padding: Padding::Minimal,
                    ..p.clone()
                },
                0,
            )
            .unwrap();
            let sender = OutboundSa::new(&p, 0).unwrap();
            let outers: Vec<Vec<u8>> = (0..DECAP_SET)
                .map(|i| {
                    let mut b = TestBuf::like_mbuf(&inner_packet(mix.sizes[i % mix.sizes.len()]));
                    sender.encapsulate(&mut b, 0).unwrap();
                    b.data().to_vec()
                })
                .collect();
            let (mut seal, mut single, mut burst, mut minimal, mut open, mut dec) = (
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            );
            for _ in 0..ROUNDS {
                seal.push(raw_seal(&key, &mix, packets));
                single.push(encap_single(&out, &mix, packets));
                burst.push(encap_burst(&out, &mix, packets));
                minimal.push(encap_burst(&out_minimal, &mix, packets));
                open.push(raw_open(&key, &mix, packets));
                dec.push(decap(&p, &outers, packets));
            }
            let row = |what: &str, ns: f64, anchor: f64| {
                let mpps = 1e3 / ns;
                let gbps = mpps * mean_len * 8.0 / 1e3;
                let ratio = if anchor > 0.0 {
                    format!("  ratio {:.2}", ns / anchor)
                } else {
                    String::new()
                };
                println!(
                    "{:<18} {:<5} {:<26} {:8.1} {:8.2} {:7.2}{ratio}",
                    t.as_str(),
                    mix.name,
                    what,
                    ns,
                    mpps,
                    gbps
                );
            };
            let (seal, single, burst, minimal, open, dec) = (
                median(seal),
                median(single),
                median(burst),
                median(minimal),
                median(open),
                median(dec),
            );
            row("raw ring seal", seal, 0.0);
            row("encapsulate", single, seal);
            row("encapsulate_burst x32", burst, seal);
            row("  same, minimal padding", minimal, seal);
            row("raw ring open", open, 0.0);
            row("classify+decapsulate_burst", dec, open);
        }
    }
}
