//! ESP's burst sealing ([`esp::BurstSeal`]) on intel-ipsec-mb through DPDK's CPU crypto API
//! ([`dpdk::GcmSession`]): about twice ring's speed for AES-GCM on this hardware.
//!
//! Contract: a [`GcmBurstSeal`] is made from the SA's own key and AAD length (8, or 12 with
//! extended sequence numbers) and attached with [`esp::OutboundSa::with_burst_seal`]; a job
//! it cannot seal (a device error, an ICV slot that is not 16 bytes) is reported as not
//! sealed, and the SA sends it with an ICV of zeros that the receiver drops.

use dpdk::{CryptoDev, DpdkError, GcmDirection, GcmJob, GcmSession, GCM_TAG_LEN, MAX_GCM_BURST};
use esp::{BurstSeal, SealJob};

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
                    aad_len,
                } = job;
                g.data = plaintext;
                g.iv = *nonce;
                let len = (*aad_len).min(aad.len()).min(g.aad.len());
                g.aad[..len].copy_from_slice(&aad[..len]);
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
