//! ESP's burst sealing ([`esp::BurstSeal`]) on the fastest AES-GCM engine this machine has,
//! chosen per plaintext length.
//!
//! Three engines take part. The crypto device the operator gave the EAL: when it is
//! `crypto_aesni_gcm` (the software device built on intel-ipsec-mb), the library is called
//! directly ([`gcm::ImbGcm`]): one call per packet on the packet's own bytes, where the
//! device turned each packet into a vector entry, checked it and made three library calls
//! (about 130 instructions per 64-byte packet more, measured with callgrind); any other
//! device is used through DPDK's CPU crypto API ([`dpdk::GcmSession`]). rri's own AES-GCM on
//! 256-bit VAES and VPCLMULQDQ ([`gcm::VaesGcm`]), on a CPU that has them. And ring.
//!
//! Which is fastest depends on the processor and the packet size: on a host with AVX-512
//! intel-ipsec-mb took half ring's time at every size; on one with VAES but no AVX-512 (where
//! intel-ipsec-mb 1.3 has no VAES code) the VAES engine sealed 52-byte plaintexts in 0.94 of
//! intel-ipsec-mb's time and 1392-byte ones in 0.77 of ring's. So [`GcmEngines::with_device`]
//! times every engine on this machine once, at several sizes, and the sealers made afterwards follow that
//! [`gcm::Plan`]; the device keeps a size unless another engine beats it by 5 %.
//!
//! Contract: the engines are a value, [`GcmEngines`], that whoever makes SAs is handed; a
//! [`GcmBurstSeal`] is made from the SA's own key and AAD length (8, or 12 with
//! extended sequence numbers) and attached with [`esp::OutboundSa::with_burst_seal`]; a job
//! it cannot seal (a device error, an ICV slot that is not 16 bytes) is reported as not
//! sealed, and the SA drops it (`seal-failed`): it is never sent.

use std::sync::Arc;
use std::time::Instant;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};

use dpdk::{
    prefetch_for_write, CryptoDev, DpdkError, GcmDirection, GcmInPlace, GcmSession, GCM_TAG_LEN,
};
use esp::{BurstSeal, InboundSa, OutboundSa, PacketOpen, SaParams, SealJob, Transform};
pub use gcm::{Engine, Plan};
use gcm::{ImbGcm, VaesGcm};
use policy::SaCrypto;

/// The AES-GCM engines of this process, as [`GcmEngines::with_device`] chose them: handed to
/// the policy builder and the control thread ([`policy::SaCrypto`]), which attach them to
/// every SA they make. Only SAs made by those who hold this value use the device.
#[derive(Debug)]
pub struct GcmEngines {
    /// The crypto device outbound AES-GCM SAs seal their bursts on; `None`: ring seals.
    device: Option<CryptoDev>,
    /// Whether sealers call intel-ipsec-mb directly rather than through the device (the
    /// device is `crypto_aesni_gcm`, the library's own).
    direct: bool,
    /// The plan sealers follow, as [`calibrate`] measured it.
    plan: Plan,
}

impl GcmEngines {
    /// No crypto device: outbound SAs seal with ring, inbound ones open on rri's VAES code
    /// where the CPU has it (see [`GcmEngines::inbound`]).
    pub fn without_device() -> Self {
        GcmEngines {
            device: None,
            direct: false,
            plan: Plan::uniform(Engine::Device),
        }
    }

    /// Opens the crypto device `name` (given to the EAL with `--vdev`) for every outbound
    /// AES-GCM SA made with these engines and times the engines (see [`calibrate`]); without
    /// the device (no such device, or it offers no CPU crypto) SAs seal with ring. For
    /// `crypto_aesni_gcm` the SAs call its library directly (see the module documentation);
    /// the device stays open all the same, as the operator's choice of engine. The device
    /// keeps the EAL alive until this value and the SAs sealing on it are gone.
    pub fn with_device(eal: &dpdk::Eal, name: &str) -> Self {
        match CryptoDev::open(eal, name, 4096) {
            Ok(dev) => {
                let direct = name.starts_with("crypto_aesni_gcm") && ImbGcm::new(&[0; 16]).is_ok();
                let plan = calibrate(&dev, direct);
                GcmEngines {
                    device: Some(dev),
                    direct,
                    plan,
                }
            }
            Err(_) => GcmEngines::without_device(),
        }
    }

    /// Whether outbound SAs seal on a crypto device.
    pub fn has_device(&self) -> bool {
        self.device.is_some()
    }

