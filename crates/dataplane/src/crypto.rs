//! ESP's burst sealing ([`esp::BurstSeal`]) on intel-ipsec-mb, with ring for the packets where
//! ring is faster.
//!
//! intel-ipsec-mb is reached one of two ways. When the process's crypto device is
//! `crypto_aesni_gcm` (the software device built on it), the library is called directly
//! ([`dpdk::ImbGcm`]): one call per packet on the packet's own bytes, where the device turned
//! each packet into a vector entry, checked it and made three library calls (about 130
//! instructions per 64-byte packet more, measured with callgrind). Any other device is used
//! through DPDK's CPU crypto API ([`dpdk::GcmSession`]).
//!
//! Which is faster depends on the processor and the packet size: on a host with AVX-512
//! intel-ipsec-mb took half ring's time at every size; on one with VAES but no AVX-512 (its
//! 1.3 release has no VAES code without AVX-512, ring has) ring took 0.58 of its time at
//! 1400 bytes and 1.27 at 64. So [`use_device`] times both on this machine once, and
//! plaintexts at or above the first size from which ring stays faster are sealed with ring
//! (see [`ring_from`]).
//!
//! Contract: a [`GcmBurstSeal`] is made from the SA's own key and AAD length (8, or 12 with
//! extended sequence numbers) and attached with [`esp::OutboundSa::with_burst_seal`]; a job
//! it cannot seal (a device error, an ICV slot that is not 16 bytes) is reported as not
//! sealed, and the SA sends it with an ICV of zeros that the receiver drops.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

use dpdk::{CryptoDev, DpdkError, GcmDirection, GcmInPlace, GcmSession, ImbGcm, GCM_TAG_LEN};
use esp::{BurstSeal, OutboundSa, SaParams, SealJob, Transform};

/// The crypto device outbound AES-GCM SAs seal their bursts on, while a process has one. Read
/// only where SAs are made (the control thread), never on the fast path.
static DEVICE: Mutex<Option<CryptoDev>> = Mutex::new(None);

