//! The Encrypted and Authenticated (SK) payload with AEAD ciphers: AES-GCM with a 16-byte
//! ICV (RFC 5282) and ChaCha20-Poly1305 (RFC 7634).
//!
//! Layout of the SK body: IV (8 bytes) | ciphertext | ICV (16 bytes). The plaintext is the
//! inner payload chain, then padding, then one byte of pad length. The nonce is the 4-byte
//! salt (the last bytes of the direction's SK_e) followed by the IV; the associated data is
//! the message from the IKE header up to and including the SK payload's generic header.
//! IVs must never repeat under one key: the caller passes a counter.

use crate::message::{
    emit_payload_chain, parse_header, parse_payload_chain, payload_type, Header, ParseError,
    Payload, HEADER_LEN, PAYLOAD_HEADER_LEN, VERSION,
};
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

/// IV length in the SK payload.
pub const IV_LEN: usize = 8;
/// ICV length.
pub const ICV_LEN: usize = 16;
/// Salt length at the end of each SK_e.
pub const SALT_LEN: usize = 4;

/// ENCR transform IDs.
pub mod encr {
    /// ENCR_AES_GCM_16 (key length attribute 128 or 256).
    pub const AES_GCM_16: u16 = 20;
    /// ENCR_CHACHA20_POLY1305.
    pub const CHACHA20_POLY1305: u16 = 28;
}

/// The AEAD ciphers rri negotiates for IKE and ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aead {
    AesGcm128,
    AesGcm256,
    ChaCha20Poly1305,
}