    /// What sealers run on, for the log: each engine and the plaintext lengths it seals.
    pub fn sealers(&self) -> String {
        if self.device.is_none() {
            return "AES-GCM bursts sealed with ring (no crypto device)".to_string();
        }
        let device = if self.direct {
            format!(
                "intel-ipsec-mb {} called directly (crypto_aesni_gcm's library)",
                gcm::ipsec_mb::version()
            )
        } else {
            "the crypto device (DPDK CPU crypto)".to_string()
        };
        let name = |engine: Engine| match engine {
            Engine::Device => device.clone(),
            Engine::Vaes => "rri's AES-GCM on VAES and VPCLMULQDQ".to_string(),
            Engine::Ring => "ring".to_string(),
        };
        let steps = self.plan.steps();
        if let [(_, engine)] = steps {
            return format!("AES-GCM bursts sealed with {}", name(*engine));
        }
        let mut parts = Vec::new();
        for (i, &(from, engine)) in steps.iter().enumerate() {
            let range = match steps.get(i + 1) {
                Some(&(next, _)) if from == 0 => format!("below {next} bytes"),
                Some(&(next, _)) => format!("{from} to {} bytes", next - 1),
                None => format!("{from} bytes or more"),
            };
            parts.push(format!("{range} with {}", name(engine)));
        }
        format!("AES-GCM bursts sealed: plaintexts {}", parts.join(", "))
    }

    /// What inbound AES-GCM SAs open their packets with on this machine, for the log.
    pub fn openers(&self) -> &'static str {
        if gcm::vaes::supported() {
            "AES-GCM packets opened with rri's AES-GCM on VAES and VPCLMULQDQ"
        } else {
            "AES-GCM packets opened with ring (this CPU has no VAES and VPCLMULQDQ)"
        }
    }
}

impl SaCrypto for GcmEngines {
    /// `sa` sealing its bursts on the crypto device when there is one and the SA is AES-GCM;
    /// `sa` unchanged otherwise (or if the device refuses the session).
    fn outbound(&self, sa: OutboundSa, params: &SaParams) -> OutboundSa {
        let Some(dev) = self.device.as_ref() else {
            return sa;
        };
        if !matches!(
            params.transform,
            Transform::AesGcm128 | Transform::AesGcm256
        ) {
            return sa;
        }
        let aad_len = if params.esn { 12 } else { 8 };
        match device_sealer(dev, self.direct, &params.key, aad_len) {
            Ok(seal) => sa.with_burst_seal(Arc::new(seal.with_plan(self.plan))),
            Err(_) => sa,
        }
    }

    /// `sa` opening its packets with rri's AES-GCM on VAES ([`VaesOpen`]) when it is AES-GCM
    /// and the CPU has VAES and VPCLMULQDQ; `sa` unchanged (opening with ring) otherwise.
    /// Unlike sealing this needs no crypto device: the engine is rri's own CPU code, which
    /// opened packets of every size in less time than ring here (see perf/RESULTS.md).
    fn inbound(&self, sa: InboundSa, params: &SaParams) -> InboundSa {
        if !matches!(
            params.transform,
            Transform::AesGcm128 | Transform::AesGcm256
        ) {
            return sa;
        }
        match VaesGcm::new(&params.key) {
            Ok(gcm) => sa.with_packet_open(Arc::new(VaesOpen(gcm))),
            Err(_) => sa,
        }
    }
}

