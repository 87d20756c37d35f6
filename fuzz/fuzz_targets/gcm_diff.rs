//! Differential fuzzing of the AES-GCM engines: for a random key (128 or 256 bits), nonce,
//! AAD (8 or 12 bytes, as ESP has them) and plaintext (up to 9000 bytes), every engine this
//! CPU runs (`gcm::engines`: rri's VAES code, intel-ipsec-mb, ring) must give ring's
//! ciphertext and tag, open what it sealed, and refuse a single-bit flip anywhere in the
//! ciphertext, tag or AAD (leaving zeros in the buffer). Flips: every bit for short messages,
//! four bits the input picks for long ones.
//!
//! Input: [flags: bit 0 key size, bit 1 AAD size] [32 key bytes] [12 nonce bytes]
//! [12 AAD bytes] [4 flip positions, 2 bytes each] [plaintext...].
#![no_main]

use gcm::InPlaceGcm;

const EXHAUSTIVE_BYTES: usize = 48;

fn refuses(
    engine: &dyn InPlaceGcm,
    ct: &[u8],
    iv: &[u8; 12],
    aad: &[u8],
    tag: &[u8; 16],
    bit: usize,
) {
    let (mut ct, mut aad, mut tag) = (ct.to_vec(), aad.to_vec(), *tag);
    let byte = bit / 8;
    let mask = 1 << (bit % 8);
    if byte < ct.len() {
        ct[byte] ^= mask;
    } else if byte < ct.len() + 16 {
        tag[byte - ct.len()] ^= mask;
    } else {
        aad[byte - ct.len() - 16] ^= mask;
    }
    assert!(
        !engine.open_in_place(&mut ct, iv, &aad, &tag),
        "{engine:?} accepted a flip of bit {bit}"
    );
    assert!(
        ct.iter().all(|&b| b == 0),
        "{engine:?} left plaintext after a failed open"
    );
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 1 + 32 + 12 + 12 + 8 {
        return;
    }
    let (head, plain) = data.split_at(1 + 32 + 12 + 12 + 8);
    if plain.len() > 9000 {
        return;
    }
    let flags = head[0];
    let key = if flags & 1 == 0 {
        &head[1..17]
    } else {
        &head[1..33]
    };
    let iv: [u8; 12] = head[33..45].try_into().unwrap();
    let aad = if flags & 2 == 0 {
        &head[45..53]
    } else {
        &head[45..57]
    };
    let flips: Vec<usize> = head[57..65]
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();

    let engines = gcm::engines(key).expect("16- and 32-byte keys");
    let reference = gcm::RingGcm::new(key).unwrap();
    let mut expected = plain.to_vec();
    let mut expected_tag = [0u8; 16];
    reference.seal_in_place(&mut expected, &iv, aad, &mut expected_tag);

    let bits = (plain.len() + 16 + aad.len()) * 8;
    for (name, engine) in &engines {
        let mut sealed = plain.to_vec();
        let mut tag = [0u8; 16];
        engine.seal_in_place(&mut sealed, &iv, aad, &mut tag);
        assert_eq!(sealed, expected, "{name}: ciphertext differs from ring's");
        assert_eq!(tag, expected_tag, "{name}: tag differs from ring's");
        let mut opened = sealed.clone();
        assert!(
            engine.open_in_place(&mut opened, &iv, aad, &tag),
            "{name}: own seal refused"
        );
        assert_eq!(opened, plain, "{name}: open is not seal's inverse");
        if bits <= EXHAUSTIVE_BYTES * 8 {
            for bit in 0..bits {
                refuses(engine.as_ref(), &sealed, &iv, aad, &tag, bit);
            }
        } else {
            for &f in &flips {
                refuses(engine.as_ref(), &sealed, &iv, aad, &tag, f % bits);
            }
        }
    }
});