/// Plaintext length from which new sealers use ring, as [`use_device`] measured it.
static RING_FROM: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Whether new sealers call intel-ipsec-mb directly rather than through the device (the
/// device is `crypto_aesni_gcm`, the library's own).
static DIRECT: AtomicBool = AtomicBool::new(false);

fn device() -> std::sync::MutexGuard<'static, Option<CryptoDev>> {
    DEVICE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens the crypto device `name` (given to the EAL with `--vdev`) for every outbound AES-GCM
/// SA made from now on in this process (see [`with_device_seal`]); `false` if there is no
/// such device or it offers no CPU crypto, and SAs keep sealing with ring. For
/// `crypto_aesni_gcm` the SAs call its library directly (see the module documentation); the
/// device stays open all the same, as the operator's choice of engine. The device keeps the
/// EAL alive until [`release_device`] and the SAs sealing on it are gone.
pub fn use_device(eal: &dpdk::Eal, name: &str) -> bool {
    let mut device = device();
    if device.is_some() {
        return true;
    }
    match CryptoDev::open(eal, name, 4096) {
        Ok(dev) => {
            let direct = name.starts_with("crypto_aesni_gcm") && ImbGcm::new(&[0; 16]).is_ok();
            DIRECT.store(direct, Ordering::Relaxed);
            RING_FROM.store(calibrate(&dev, direct), Ordering::Relaxed);
            *device = Some(dev);
            true
        }
        Err(_) => false,
    }
}

/// The plaintext length from which sealers made now seal with ring rather than the device
/// (`None`: the device at every size), as measured when the device was opened.
pub fn ring_from() -> Option<usize> {
    Some(RING_FROM.load(Ordering::Relaxed)).filter(|&n| n != usize::MAX)
}

/// What sealers made now run on, for the log: the device, and ring from which size.
pub fn engines() -> String {
    let device = if DIRECT.load(Ordering::Relaxed) {
        format!(
            "AES-GCM bursts sealed with intel-ipsec-mb {} called directly (crypto_aesni_gcm's library)",
            dpdk::ipsec_mb::version()
        )
    } else {
        "AES-GCM bursts sealed on the crypto device (DPDK CPU crypto)".to_string()
    };
    match ring_from() {
        Some(n) => format!("{device}, plaintexts of {n} bytes or more with ring (faster here)"),
        None => device,
    }
}

/// Times the device (or its library, called directly) against ring on bursts of 32
/// plaintexts of several sizes (AES-128, the median of 9 interleaved rounds of 100 bursts
/// each, a fraction of a second in all) and returns the smallest size from which ring is
/// faster at that size and every larger one measured; `usize::MAX` if there is none.
///
/// Both sides go through [`GcmBurstSeal::seal_burst`] with the same jobs, one sealer keeping
/// every length on the device and one sealing every length with ring, so that what is
/// compared is what the data plane would run. (Timing ring's bare call against the device
/// behind the burst glue chose ring for 64-byte plaintexts in about half of the starts on a
/// host where ring's bare call takes 1.27x the device's time at that size.) Ring must win by
/// 5 %: where the two are within the noise, the device, which takes a whole burst in one
/// call, stays.
fn calibrate(dev: &CryptoDev, direct: bool) -> usize {
    const SIZES: [usize; 6] = [64, 128, 256, 512, 1024, 1400];
    const BURST: usize = 32;
    const ROUNDS: usize = 9;
    let key = [0x5au8; 16];
    let sealer = || {
        if direct {
            GcmBurstSeal::direct(&key, 8)
        } else {
            GcmBurstSeal::new(dev, &key, 8)
        }
    };
    let (Ok(device), Ok(ring)) = (sealer(), sealer().map(|s| s.with_ring_from(0))) else {
        return usize::MAX;
    };
    let time = |sealer: &GcmBurstSeal, buffers: &mut [Vec<u8>], size: usize| {
        let t = Instant::now();
        for _ in 0..100 {
            let mut jobs: [SealJob<'_>; BURST] = std::array::from_fn(|_| SealJob::default());
            for (job, b) in jobs.iter_mut().zip(buffers.iter_mut()) {
                let (plaintext, icv) = b.split_at_mut(size);
                *job = SealJob {
                    plaintext,
                    icv,
                    nonce: [1; 12],
                    aad: [2; 12],
                    aad_len: 8,
                };
            }
            let mut ok = [false; BURST];
            sealer.seal_burst(&mut jobs, &mut ok);
        }
        t.elapsed().as_secs_f64()
    };
    let mut ring_faster = [false; SIZES.len()];
    for (faster, &size) in ring_faster.iter_mut().zip(&SIZES) {
        let mut buffers = vec![vec![0u8; size + GCM_TAG_LEN]; BURST];
        let mut ratios = [0f64; ROUNDS];
        for ratio in &mut ratios {
            let on_device = time(&device, &mut buffers, size);
            let on_ring = time(&ring, &mut buffers, size);
            *ratio = on_ring / on_device;
        }
        ratios.sort_by(f64::total_cmp);
        *faster = ratios[ROUNDS / 2] < 0.95;
    }
    // The smallest size from which ring wins at every larger size too.
    let mut from = usize::MAX;
    for (i, &size) in SIZES.iter().enumerate().rev() {
        if !ring_faster[i] {
            break;
        }
        from = size;
    }
    from
}

/// Stops giving new SAs the device; it closes when the last SA sealing on it is dropped (so
/// that the EAL can clean up at exit).
pub fn release_device() {
    device().take();
}

/// `sa` sealing its bursts on the process's crypto device when there is one and the SA is
/// AES-GCM; `sa` unchanged otherwise (or if the device refuses the session).
pub fn with_device_seal(sa: OutboundSa, params: &SaParams) -> OutboundSa {
    let device = device();
    let Some(dev) = device.as_ref() else {
        return sa;
    };
    if !matches!(
        params.transform,
        Transform::AesGcm128 | Transform::AesGcm256
    ) {
        return sa;
    }
    let aad_len = if params.esn { 12 } else { 8 };
    let sealer = if DIRECT.load(Ordering::Relaxed) {
        GcmBurstSeal::direct(&params.key, aad_len)
    } else {
        GcmBurstSeal::new(dev, &params.key, aad_len)
    };
    match sealer {
        Ok(seal) => sa.with_burst_seal(Arc::new(
            seal.with_ring_from(RING_FROM.load(Ordering::Relaxed)),
        )),
        Err(_) => sa,
    }
}

/// AES-GCM burst sealing on intel-ipsec-mb (directly or through a DPDK crypto device), and
/// with ring from a plaintext length on.
pub struct GcmBurstSeal {
    engine: Engine,
    ring: LessSafeKey,
    ring_from: usize,
}

/// What seals the plaintexts shorter than `ring_from`.
#[derive(Debug)]
enum Engine {
    Device(GcmSession),
    Direct(ImbGcm),
}

impl std::fmt::Debug for GcmBurstSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmBurstSeal")
            .field("engine", &self.engine)
            .field("ring_from", &self.ring_from)
            .finish_non_exhaustive()
    }
}