/// Times the engines (the device or its library called directly, the VAES code where the CPU
/// has it, ring) on bursts of 32 plaintexts of several sizes (AES-128, the median of 9
/// interleaved rounds of 100 bursts each, a fraction of a second in all) and returns the plan:
/// for each size, from that size up to the next, the fastest engine, or the device when it is
/// within 5 % of the fastest (where engines are within the noise, the operator's stays).
///
/// Every engine goes through [`GcmBurstSeal::seal_burst`] with the same jobs, one sealer per
/// engine with a uniform plan, so that what is compared is what the data plane would run.
/// (Timing ring's bare call against the device behind the burst glue chose ring for 64-byte
/// plaintexts in about half of the starts on a host where ring's bare call takes 1.27x the
/// device's time at that size.)
fn calibrate(dev: &CryptoDev, direct: bool) -> Plan {
    const SIZES: [usize; 6] = [64, 128, 256, 512, 1024, 1400];
    const BURST: usize = 32;
    const ROUNDS: usize = 9;
    const ENGINES: [Engine; 3] = [Engine::Device, Engine::Vaes, Engine::Ring];
    let key = [0x5au8; 16];
    let sealer = |engine: Engine| {
        device_sealer(dev, direct, &key, 8)
            .ok()
            .filter(|s| engine != Engine::Vaes || s.vaes.is_some())
            .map(|s| s.with_plan(Plan::uniform(engine)))
    };
    let sealers = ENGINES.map(sealer);
    if sealers[0].is_none() {
        return Plan::uniform(Engine::Device);
    }
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
    let mut picks = [Engine::Device; SIZES.len()];
    for (pick, &size) in picks.iter_mut().zip(&SIZES) {
        let mut buffers = vec![vec![0u8; size + GCM_TAG_LEN]; BURST];
        let mut times = [[f64::INFINITY; ROUNDS]; ENGINES.len()];
        for round in 0..ROUNDS {
            for (sealer, times) in sealers.iter().zip(&mut times) {
                if let Some(sealer) = sealer {
                    times[round] = time(sealer, &mut buffers, size);
                }
            }
        }
        let medians = times.map(|mut t| {
            t.sort_by(f64::total_cmp);
            t[ROUNDS / 2]
        });
        let mut best = 0;
        for (i, median) in medians.iter().enumerate() {
            if *median < medians[best] {
                best = i;
            }
        }
        if medians[0] > medians[best] * 1.05 {
            *pick = ENGINES[best];
        }
    }
    // The first size's engine from 0 on, each other's from its size.
    let mut plan = Plan::uniform(picks[0]);
    for (&size, &engine) in SIZES.iter().zip(&picks).skip(1) {
        plan.push(size, engine);
    }
    plan
}

/// A sealer whose device engine is `dev`, or its library called directly when `direct`.
fn device_sealer(
    dev: &CryptoDev,
    direct: bool,
    key: &[u8],
    aad_len: usize,
) -> Result<GcmBurstSeal, DpdkError> {
    if direct {
        GcmBurstSeal::direct(key, aad_len)
    } else {
        GcmBurstSeal::new(dev, key, aad_len)
    }
}

/// ESP packet opening ([`esp::PacketOpen`]) on rri's AES-GCM on VAES.
#[derive(Debug)]
pub struct VaesOpen(pub VaesGcm);

impl PacketOpen for VaesOpen {
    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &mut [u8],
        icv: &[u8; GCM_TAG_LEN],
    ) -> bool {
        self.0.open_in_place(ciphertext, nonce, aad, icv)
    }
}

/// AES-GCM burst sealing on the engines of a [`Plan`]: the crypto device (or its library
/// called directly), the VAES code, ring.
pub struct GcmBurstSeal {
    device: DeviceEngine,
    vaes: Option<VaesGcm>,
    ring: LessSafeKey,
    plan: Plan,
}

/// The device's side of a sealer.
#[derive(Debug)]
enum DeviceEngine {
    Session(GcmSession),
    Direct(ImbGcm),
}

