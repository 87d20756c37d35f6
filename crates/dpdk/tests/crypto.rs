//! AES-GCM through DPDK's CPU crypto API on `crypto_aesni_gcm` (intel-ipsec-mb) agrees byte
//! for byte with ring, the AEAD rri's ESP is built on: same ciphertext and tag when sealing,
//! ring's output opens, a wrong tag is refused; bursts longer than the device takes are
//! refused past the limit, untouched; jobs sealed in place, in more than one device call,
//! with items left out and malformed jobs refused.

mod common;

use dpdk::{CryptoDev, Eal, GcmDirection, GcmJob, GcmSession, MAX_AAD_LEN, MAX_GCM_BURST};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

fn job(data: &mut [u8], seed: u8, aad_len: usize) -> GcmJob<'_> {
    let mut iv = [0u8; 12];
    let mut aad = [0u8; MAX_AAD_LEN];
    for (i, b) in iv.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    for (i, b) in aad[..aad_len].iter_mut().enumerate() {
        *b = seed.wrapping_add(7 * i as u8);
    }
    GcmJob {
        data,
        iv,
        aad,
        tag: [0; 16],
    }
}

#[test]
fn cpu_crypto_gcm_agrees_with_ring() {
    let eal = Eal::init(common::eal_args(
        "crypto",
        "0@0",
        &["crypto_aesni_gcm".to_string()],
    ))
    .expect("EAL starts with the crypto_aesni_gcm device");
    let dev = CryptoDev::open(&eal, "crypto_aesni_gcm", 64).expect("the device offers CPU crypto");
    assert!(CryptoDev::open(&eal, "crypto_nosuchdevice", 4).is_err());
    assert!(GcmSession::new(&dev, &[0u8; 24], 8, GcmDirection::Seal).is_err());
    assert!(GcmSession::new(&dev, &[0u8; 16], MAX_AAD_LEN + 1, GcmDirection::Seal).is_err());

    let sizes = [0usize, 1, 15, 16, 17, 64, 80, 100, 512, 528, 1400, 1518];
    for key_len in [16usize, 32] {
        let key: Vec<u8> = (0..key_len as u8).map(|i| i.wrapping_mul(13)).collect();
        let algorithm = if key_len == 16 {
            &AES_128_GCM
        } else {
            &AES_256_GCM
        };
        let reference = LessSafeKey::new(UnboundKey::new(algorithm, &key).unwrap());
        for aad_len in [8usize, 12] {
            let seal = GcmSession::new(&dev, &key, aad_len, GcmDirection::Seal).unwrap();
            let open = GcmSession::new(&dev, &key, aad_len, GcmDirection::Open).unwrap();
            assert_eq!(open.aad_len(), aad_len);

            // A burst of every size, sealed in one call.
            let mut buffers: Vec<Vec<u8>> = sizes
                .iter()
                .map(|&n| (0..n).map(|i| (i * 7 + n) as u8).collect())
                .collect();
            let plain = buffers.clone();
            let mut jobs: Vec<GcmJob<'_>> = buffers
                .iter_mut()
                .enumerate()
                .map(|(k, b)| job(b, k as u8, aad_len))
                .collect();
            let mut ok = vec![false; jobs.len()];
            assert_eq!(seal.process(&mut jobs, &mut ok), sizes.len());
            assert!(ok.iter().all(|&o| o));
            let tags: Vec<[u8; 16]> = jobs.iter().map(|j| j.tag).collect();
            let ivs: Vec<[u8; 12]> = jobs.iter().map(|j| j.iv).collect();
            let aads: Vec<[u8; MAX_AAD_LEN]> = jobs.iter().map(|j| j.aad).collect();
            drop(jobs);
            for (k, p) in plain.iter().enumerate() {
                let mut expect = p.clone();
                let tag = reference
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(ivs[k]),
                        Aad::from(&aads[k][..aad_len]),
                        &mut expect,
                    )
                    .unwrap();
                assert_eq!(
                    buffers[k],
                    expect,
                    "ciphertext, {key_len}-byte key, {} bytes",
                    p.len()
                );
                assert_eq!(&tags[k][..], tag.as_ref(), "tag, {} bytes", p.len());
            }

            // Opening: the sealed bytes come back; a flipped tag bit is refused.
            let mut jobs: Vec<GcmJob<'_>> = buffers
                .iter_mut()
                .enumerate()
                .map(|(k, b)| {
                    let mut j = job(b, k as u8, aad_len);
                    j.tag = tags[k];
                    if k == 3 {
                        j.tag[0] ^= 1;
                    }
                    j
                })
                .collect();
            let mut ok = vec![false; jobs.len()];
            assert_eq!(open.process(&mut jobs, &mut ok), sizes.len() - 1);
            drop(jobs);
            for (k, p) in plain.iter().enumerate() {
                assert_eq!(ok[k], k != 3, "job {k}");
                if k != 3 {
                    assert_eq!(&buffers[k], p);
                }
            }
        }
    }

    // More jobs than one call takes: the extra ones are refused and left as they were.
    let seal = GcmSession::new(&dev, &[9u8; 16], 8, GcmDirection::Seal).unwrap();
    let mut buffers = vec![vec![0x5au8; 64]; MAX_GCM_BURST + 2];
    let mut jobs: Vec<GcmJob<'_>> = buffers.iter_mut().map(|b| job(b, 1, 8)).collect();
    let mut ok = vec![false; jobs.len()];
    assert_eq!(seal.process(&mut jobs, &mut ok), MAX_GCM_BURST);
    drop(jobs);
    assert!(ok[..MAX_GCM_BURST].iter().all(|&o| o));
    assert!(!ok[MAX_GCM_BURST] && !ok[MAX_GCM_BURST + 1]);
    assert_eq!(buffers[MAX_GCM_BURST], vec![0x5au8; 64]);

    // In place: buffers, IVs, AADs and tags where the caller keeps them; more items than one
    // device call takes (two calls); an item left out keeps its `ok`; a short tag or AAD
    // fails without touching the data.
    struct Item {
        data: Vec<u8>,
        iv: [u8; 12],
        aad: Vec<u8>,
        tag: Vec<u8>,
        take: bool,
    }
    let key = [3u8; 16];
    let reference = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).unwrap());
    let seal_12 = GcmSession::new(&dev, &key, 12, GcmDirection::Seal).unwrap();
    let count = MAX_GCM_BURST + 6;
    let mut items: Vec<Item> = (0..count)
        .map(|k| Item {
            data: (0..(k * 5 % 97)).map(|i| (i + k) as u8).collect(),
            iv: [k as u8; 12],
            aad: vec![k as u8 ^ 0x5a; if k == 3 { 8 } else { 12 }],
            tag: vec![0; if k == 2 { 8 } else { 16 }],
            take: k != 1,
        })
        .collect();
    let before: Vec<Vec<u8>> = items.iter().map(|i| i.data.clone()).collect();
    let mut ok = vec![true; count];
    let done = seal_12.process_in_place(&mut items, &mut ok, |item| {
        item.take.then(|| dpdk::GcmInPlace {
            data: &mut item.data,
            iv: &item.iv,
            aad: &item.aad,
            tag: &mut item.tag,
        })
    });
    assert_eq!(done, count - 3);
    for (k, item) in items.iter().enumerate() {
        match k {
            1 => assert!(
                ok[k] && item.data == before[k],
                "left out: ok and data untouched"
            ),
            2 | 3 => assert!(
                !ok[k] && item.data == before[k],
                "job {k} refused untouched"
            ),
            _ => {
                let mut expect = before[k].clone();
                let tag = reference
                    .seal_in_place_separate_tag(
                        Nonce::assume_unique_for_key(item.iv),
                        Aad::from(&item.aad[..]),
                        &mut expect,
                    )
                    .unwrap();
                assert!(ok[k], "job {k}");
                assert_eq!(item.data, expect, "ciphertext of job {k}");
                assert_eq!(&item.tag[..], tag.as_ref(), "tag of job {k}");
            }
        }
    }
    drop(seal_12);

    // A session is shared by threads that seal at once (the data plane's workers share SAs).
    let shared = std::sync::Arc::new(seal);
    let results: Vec<[u8; 16]> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let s = shared.clone();
                scope.spawn(move || {
                    let mut last = [0u8; 16];
                    for _ in 0..2000 {
                        let mut b = vec![0x11u8; 80];
                        let mut jobs = [job(&mut b, 5, 8)];
                        let mut ok = [false];
                        assert_eq!(s.process(&mut jobs, &mut ok), 1);
                        last = jobs[0].tag;
                    }
                    last
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results[0], results[1],
        "the same input gives the same tag on every thread"
    );
    drop(shared);
    drop(dev);
}