impl Aead {
    /// From an ENCR transform.
    pub fn from_transform(id: u16, key_len: Option<u16>) -> Option<Aead> {
        match (id, key_len) {
            (encr::AES_GCM_16, Some(128)) => Some(Aead::AesGcm128),
            (encr::AES_GCM_16, Some(256)) => Some(Aead::AesGcm256),
            (encr::CHACHA20_POLY1305, None) => Some(Aead::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The ENCR transform ID and key length attribute.
    pub fn transform(self) -> (u16, Option<u16>) {
        match self {
            Aead::AesGcm128 => (encr::AES_GCM_16, Some(128)),
            Aead::AesGcm256 => (encr::AES_GCM_16, Some(256)),
            Aead::ChaCha20Poly1305 => (encr::CHACHA20_POLY1305, None),
        }
    }

    /// Key material per direction: cipher key and salt.
    pub fn keymat_len(self) -> usize {
        self.cipher_key_len() + SALT_LEN
    }

    fn cipher_key_len(self) -> usize {
        match self {
            Aead::AesGcm128 => 16,
            Aead::AesGcm256 | Aead::ChaCha20Poly1305 => 32,
        }
    }

    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Aead::AesGcm128 => &aead::AES_128_GCM,
            Aead::AesGcm256 => &aead::AES_256_GCM,
            Aead::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

/// One direction's SK payload key.
pub struct SkKey {
    aead: Aead,
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for SkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkKey")
            .field("aead", &self.aead)
            .finish_non_exhaustive()
    }
}

/// Why an SK message could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkError {
    /// The message itself is malformed.
    Parse(ParseError),
    /// No SK payload, or one too short for IV and ICV.
    NoSk,
    /// The ICV does not verify.
    Integrity,
    /// The pad length runs past the plaintext.
    Padding,
}

impl From<ParseError> for SkError {
    fn from(e: ParseError) -> Self {
        SkError::Parse(e)
    }
}

impl SkKey {
    /// From a direction's SK_e (cipher key followed by the salt); `None` when the length is
    /// wrong.
    pub fn new(aead: Aead, keymat: &[u8]) -> Option<SkKey> {
        if keymat.len() != aead.keymat_len() {
            return None;
        }
        let (k, s) = keymat.split_at(aead.cipher_key_len());
        let key = LessSafeKey::new(UnboundKey::new(aead.algorithm(), k).ok()?);
        Some(SkKey {
            aead,
            key,
            salt: s.try_into().ok()?,
        })
    }

    fn nonce(&self, iv: &[u8; IV_LEN]) -> Nonce {
        let mut n = [0u8; 12];
        n[..SALT_LEN].copy_from_slice(&self.salt);
        n[SALT_LEN..].copy_from_slice(iv);
        Nonce::assume_unique_for_key(n)
    }

    /// The whole message: `header` (its next payload and length are set here), then the
    /// SK payload carrying `inner` encrypted with `iv`.
    pub fn seal(&self, header: &Header, inner: &[Payload], iv: [u8; IV_LEN]) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&header.spi_i.to_be_bytes());
        out.extend_from_slice(&header.spi_r.to_be_bytes());
        out.push(payload_type::SK);
        out.push(VERSION);
        out.push(header.exchange);
        out.push(header.flags);
        out.extend_from_slice(&header.message_id.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        let sk_start = out.len();
        out.push(inner.first().map_or(payload_type::NONE, Payload::kind));
        out.extend_from_slice(&[0, 0, 0]);
        let mut plain = Vec::with_capacity(128);
        emit_payload_chain(inner, &mut plain);
        plain.push(0); // no padding: both AEADs have a block size of 1
        let total = out.len() + IV_LEN + plain.len() + ICV_LEN;
        out[24..28].copy_from_slice(&(total as u32).to_be_bytes());
        let sk_len = (total - sk_start) as u16;
        out[sk_start + 2..sk_start + 4].copy_from_slice(&sk_len.to_be_bytes());
        let aad_end = out.len();
        out.extend_from_slice(&iv);
        let ct_start = out.len();
        out.extend_from_slice(&plain);
        let (aad, body) = out.split_at_mut(aad_end);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                self.nonce(&iv),
                Aad::from(&*aad),
                &mut body[ct_start - aad_end..],
            )
            .expect("in-memory AEAD seal of a bounded message");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens a message whose payloads are (optionally some plain ones, then) an SK payload;
    /// gives the header and the inner payloads.
    pub fn open(&self, datagram: &[u8]) -> Result<(Header, Vec<Payload>), SkError> {
        let header = parse_header(datagram)?;
        // Walk to the SK payload: it is the last one, so its start is where the chain
        // before it ends.
        let mut next = header.next_payload;
        let mut at = HEADER_LEN;
        while next != payload_type::SK {
            if next == payload_type::NONE || at + PAYLOAD_HEADER_LEN > datagram.len() {
                return Err(SkError::NoSk);
            }
            let len = usize::from(u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]));
            if len < PAYLOAD_HEADER_LEN || at + len > datagram.len() {
                return Err(SkError::Parse(ParseError::PayloadLength(next)));
            }
            next = datagram[at];
            at += len;
        }
        if at + PAYLOAD_HEADER_LEN > datagram.len() {
            return Err(SkError::NoSk);
        }
        let first = datagram[at];
        let sk_len = usize::from(u16::from_be_bytes([datagram[at + 2], datagram[at + 3]]));
        if at + sk_len != datagram.len() || sk_len < PAYLOAD_HEADER_LEN + IV_LEN + ICV_LEN + 1 {
            return Err(SkError::NoSk);
        }
        let aad_end = at + PAYLOAD_HEADER_LEN;
        let iv: [u8; IV_LEN] = datagram[aad_end..aad_end + IV_LEN]
            .try_into()
            .map_err(|_| SkError::NoSk)?;
        let mut sealed = datagram[aad_end + IV_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(
                self.nonce(&iv),
                Aad::from(&datagram[..aad_end]),
                &mut sealed,
            )
            .map_err(|_| SkError::Integrity)?;
        let (&pad, rest) = plain.split_last().ok_or(SkError::Padding)?;
        let chain_len = rest
            .len()
            .checked_sub(usize::from(pad))
            .ok_or(SkError::Padding)?;
        let inner = parse_payload_chain(first, &rest[..chain_len])?;
        Ok((header, inner))
    }
}
