//! intel-ipsec-mb's AES-GCM called directly ([`gcm::ImbGcm`]) against ring: the same
//! ciphertext and tag for any key, IV, AAD and length (ESP's 8- and 12-byte AADs among them),
//! and other key lengths refused. No EAL: the library needs none.

use gcm::ImbGcm;
use proptest::prelude::*;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

fn ring_seal(key: &[u8], iv: [u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
    let algorithm = if key.len() == 32 {
        &AES_256_GCM
    } else {
        &AES_128_GCM
    };
    let key = LessSafeKey::new(UnboundKey::new(algorithm, key).unwrap());
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::from(aad), data)
        .unwrap();
    tag.as_ref().try_into().unwrap()
}

proptest! {
    #[test]
    fn seals_like_ring(
        long_key in any::<bool>(),
        key in proptest::collection::vec(any::<u8>(), 32),
        iv in any::<[u8; 12]>(),
        aad in proptest::collection::vec(any::<u8>(), 0..=12),
        data in proptest::collection::vec(any::<u8>(), 0..1600),
    ) {
        let key = if long_key { &key[..] } else { &key[..16] };
        let imb = ImbGcm::new(key).unwrap();
        let mut sealed = data.clone();
        let mut tag = [0u8; 16];
        imb.seal_in_place(&mut sealed, &iv, &aad, &mut tag);
        let mut expected = data.clone();
        let expected_tag = ring_seal(key, iv, &aad, &mut expected);
        prop_assert_eq!(sealed, expected);
        prop_assert_eq!(tag, expected_tag);
    }
}

#[test]
fn one_key_seals_on_several_threads_at_once() {
    let imb = ImbGcm::new(&[7u8; 16]).unwrap();
    let mut expected = vec![0x5au8; 1000];
    let expected_tag = ring_seal(&[7u8; 16], [3; 12], &[1; 8], &mut expected);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..2000 {
                    let mut data = vec![0x5au8; 1000];
                    let mut tag = [0u8; 16];
                    imb.seal_in_place(&mut data, &[3; 12], &[1; 8], &mut tag);
                    assert_eq!(data, expected);
                    assert_eq!(tag, expected_tag);
                }
            });
        }
    });
}

#[test]
fn other_key_lengths_are_refused() {
    for len in [0, 15, 17, 24, 31, 33] {
        let err = ImbGcm::new(&vec![1u8; len]).unwrap_err();
        assert_eq!(err, gcm::Error::KeyLength(len), "{len}-byte key");
    }
    assert!(gcm::ipsec_mb::version().starts_with(char::is_numeric));
}
