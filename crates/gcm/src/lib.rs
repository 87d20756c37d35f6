//! AES-GCM for ESP's hot path, on every engine rri can run it on, with no DPDK:
//!
//! - [`VaesGcm`]: rri's own AES-GCM on 256-bit VAES and VPCLMULQDQ, for processors that have
//!   them without AVX-512 (where intel-ipsec-mb 1.3 has no VAES code);
//! - [`ImbGcm`]: intel-ipsec-mb (the library behind DPDK's `crypto_aesni_gcm`) called
//!   directly, one call per packet;
//! - [`RingGcm`]: ring, the reference every other engine is tested against;
//! - [`Plan`]: which engine seals which plaintext lengths, as the data plane measured them.
//!
//! Every engine implements [`InPlaceGcm`], one contract for all: AES-128 or AES-256 keys, a
//! 12-byte IV, any AAD, a 16-byte tag, sealing and opening in place; the nonce discipline is
//! the caller's. **A failed open releases no plaintext:** when the tag does not verify, the
//! buffer holds zeros when `open_in_place` returns `false` (every engine deciphers before it
//! compares, so each wipes what it deciphered). Key material is cleared when a key is dropped.
//! [`engines`] lists the engines this CPU runs, for tests and benchmarks that must cover every
//! one the data plane could pick.
//!
//! This is one of the three places in rri with `unsafe` code (with `bindings/` and
//! `crates/dpdk`): the vector intrinsics of [`VaesGcm`] and the calls into intel-ipsec-mb,
//! each block with a SAFETY comment.

pub mod ipsec_mb;
pub mod plan;
pub mod vaes;

pub use ipsec_mb::ImbGcm;
pub use plan::{Engine, Plan};
pub use vaes::VaesGcm;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

/// Length of the IV every engine takes.
pub const IV_LEN: usize = 12;
/// Length of the tag every engine writes and checks.
pub const TAG_LEN: usize = 16;

/// Why an engine could not be set up for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// AES-GCM keys are 16 or 32 bytes.
    #[error("AES-GCM key of {0} bytes (16 or 32 expected)")]
    KeyLength(usize),
    /// This CPU cannot run the engine.
    #[error("engine not available: {0}")]
    Unsupported(&'static str),
    /// The engine's library could not allocate what it needs.
    #[error("out of memory: {0}")]
    NoMemory(&'static str),
}

/// One AES-GCM key on one engine.
pub trait InPlaceGcm: Send + Sync + std::fmt::Debug {
    /// Seals `data` in place under `iv` and `aad` and writes the tag.
    fn seal_in_place(
        &self,
        data: &mut [u8],
        iv: &[u8; IV_LEN],
        aad: &[u8],
        tag: &mut [u8; TAG_LEN],
    );

    /// Opens `data` in place and returns whether `tag` is right; on `false`, `data` holds
    /// zeros.
    #[must_use]
    fn open_in_place(
        &self,
        data: &mut [u8],
        iv: &[u8; IV_LEN],
        aad: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> bool;
}

/// The trait over an engine's own `seal_in_place` and `open_in_place`.
macro_rules! in_place_gcm {
    ($engine:ty) => {
        impl InPlaceGcm for $engine {
            #[inline]
            fn seal_in_place(
                &self,
                data: &mut [u8],
                iv: &[u8; IV_LEN],
                aad: &[u8],
                tag: &mut [u8; TAG_LEN],
            ) {
                <$engine>::seal_in_place(self, data, iv, aad, tag);
            }
            #[inline]
            fn open_in_place(
                &self,
                data: &mut [u8],
                iv: &[u8; IV_LEN],
                aad: &[u8],
                tag: &[u8; TAG_LEN],
            ) -> bool {
                <$engine>::open_in_place(self, data, iv, aad, tag)
            }
        }
    };
}

in_place_gcm!(VaesGcm);
in_place_gcm!(ImbGcm);

/// AES-GCM on ring.
pub struct RingGcm(LessSafeKey);

impl std::fmt::Debug for RingGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingGcm").finish_non_exhaustive()
    }
}

impl RingGcm {
    /// A 16- or 32-byte key.
    ///
    /// # Errors
    /// [`Error::KeyLength`] for another length.
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        let algorithm = match key.len() {
            16 => &AES_128_GCM,
            32 => &AES_256_GCM,
            n => return Err(Error::KeyLength(n)),
        };
        let key = UnboundKey::new(algorithm, key).map_err(|_| Error::KeyLength(key.len()))?;
        Ok(RingGcm(LessSafeKey::new(key)))
    }

    /// The ring key, for callers that use ring's own API.
    pub fn key(&self) -> &LessSafeKey {
        &self.0
    }
}

impl InPlaceGcm for RingGcm {
    /// # Panics
    /// Only if ring refuses the length (over 2^36 bytes, which no packet reaches).
    fn seal_in_place(
        &self,
        data: &mut [u8],
        iv: &[u8; IV_LEN],
        aad: &[u8],
        tag: &mut [u8; TAG_LEN],
    ) {
        let sealed = self
            .0
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), data)
            .expect("ring seals any length under 2^36 bytes");
        tag.copy_from_slice(sealed.as_ref());
    }

    fn open_in_place(
        &self,
        data: &mut [u8],
        iv: &[u8; IV_LEN],
        aad: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> bool {
        // ring zeroes the deciphered bytes itself when the tag does not verify.
        let tag = ring::aead::Tag::from(*tag);
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*iv),
                Aad::from(aad),
                tag,
                data,
                0..,
            )
            .is_ok()
    }
}

/// An engine by name, holding one key.
pub type NamedEngine = (&'static str, Box<dyn InPlaceGcm>);

/// The engines this CPU runs, by name, each holding `key`: ring and intel-ipsec-mb always,
/// the VAES code where the CPU has the instructions ([`vaes::supported`]).
///
/// # Errors
/// When `key` is not 16 or 32 bytes, or intel-ipsec-mb cannot be set up.
pub fn engines(key: &[u8]) -> Result<Vec<NamedEngine>, Error> {
    let mut all: Vec<NamedEngine> = vec![
        ("ring", Box::new(RingGcm::new(key)?)),
        ("intel-ipsec-mb", Box::new(ImbGcm::new(key)?)),
    ];
    if vaes::supported() {
        all.push(("vaes", Box::new(VaesGcm::new(key)?)));
    }
    Ok(all)
}
