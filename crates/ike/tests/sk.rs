//! The SK payload against Python's `cryptography` AEADs (the repository's venv) as the
//! independent implementation: what rri seals Python opens to the same plaintext, what
//! Python seals rri opens, and any changed byte is refused.

use ike::message::*;
use ike::sk::{Aead, SkError, SkKey};
use std::path::PathBuf;
use std::process::Command;

const PY: &str = r#"
import sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
x = bytes.fromhex
alg, key, salt, op, data = sys.argv[1], x(sys.argv[2]), x(sys.argv[3]), sys.argv[4], x(sys.argv[5])
c = ChaCha20Poly1305(key) if alg == "chacha" else AESGCM(key)
if op == "open":
    aad, iv, sealed = data[:32], data[32:40], data[40:]
    print(c.decrypt(salt + iv, sealed, aad).hex())
else:
    # data: the 32 bytes of header and SK header, then the plaintext; IV 0707..07
    aad, plain, iv = data[:32], data[32:], bytes([7] * 8)
    print((aad + iv + c.encrypt(salt + iv, plain, aad)).hex())
"#;

fn python(args: &[String]) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join(".venv/bin/python"))
        .args(["-c", PY])
        .args(args)
        .output()
        .expect("run scripts/setup: the venv with cryptography is missing");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn inner() -> Vec<Payload> {
    vec![
        Payload::IdI {
            kind: 1,
            data: vec![192, 0, 2, 1],
        },
        Payload::Auth {
            method: 2,
            data: vec![0xaa; 32],
        },
        Payload::Nonce(vec![3; 24]),
    ]
}

fn header() -> Header {
    Header {
        spi_i: 0x1111_2222_3333_4444,
        spi_r: 0x5555_6666_7777_8888,
        next_payload: 0,
        exchange: exchange::IKE_AUTH,
        flags: flags::INITIATOR,
        message_id: 1,
    }
}

#[test]
fn seal_and_open_agree_with_python() {
    for (aead, name) in [
        (Aead::AesGcm128, "gcm"),
        (Aead::AesGcm256, "gcm"),
        (Aead::ChaCha20Poly1305, "chacha"),
    ] {
        let keymat: Vec<u8> = (0..aead.keymat_len() as u8)
            .map(|i| i.wrapping_mul(11))
            .collect();
        let (k, salt) = keymat.split_at(keymat.len() - 4);
        let key = SkKey::new(aead, &keymat).unwrap();
        let mut chain = Vec::new();
        emit_payload_chain(&inner(), &mut chain);
        chain.push(0);

        // rri seals, Python opens.
        let sealed = key.seal(&header(), &inner(), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            Message::parse(&sealed).unwrap().header.exchange,
            exchange::IKE_AUTH
        );
        let opened = python(&[name.into(), hex(k), hex(salt), "open".into(), hex(&sealed)]);
        assert_eq!(opened, hex(&chain), "{aead:?}");
        let (h, payloads) = key.open(&sealed).unwrap();
        assert_eq!((h.message_id, payloads), (1, inner()));

        // Python seals (with 3 bytes of padding), rri opens.
        let mut plain = chain.clone();
        plain.pop();
        plain.extend_from_slice(&[0, 0, 0, 3]);
        let total = 28 + 4 + 8 + plain.len() + 16;
        let mut prefix = sealed[..32].to_vec();
        prefix[24..28].copy_from_slice(&(total as u32).to_be_bytes());
        prefix[30..32].copy_from_slice(&((total - 28) as u16).to_be_bytes());
        let theirs = unhex(&python(&[
            name.into(),
            hex(k),
            hex(salt),
            "seal".into(),
            hex(&[prefix, plain].concat()),
        ]));
        let (_, payloads) = key.open(&theirs).unwrap();
        assert_eq!(payloads, inner());

        // Any flipped byte is refused, never a panic.
        for i in 0..theirs.len() {
            let mut b = theirs.clone();
            b[i] ^= 0x40;
            assert!(key.open(&b).is_err(), "{aead:?} byte {i}");
        }
        for n in 0..theirs.len() {
            assert!(key.open(&theirs[..n]).is_err());
        }
        assert_eq!(
            {
                let mut b = theirs.clone();
                let last = b.len() - 1;
                b[last] ^= 1;
                key.open(&b)
            },
            Err(SkError::Integrity)
        );
    }
}

#[test]
fn wrong_key_lengths_and_transforms_are_refused() {
    assert!(SkKey::new(Aead::AesGcm128, &[0; 16]).is_none());
    assert!(SkKey::new(Aead::AesGcm256, &[0; 36]).is_some());
    assert_eq!(Aead::from_transform(20, Some(192)), None);
    assert_eq!(Aead::from_transform(28, None), Some(Aead::ChaCha20Poly1305));
    for a in [Aead::AesGcm128, Aead::AesGcm256, Aead::ChaCha20Poly1305] {
        let (id, kl) = a.transform();
        assert_eq!(Aead::from_transform(id, kl), Some(a));
    }
}
