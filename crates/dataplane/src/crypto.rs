//! ESP's burst sealing ([`esp::BurstSeal`]) on intel-ipsec-mb through DPDK's CPU crypto API
//! ([`dpdk::GcmSession`]): about twice ring's speed for AES-GCM on this hardware.
//!
//! Contract: a [`GcmBurstSeal`] is made from the SA's own key and AAD length (8, or 12 with
//! extended sequence numbers) and attached with [`esp::OutboundSa::with_burst_seal`]; a job
//! it cannot seal (a device error, an ICV slot that is not 16 bytes) is reported as not
//! sealed, and the SA sends it with an ICV of zeros that the receiver drops.

use std::sync::{Arc, Mutex};

use dpdk::{CryptoDev, DpdkError, GcmDirection, GcmJob, GcmSession, GCM_TAG_LEN, MAX_GCM_BURST};
use esp::{BurstSeal, OutboundSa, SaParams, SealJob, Transform};

/// The crypto device outbound AES-GCM SAs seal their bursts on, while a process has one. Read
/// only where SAs are made (the control thread), never on the fast path.
static DEVICE: Mutex<Option<CryptoDev>> = Mutex::new(None);

fn device() -> std::sync::MutexGuard<'static, Option<CryptoDev>> {
    DEVICE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Opens the crypto device `name` (given to the EAL with `--vdev`) for every outbound AES-GCM
/// SA made from now on in this process (see [`with_device_seal`]); `false` if there is no
/// such device or it offers no CPU crypto, and SAs keep sealing with ring. The device keeps
/// the EAL alive until [`release_device`] and the SAs sealing on it are gone.
pub fn use_device(eal: &dpdk::Eal, name: &str) -> bool {
    let mut device = device();
    if device.is_some() {
        return true;
    }
    match CryptoDev::open(eal, name, 4096) {
        Ok(dev) => {
            *device = Some(dev);
            true
        }
        Err(_) => false,
    }
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
    match GcmBurstSeal::new(dev, &params.key, aad_len) {
        Ok(seal) => sa.with_burst_seal(Arc::new(seal)),
        Err(_) => sa,
    }
}

/// AES-GCM burst sealing on a DPDK crypto device.
#[derive(Debug)]
pub struct GcmBurstSeal {
    session: GcmSession,
}

impl GcmBurstSeal {
    /// A sealer for a 16- or 32-byte AES key and AAD of `aad_len` bytes.
    ///
    /// # Errors
    /// When the device refuses the session (key length, AAD length, no room).
    pub fn new(dev: &CryptoDev, key: &[u8], aad_len: usize) -> Result<Self, DpdkError> {
        Ok(GcmBurstSeal {
            session: GcmSession::new(dev, key, aad_len, GcmDirection::Seal)?,
        })
    }
}

impl BurstSeal for GcmBurstSeal {
    fn seal_burst(&self, jobs: &mut [SealJob<'_>], ok: &mut [bool]) {
        for (jobs, ok) in jobs
            .chunks_mut(MAX_GCM_BURST)
            .zip(ok.chunks_mut(MAX_GCM_BURST))
        {
            let mut gcm: [GcmJob<'_>; MAX_GCM_BURST] = std::array::from_fn(|_| GcmJob::default());
            let mut icvs: [&mut [u8]; MAX_GCM_BURST] = std::array::from_fn(|_| Default::default());
            let n = jobs.len();
            for ((job, g), icv) in jobs.iter_mut().zip(gcm.iter_mut()).zip(icvs.iter_mut()) {
                let SealJob {
                    plaintext,
                    icv: job_icv,
                    nonce,
                    aad,
                    aad_len: _,
                } = job;
                g.data = plaintext;
                g.iv = *nonce;
                // The whole array (the session reads its AAD length of it): a fixed copy.
                g.aad[..aad.len()].copy_from_slice(aad);
                *icv = job_icv;
            }
            let mut sealed = [false; MAX_GCM_BURST];
            self.session.process(&mut gcm[..n], &mut sealed[..n]);
            for (((g, icv), done), ok) in gcm
                .iter()
                .zip(icvs.iter_mut())
                .zip(sealed)
                .zip(ok.iter_mut())
            {
                *ok = done && icv.len() == GCM_TAG_LEN;
                if *ok {
                    icv.copy_from_slice(&g.tag);
                }
            }
        }
    }
}
