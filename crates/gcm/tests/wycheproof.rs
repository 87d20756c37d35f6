//! Project Wycheproof's AES-GCM vectors on every engine this CPU runs ([`gcm::engines`]):
//! all of them with a 12-byte IV and a 16-byte tag (what ESP and IKE use), for 128- and
//! 256-bit keys, valid and invalid (modified tags and ciphertexts among them). A valid
//! vector seals to its ciphertext and tag and opens to its plaintext; an invalid one is
//! refused, and the buffer then holds zeros, not the deciphered bytes.
//!
//! The VAES engine is the one the data plane picks on a CPU that has it; it must not skip
//! quietly there: with `RRI_EXPECT_VAES=1` (scripts/test sets it when /proc/cpuinfo lists
//! vaes and vpclmulqdq) a missing VAES engine fails the test instead of being skipped.

use wycheproof::aead::{TestName, TestSet};
use wycheproof::TestResult;

fn expect_vaes() -> bool {
    std::env::var_os("RRI_EXPECT_VAES").is_some_and(|v| v == "1")
}

#[test]
fn the_engines_the_data_plane_may_pick_are_all_here() {
    let names: Vec<&str> = gcm::engines(&[0; 16])
        .unwrap()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert!(names.contains(&"ring") && names.contains(&"intel-ipsec-mb"));
    if names.contains(&"vaes") {
        return;
    }
    assert!(
        !expect_vaes(),
        "RRI_EXPECT_VAES=1 but the VAES engine is not available: the engine the data plane \
         picks on this CPU would go untested"
    );
    eprintln!("SKIPPED: this CPU has no VAES and VPCLMULQDQ; the VAES engine is not tested here");
}

#[test]
fn wycheproof_aes_gcm_on_every_engine() {
    let set = TestSet::load(TestName::AesGcm).expect("the vectors load");
    let mut checked = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for group in &set.test_groups {
        if group.nonce_size != 96 || group.tag_size != 128 || !matches!(group.key_size, 128 | 256) {
            continue;
        }
        for t in &group.tests {
            let iv: [u8; 12] = t.nonce.as_slice().try_into().unwrap();
            let tag: [u8; 16] = t.tag.as_slice().try_into().unwrap();
            let valid = match t.result {
                TestResult::Valid => true,
                TestResult::Invalid => false,
                TestResult::Acceptable => panic!("tc {}: no acceptable AES-GCM vectors", t.tc_id),
            };
            for (name, engine) in gcm::engines(&t.key).unwrap() {
                let counts = checked.entry(name).or_default();
                if valid {
                    let mut data = t.pt.to_vec();
                    let mut sealed_tag = [0u8; 16];
                    engine.seal_in_place(&mut data, &iv, &t.aad, &mut sealed_tag);
                    assert_eq!(data, *t.ct, "{name} tc {} ciphertext", t.tc_id);
                    assert_eq!(sealed_tag, tag, "{name} tc {} tag", t.tc_id);
                }
                let mut data = t.ct.to_vec();
                let opened = engine.open_in_place(&mut data, &iv, &t.aad, &tag);
                assert_eq!(opened, valid, "{name} tc {} ({})", t.tc_id, t.comment);
                if valid {
                    assert_eq!(data, *t.pt, "{name} tc {} plaintext", t.tc_id);
                    counts.0 += 1;
                } else {
                    assert!(
                        data.iter().all(|&b| b == 0),
                        "{name} tc {}: a failed open left bytes in the buffer",
                        t.tc_id
                    );
                    counts.1 += 1;
                }
            }
        }
    }
    eprintln!("wycheproof AES-GCM (valid, invalid) per engine: {checked:?}");
    let ring = checked["ring"];
    assert!(ring.0 >= 60 && ring.1 >= 30, "too few vectors: {ring:?}");
    for (name, counts) in &checked {
        assert_eq!(*counts, ring, "{name} saw other vectors than ring");
    }
    assert_eq!(checked.contains_key("vaes"), gcm::vaes::supported());
    if expect_vaes() {
        assert!(
            checked.contains_key("vaes"),
            "RRI_EXPECT_VAES=1 but VAES untested"
        );
    }
}

#[test]
fn a_failed_open_releases_no_plaintext_on_any_engine() {
    for key_len in [16, 32] {
        let key: Vec<u8> = (0..key_len as u8).collect();
        for (name, engine) in gcm::engines(&key).unwrap() {
            for len in [0usize, 1, 15, 16, 17, 255, 256, 257, 1400] {
                let plain: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
                let (iv, aad) = ([9u8; 12], [1u8, 2, 3, 4, 5, 6, 7, 8]);
                let mut data = plain.clone();
                let mut tag = [0u8; 16];
                engine.seal_in_place(&mut data, &iv, &aad, &mut tag);
                // Each single-bit flip of the tag, and one of the AAD.
                for bit in (0..128).step_by(17).chain([127]) {
                    let mut bad = tag;
                    bad[bit / 8] ^= 1 << (bit % 8);
                    let mut copy = data.clone();
                    assert!(
                        !engine.open_in_place(&mut copy, &iv, &aad, &bad),
                        "{name} {len}"
                    );
                    assert!(copy.iter().all(|&b| b == 0), "{name} {len}: plaintext left");
                }
                let mut copy = data.clone();
                assert!(!engine.open_in_place(&mut copy, &iv, &aad[..7], &tag));
                assert!(copy.iter().all(|&b| b == 0), "{name} {len}: plaintext left");
                assert!(
                    engine.open_in_place(&mut data, &iv, &aad, &tag),
                    "{name} {len}"
                );
                assert_eq!(data, plain, "{name} {len}");
            }
        }
    }
}
