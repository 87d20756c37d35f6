//! SK payload decryption (RFC 7296 section 3.14, RFC 5282) with a real key: the harness seals
//! the fuzzer's bytes itself, with ring and a key it knows, so every input passes the ICV and
//! the padding and payload-chain checks behind it see fuzzed plaintext. Never a panic;
//! whatever opens can be sealed again and opens to the same payloads. The first byte picks
//! the AEAD and whether the bytes are sealed (else they go to `open` as a raw datagram); the
//! second is the type of the first inner payload; the rest is the plaintext, its last byte
//! the pad length.
#![no_main]

use ike::message::{payload_type, Header, HEADER_LEN, PAYLOAD_HEADER_LEN, VERSION};
use ike::sk::{Aead, SkKey};
use ring::aead::{
    Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};

const KEYMAT: [u8; 36] = [0x5a; 36];
const IV: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const HEADER: Header = Header {
    spi_i: 0x0102_0304_0506_0708,
    spi_r: 0x1112_1314_1516_1718,
    next_payload: payload_type::SK,
    exchange: ike::message::exchange::INFORMATIONAL,
    flags: ike::message::flags::INITIATOR,
    message_id: 7,
};

/// The whole message around `plain`, sealed by ring directly (not by the code under test).
fn seal_raw(aead: Aead, first: u8, plain: &[u8]) -> Vec<u8> {
    let (algorithm, key_len) = match aead {
        Aead::AesGcm128 => (&AES_128_GCM, 16),
        Aead::AesGcm256 => (&AES_256_GCM, 32),
        Aead::ChaCha20Poly1305 => (&CHACHA20_POLY1305, 32),
    };
    let key = LessSafeKey::new(UnboundKey::new(algorithm, &KEYMAT[..key_len]).unwrap());
    let total = HEADER_LEN + PAYLOAD_HEADER_LEN + IV.len() + plain.len() + 16;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&HEADER.spi_i.to_be_bytes());
    out.extend_from_slice(&HEADER.spi_r.to_be_bytes());
    out.extend_from_slice(&[payload_type::SK, VERSION, HEADER.exchange, HEADER.flags]);
    out.extend_from_slice(&HEADER.message_id.to_be_bytes());
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.push(first);
    out.push(0);
    out.extend_from_slice(&((total - HEADER_LEN) as u16).to_be_bytes());
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&KEYMAT[key_len..key_len + 4]);
    nonce[4..].copy_from_slice(&IV);
    let mut body = plain.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&out[..]),
            &mut body,
        )
        .unwrap();
    out.extend_from_slice(&IV);
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_ref());
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [mode, first, plain @ ..] = data else {
        return;
    };
    let aead = [Aead::AesGcm128, Aead::AesGcm256, Aead::ChaCha20Poly1305][usize::from(mode % 3)];
    let key = SkKey::new(aead, &KEYMAT[..aead.keymat_len()]).expect("key length");
    let sealed = mode & 0x80 == 0;
    let datagram = if sealed {
        if plain.len() > 8192 {
            return;
        }
        seal_raw(aead, *first, plain)
    } else {
        data[2..].to_vec()
    };
    match key.open(&datagram) {
        Ok((header, payloads)) => {
            let again = key.seal(&header, &payloads, IV);
            let (header2, payloads2) = key.open(&again).expect("own seal opens");
            assert_eq!(payloads2, payloads);
            assert_eq!(header2.message_id, header.message_id);
        }
        Err(ike::sk::SkError::Integrity) => {
            // Only a datagram the harness did not seal may fail its ICV.
            assert!(!sealed, "a correctly sealed message failed its ICV");
        }
        Err(_) => {}
    }
});