impl std::fmt::Debug for GcmBurstSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmBurstSeal")
            .field("device", &self.device)
            .field("vaes", &self.vaes.is_some())
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl GcmBurstSeal {
    /// A sealer for a 16- or 32-byte AES key and AAD of `aad_len` bytes, on the device for
    /// every length until [`GcmBurstSeal::with_plan`].
    ///
    /// # Errors
    /// When the device refuses the session (key length, AAD length, no room).
    pub fn new(dev: &CryptoDev, key: &[u8], aad_len: usize) -> Result<Self, DpdkError> {
        let session = GcmSession::new(dev, key, aad_len, GcmDirection::Seal)?;
        Self::with_device(DeviceEngine::Session(session), key)
    }

    /// A sealer calling intel-ipsec-mb directly as its device engine, for a 16- or 32-byte
    /// AES key and AAD of `aad_len` bytes (8, or 12 with extended sequence numbers).
    ///
    /// # Errors
    /// For another key or AAD length, or when the library cannot be set up.
    pub fn direct(key: &[u8], aad_len: usize) -> Result<Self, DpdkError> {
        if !matches!(aad_len, 8 | 12) {
            return Err(DpdkError::new("intel-ipsec-mb AAD length", EINVAL));
        }
        let imb = ImbGcm::new(key).map_err(|e| DpdkError::new(gcm_error(e), EINVAL))?;
        Self::with_device(DeviceEngine::Direct(imb), key)
    }

    fn with_device(device: DeviceEngine, key: &[u8]) -> Result<Self, DpdkError> {
        let algorithm = if key.len() == 32 {
            &AES_256_GCM
        } else {
            &AES_128_GCM
        };
        // The device took the key, so it is 16 or 32 bytes, which ring takes too.
        let ring = UnboundKey::new(algorithm, key)
            .map_err(|_| DpdkError::new("ring AES-GCM key", EINVAL))?;
        Ok(GcmBurstSeal {
            device,
            vaes: VaesGcm::new(key).ok(),
            ring: LessSafeKey::new(ring),
            plan: Plan::uniform(Engine::Device),
        })
    }

    /// The same sealer, following `plan`; on a CPU without VAES its VAES steps go to the
    /// device, decided here rather than per packet.
    pub fn with_plan(mut self, plan: Plan) -> Self {
        self.plan = if self.vaes.is_some() {
            plan
        } else {
            plan.replacing(Engine::Vaes, Engine::Device)
        };
        self
    }

    /// Whether this CPU runs the VAES engine (a plan's [`Engine::Vaes`] steps go to the device
    /// where it does not).
    pub fn has_vaes(&self) -> bool {
        self.vaes.is_some()
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

    /// Seals one job on an engine that takes one packet per call; `false` for the device
    /// session (which takes bursts) and for a job it cannot seal (the ICV slot must be 16
    /// bytes).
    #[inline]
    fn seal_one(&self, engine: Engine, job: &mut SealJob<'_>) -> bool {
        if engine == Engine::Ring {
            return self.seal_with_ring(job);
        }
        let Ok(tag) = <&mut [u8; GCM_TAG_LEN]>::try_from(&mut *job.icv) else {
            return false;
        };
        let aad = &job.aad[..job.aad_len.min(job.aad.len())];
        match (&self.vaes, &self.device) {
            (Some(vaes), _) if engine == Engine::Vaes => {
                vaes.seal_in_place(job.plaintext, &job.nonce, aad, tag);
                true
            }
            (_, DeviceEngine::Direct(imb)) => {
                imb.seal_in_place(job.plaintext, &job.nonce, aad, tag);
                true
            }
            (_, DeviceEngine::Session(_)) => false,
        }
    }
}

/// Asks for the next job's bytes, for writing, while this one is sealed. A packet's payload
/// was written by whoever sent it (a NIC, or a memif peer on another core) and is seldom in
/// this core's caches; fetched line by line as the cipher reaches it, each line would cross
/// twice (read, then taken over for the in-place write) and stall the cipher each time.
#[inline(always)]
fn prefetch_job(job: Option<&SealJob<'_>>) {
    if let Some(job) = job {
        prefetch_for_write(job.plaintext);
        prefetch_for_write(job.icv);
    }
}

/// EINVAL: an invalid argument.
const EINVAL: i32 = 22;

/// What a `gcm` error is about, for a [`DpdkError`]'s context.
fn gcm_error(e: gcm::Error) -> &'static str {
    match e {
        gcm::Error::KeyLength(_) => "intel-ipsec-mb AES-GCM key length",
        gcm::Error::Unsupported(what) | gcm::Error::NoMemory(what) => what,
    }
}

impl BurstSeal for GcmBurstSeal {
    fn seal_burst(&self, jobs: &mut [SealJob<'_>], ok: &mut [bool]) {
        let n = jobs.len().min(ok.len());
        let (jobs, ok) = (&mut jobs[..n], &mut ok[..n]);
        let session = match &self.device {
            DeviceEngine::Session(session) => session,
            DeviceEngine::Direct(_) => {
                for i in 0..n {
                    prefetch_job(jobs.get(i + 1));
                    let job = &mut jobs[i];
                    ok[i] = self.seal_one(self.plan.engine_for(job.plaintext.len()), job);
                }
                return;
            }
        };
        // The jobs for the per-packet engines first; the rest go to the device where they
        // lie, their IVs, AADs and ICV slots handed over as they are.
        let all_device = self.plan.steps() == [(0, Engine::Device)];
        if !all_device {
            for i in 0..n {
                let engine = self.plan.engine_for(jobs[i].plaintext.len());
                if engine != Engine::Device {
                    prefetch_job(jobs.get(i + 1));
                    ok[i] = self.seal_one(engine, &mut jobs[i]);
                }
            }
        }
        session.process_in_place(jobs, ok, |job| {
            (all_device || self.plan.engine_for(job.plaintext.len()) == Engine::Device).then(|| {
                GcmInPlace {
                    data: &mut *job.plaintext,
                    iv: &job.nonce,
                    aad: &job.aad[..job.aad_len.min(job.aad.len())],
                    tag: &mut *job.icv,
                }
            })
        });
    }
}
