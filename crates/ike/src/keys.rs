//! Key derivation of IKEv2 (RFC 7296 sections 2.13, 2.14, 2.17) and the pre-shared-key
//! AUTH value (section 2.15), over ring's HMAC.
//!
//! Only AEAD transforms are negotiated (AES-GCM-16 and ChaCha20-Poly1305, RFC 5282 and
//! 7634), so there are no integrity keys: SK_ai/SK_ar and the child integrity keys are empty,
//! and each encryption key carries its 4-byte salt at its end.

use ring::hmac;
use secret::SecretBytes;

/// Transform ID of a PRF (IANA "Transform Type 2").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha512,
}

impl Prf {
    /// From its transform ID.
    pub fn from_id(id: u16) -> Option<Prf> {
        match id {
            5 => Some(Prf::HmacSha256),
            6 => Some(Prf::HmacSha384),
            7 => Some(Prf::HmacSha512),
            _ => None,
        }
    }

    /// Its transform ID.
    pub fn id(self) -> u16 {
        match self {
            Prf::HmacSha256 => 5,
            Prf::HmacSha384 => 6,
            Prf::HmacSha512 => 7,
        }
    }

    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Prf::HmacSha256 => hmac::HMAC_SHA256,
            Prf::HmacSha384 => hmac::HMAC_SHA384,
            Prf::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// Output (and preferred key) length.
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacSha256 => 32,
            Prf::HmacSha384 => 48,
            Prf::HmacSha512 => 64,
        }
    }

    /// prf(key, data).
    pub fn prf(self, key: &[u8], data: &[&[u8]]) -> Vec<u8> {
        let key = hmac::Key::new(self.algorithm(), key);
        let mut ctx = hmac::Context::with_key(&key);
        for d in data {
            ctx.update(d);
        }
        ctx.sign().as_ref().to_vec()
    }

    /// prf+(key, seed) of `len` bytes (section 2.13): T1 | T2 | ..., Tn = prf(K, Tn-1 | S |
    /// n). At most 255 blocks can be made; more is a programming error and gives `None`.
    pub fn prf_plus(self, key: &[u8], seed: &[&[u8]], len: usize) -> Option<Vec<u8>> {
        if len > 255 * self.output_len() {
            return None;
        }
        let key = hmac::Key::new(self.algorithm(), key);
        let mut out = Vec::with_capacity(len + self.output_len());
        let mut previous: Vec<u8> = Vec::new();
        let mut n: u8 = 1;
        while out.len() < len {
            let mut ctx = hmac::Context::with_key(&key);
            ctx.update(&previous);
            for s in seed {
                ctx.update(s);
            }
            ctx.update(&[n]);
            previous = ctx.sign().as_ref().to_vec();
            out.extend_from_slice(&previous);
            n = n.wrapping_add(1);
        }
        out.truncate(len);
        Some(out)
    }
}

/// The keys of an IKE SA (wiped when dropped).
#[derive(Clone, PartialEq, Eq)]
pub struct IkeKeys {
    pub sk_d: SecretBytes,
    /// Initiator's encryption key, salt included.
    pub sk_ei: SecretBytes,
    pub sk_er: SecretBytes,
    pub sk_pi: SecretBytes,
    pub sk_pr: SecretBytes,
}

impl std::fmt::Debug for IkeKeys {
    // Key material stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IkeKeys").finish_non_exhaustive()
    }
}

/// SKEYSEED = prf(Ni | Nr, g^ir), then {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
/// = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), with `enc_key_len` bytes of encryption key
/// (salt included) per direction and no integrity keys (AEAD).
pub fn ike_keys(
    prf: Prf,
    nonce_i: &[u8],
    nonce_r: &[u8],
    shared_secret: &[u8],
    spi_i: u64,
    spi_r: u64,
    enc_key_len: usize,
) -> IkeKeys {
    let skeyseed = prf.prf(&[nonce_i, nonce_r].concat(), &[shared_secret]);
    keys_from_skeyseed(prf, &skeyseed, nonce_i, nonce_r, spi_i, spi_r, enc_key_len)
}

/// The keys of a rekeyed IKE SA (RFC 7296 section 2.18): SKEYSEED = prf(SK_d (old),
/// g^ir (new) | Ni | Nr) with the old SA's PRF, then the key material as for a new SA with
/// the new SA's PRF, nonces and SPIs.
#[allow(clippy::too_many_arguments)]
pub fn rekeyed_ike_keys(
    old_prf: Prf,
    old_sk_d: &[u8],
    prf: Prf,
    nonce_i: &[u8],
    nonce_r: &[u8],
    shared_secret: &[u8],
    spi_i: u64,
    spi_r: u64,
    enc_key_len: usize,
) -> IkeKeys {
    let skeyseed = old_prf.prf(old_sk_d, &[shared_secret, nonce_i, nonce_r]);
    keys_from_skeyseed(prf, &skeyseed, nonce_i, nonce_r, spi_i, spi_r, enc_key_len)
}

fn keys_from_skeyseed(
    prf: Prf,
    skeyseed: &[u8],
    nonce_i: &[u8],
    nonce_r: &[u8],
    spi_i: u64,
    spi_r: u64,
    enc_key_len: usize,
) -> IkeKeys {
    let p = prf.output_len();
    let total = p + 2 * enc_key_len + 2 * p;
    let km = SecretBytes::new(
        prf.prf_plus(
            skeyseed,
            &[nonce_i, nonce_r, &spi_i.to_be_bytes(), &spi_r.to_be_bytes()],
            total,
        )
        .unwrap_or_default(),
    );
    let mut at = 0;
    let mut take = |n: usize| {
        let v = km
            .get(at..at + n)
            .map(SecretBytes::copy_from)
            .unwrap_or_default();
        at += n;
        v
    };
    IkeKeys {
        sk_d: take(p),
        sk_ei: take(enc_key_len),
        sk_er: take(enc_key_len),
        sk_pi: take(p),
        sk_pr: take(p),
    }
}

/// A child SA's keys: KEYMAT = prf+(SK_d, [g^ir (new)] | Ni | Nr); the initiator's
/// outbound (= responder's inbound) key first (section 2.17).
pub fn child_keys(
    prf: Prf,
    sk_d: &[u8],
    new_shared_secret: Option<&[u8]>,
    nonce_i: &[u8],
    nonce_r: &[u8],
    enc_key_len: usize,
) -> (SecretBytes, SecretBytes) {
    let dh = new_shared_secret.unwrap_or(&[]);
    let km = SecretBytes::new(
        prf.prf_plus(sk_d, &[dh, nonce_i, nonce_r], 2 * enc_key_len)
            .unwrap_or_default(),
    );
    let (i, r) = km.split_at(enc_key_len.min(km.len()));
    (SecretBytes::copy_from(i), SecretBytes::copy_from(r))
}

/// The AUTH value for a pre-shared key (section 2.15):
/// prf(prf(PSK, "Key Pad for IKEv2"), message | peer nonce | prf(SK_p, ID')), where `id_body`
/// is the ID payload's body (type, reserved bytes, data) and `sk_p` the sender's SK_pi or
/// SK_pr.
pub fn psk_auth(
    prf: Prf,
    psk: &[u8],
    message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Vec<u8> {
    let mac_id = prf.prf(sk_p, &[id_body]);
    let pad_key = prf.prf(psk, &[b"Key Pad for IKEv2"]);
    prf.prf(&pad_key, &[message, peer_nonce, &mac_id])
}

/// Compares authentication data in constant time.
pub fn verify_auth(expected: &[u8], received: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == received.len() && bool::from(expected.ct_eq(received))
}