impl GcmBurstSeal {
    /// A sealer for a 16- or 32-byte AES key and AAD of `aad_len` bytes.
    ///
    /// # Errors
    /// When the device refuses the session (key length, AAD length, no room).
    pub fn new(dev: &CryptoDev, key: &[u8], aad_len: usize) -> Result<Self, DpdkError> {
        let session = GcmSession::new(dev, key, aad_len, GcmDirection::Seal)?;
        Self::with_engine(Engine::Device(session), key)
    }

    /// A sealer calling intel-ipsec-mb directly, for a 16- or 32-byte AES key and AAD of
    /// `aad_len` bytes (8, or 12 with extended sequence numbers).
    ///
    /// # Errors
    /// For another key or AAD length, or when the library cannot be set up.
    pub fn direct(key: &[u8], aad_len: usize) -> Result<Self, DpdkError> {
        if !matches!(aad_len, 8 | 12) {
            return Err(DpdkError::new("intel-ipsec-mb AAD length", EINVAL));
        }
        Self::with_engine(Engine::Direct(ImbGcm::new(key)?), key)
    }

    fn with_engine(engine: Engine, key: &[u8]) -> Result<Self, DpdkError> {
        let algorithm = if key.len() == 32 {
            &AES_256_GCM
        } else {
            &AES_128_GCM
        };
        // The device took the key, so it is 16 or 32 bytes, which ring takes too.
        let ring = UnboundKey::new(algorithm, key)
            .map_err(|_| DpdkError::new("ring AES-GCM key", EINVAL))?;
        Ok(GcmBurstSeal {
            engine,
            ring: LessSafeKey::new(ring),
            ring_from: usize::MAX,
        })
    }

    /// The same sealer, sealing plaintexts of `len` bytes or more with ring.
    pub fn with_ring_from(mut self, len: usize) -> Self {
        self.ring_from = len;
        self
    }

    /// Seals one job with ring; whether it could.
    fn seal_with_ring(&self, job: &mut SealJob<'_>) -> bool {
        if job.icv.len() != GCM_TAG_LEN {
            return false;
        }
        let aad = &job.aad[..job.aad_len.min(job.aad.len())];
        let Ok(tag) = self.ring.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(job.nonce),
            Aad::from(aad),
            job.plaintext,
        ) else {
            return false;
        };
        job.icv.copy_from_slice(tag.as_ref());
        true
    }
}

/// Seals one job with intel-ipsec-mb; whether it could (the ICV slot must be 16 bytes).
#[inline]
fn seal_direct(imb: &ImbGcm, job: &mut SealJob<'_>) -> bool {
    let Ok(tag) = <&mut [u8; GCM_TAG_LEN]>::try_from(&mut *job.icv) else {
        return false;
    };
    let aad = &job.aad[..job.aad_len.min(job.aad.len())];
    imb.seal_in_place(job.plaintext, &job.nonce, aad, tag);
    true
}

/// EINVAL: an invalid argument.
const EINVAL: i32 = 22;

impl BurstSeal for GcmBurstSeal {
    fn seal_burst(&self, jobs: &mut [SealJob<'_>], ok: &mut [bool]) {
        let n = jobs.len().min(ok.len());
        let (jobs, ok) = (&mut jobs[..n], &mut ok[..n]);
        // Plaintexts of `ring_from` bytes or more are sealed with ring first; the rest go to
        // the device where they lie, their IVs, AADs and ICV slots handed over as they are.
        let ring_from = self.ring_from;
        let session = match &self.engine {
            Engine::Device(session) => session,
            Engine::Direct(imb) => {
                for (job, ok) in jobs.iter_mut().zip(ok.iter_mut()) {
                    *ok = if job.plaintext.len() >= ring_from {
                        self.seal_with_ring(job)
                    } else {
                        seal_direct(imb, job)
                    };
                }
                return;
            }
        };
        if ring_from < usize::MAX {
            for (job, ok) in jobs.iter_mut().zip(ok.iter_mut()) {
                if job.plaintext.len() >= ring_from {
                    *ok = self.seal_with_ring(job);
                }
            }
        }
        session.process_in_place(jobs, ok, |job| {
            (job.plaintext.len() < ring_from).then(|| GcmInPlace {
                data: &mut *job.plaintext,
                iv: &job.nonce,
                aad: &job.aad[..job.aad_len.min(job.aad.len())],
                tag: &mut *job.icv,
            })
        });
    }
}
