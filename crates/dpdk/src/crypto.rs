//! AES-GCM through DPDK's synchronous CPU crypto API (`rte_cryptodev_sym_cpu_crypto_process`)
//! on a software crypto device such as `crypto_aesni_gcm` (intel-ipsec-mb): a burst of AEAD
//! operations in one call, in place, with no crypto ops, queue pairs or mbufs.
//!
//! Contract: a [`CryptoDev`] is a configured device that supports CPU crypto; a
//! [`GcmSession`] holds one key, one direction and one AAD length. [`GcmSession::process`]
//! seals (plaintext becomes ciphertext and the tag is written) or opens (ciphertext becomes
//! plaintext when the tag verifies) every job of a burst and says which succeeded. A session
//! may be used from several threads at once: the PMD keeps the per-operation GCM state on the
//! calling thread's stack and reads the session only (DPDK 22.11,
//! `drivers/crypto/ipsec_mb/pmd_aesni_gcm.c`, `aesni_gcm_process_bulk`).

use std::ffi::{c_void, CString};
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::error::DpdkError;
use crate::{sys, Eal};

/// Jobs handed to the device in one call at most.
pub const MAX_GCM_BURST: usize = 64;
/// GCM's nonce (salt and explicit IV) length.
pub const GCM_IV_LEN: usize = 12;
/// GCM's tag length.
pub const GCM_TAG_LEN: usize = 16;
/// The longest AAD a session takes (ESP with extended sequence numbers uses 12).
pub const MAX_AAD_LEN: usize = 16;

static POOL_SEQ: AtomicU32 = AtomicU32::new(0);

#[derive(Debug)]
struct DevInner {
    id: u8,
    sessions: NonNull<sys::rte_mempool>,
    _eal: Eal,
}

// SAFETY: the device id is plain data and the session mempool is a DPDK mempool, whose get
// and put are thread-safe (multi-producer/multi-consumer by default).
unsafe impl Send for DevInner {}
// SAFETY: as above; nothing in DevInner is mutated after construction.
unsafe impl Sync for DevInner {}

impl Drop for DevInner {
    fn drop(&mut self) {
        // SAFETY: every session made from the pool holds an Arc of this value, so none is
        // left; the pool was created by rte_cryptodev_sym_session_pool_create.
        unsafe { sys::rte_mempool_free(self.sessions.as_ptr()) };
        // SAFETY: the device was started by CryptoDev::open and is stopped once, here.
        unsafe { sys::rte_cryptodev_stop(self.id) };
    }
}

/// A crypto device set up for CPU crypto sessions.
#[derive(Debug, Clone)]
pub struct CryptoDev {
    inner: Arc<DevInner>,
}

/// Which way a session works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcmDirection {
    /// Encrypt and write the tag.
    Seal,
    /// Check the tag and decrypt.
    Open,
}

/// One AEAD operation on buffers the caller keeps: `data` is sealed or opened in place, the
/// tag written to or read from `tag` (16 bytes); `aad` holds at least the session's AAD
/// length.
#[derive(Debug)]
pub struct GcmInPlace<'a> {
    pub data: &'a mut [u8],
    pub iv: &'a [u8; GCM_IV_LEN],
    pub aad: &'a [u8],
    pub tag: &'a mut [u8],
}

/// One AEAD operation of a burst: `data` is sealed or opened in place.
#[derive(Debug, Default)]
pub struct GcmJob<'a> {
    /// Plaintext to seal, or ciphertext to open.
    pub data: &'a mut [u8],
    /// Salt and explicit IV.
    pub iv: [u8; GCM_IV_LEN],
    /// The AAD; the session's AAD length of it is used.
    pub aad: [u8; MAX_AAD_LEN],
    /// The tag written when sealing, the tag checked when opening.
    pub tag: [u8; GCM_TAG_LEN],
}

impl CryptoDev {
    /// Opens the crypto device `name` (made with `--vdev`, e.g. `crypto_aesni_gcm`),
    /// configures and starts it, with a pool for up to `max_sessions` sessions.
    ///
    /// # Errors
    /// When the device does not exist, lacks CPU crypto, or cannot be set up.
    pub fn open(eal: &Eal, name: &str, max_sessions: u32) -> Result<CryptoDev, DpdkError> {
        let c_name = CString::new(name).map_err(|_| DpdkError::new("device name", -22))?;
        // SAFETY: the EAL is initialised (we hold it); the name is a valid C string.
        let id = unsafe { sys::rte_cryptodev_get_dev_id(c_name.as_ptr()) };
        let id = u8::try_from(id).map_err(|_| DpdkError::new("rte_cryptodev_get_dev_id", -19))?;
        // SAFETY: an all-zero rte_cryptodev_info is a valid value to be filled in.
        let mut info: sys::rte_cryptodev_info = unsafe { std::mem::zeroed() };
        // SAFETY: id names an existing device; info is a valid, writable struct.
        unsafe { sys::rte_cryptodev_info_get(id, &mut info) };
        if info.feature_flags & u64::from(sys::RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO) == 0 {
            return Err(DpdkError::new(
                "CPU crypto (not offered by the device)",
                -95,
            ));
        }
        let mut conf = sys::rte_cryptodev_config {
            socket_id: eal.socket_id(),
            nb_queue_pairs: 1,
            ff_disable: 0,
        };
        // SAFETY: the device exists and is not started; conf is valid for the call.
        let ret = unsafe { sys::rte_cryptodev_configure(id, &mut conf) };
        if ret < 0 {
            return Err(DpdkError::new("rte_cryptodev_configure", ret));
        }
        // SAFETY: the device exists and is configured.
        let ret = unsafe { sys::rte_cryptodev_start(id) };
        if ret < 0 {
            return Err(DpdkError::new("rte_cryptodev_start", ret));
        }
        // SAFETY: the device exists.
        let session_size = unsafe { sys::rte_cryptodev_sym_get_private_session_size(id) };
        let pool_name = CString::new(format!(
            "rri_csess_{}",
            POOL_SEQ.fetch_add(1, Ordering::Relaxed)
        ))
        .expect("no NUL in a generated name");
        // SAFETY: the EAL is initialised; the name is valid for the call and copied.
        let pool = unsafe {
            sys::rte_cryptodev_sym_session_pool_create(
                pool_name.as_ptr(),
                max_sessions.max(1),
                session_size,
                0,
                0,
                eal.socket_id(),
            )
        };
        let Some(sessions) = NonNull::new(pool) else {
            // SAFETY: started above, stopped once on this error path.
            unsafe { sys::rte_cryptodev_stop(id) };
            return Err(DpdkError::from_rte_errno(
                "rte_cryptodev_sym_session_pool_create",
            ));
        };
        Ok(CryptoDev {
            inner: Arc::new(DevInner {
                id,
                sessions,
                _eal: eal.clone(),
            }),
        })
    }

    /// The device id.
    pub fn id(&self) -> u8 {
        self.inner.id
    }
}

/// An AES-GCM session: one key, one direction, one AAD length.
#[derive(Debug)]
pub struct GcmSession {
    session: NonNull<c_void>,
    aad_len: usize,
    direction: GcmDirection,
    dev: Arc<DevInner>,
}

// SAFETY: the session is an opaque DPDK object owned by this value; see the module
// documentation for why processing through a shared reference is safe.
unsafe impl Send for GcmSession {}
// SAFETY: process() only reads the session (the PMD keeps per-call state on the stack).
unsafe impl Sync for GcmSession {}

impl Drop for GcmSession {
    fn drop(&mut self) {
        // SAFETY: the session was made on this device from its pool and is freed once; the
        // device outlives it (we hold its Arc).
        unsafe { sys::rte_cryptodev_sym_session_free(self.dev.id, self.session.as_ptr()) };
    }
}

impl GcmSession {
    /// A session for a 16- or 32-byte AES key, AAD of `aad_len` bytes (at most
    /// [`MAX_AAD_LEN`]) and 16-byte tags.
    ///
    /// # Errors
    /// For another key or AAD length, or when the device refuses the session.
    pub fn new(
        dev: &CryptoDev,
        key: &[u8],
        aad_len: usize,
        direction: GcmDirection,
    ) -> Result<GcmSession, DpdkError> {
        if !matches!(key.len(), 16 | 32) || aad_len > MAX_AAD_LEN {
            return Err(DpdkError::new("AES-GCM key or AAD length", -22));
        }
        // SAFETY: an all-zero xform is a valid starting value (null next, zero lengths).
        let mut xform: sys::rte_crypto_sym_xform = unsafe { std::mem::zeroed() };
        xform.type_ = sys::RTE_CRYPTO_SYM_XFORM_AEAD;
        xform.__bindgen_anon_1.aead = sys::rte_crypto_aead_xform {
            op: match direction {
                GcmDirection::Seal => sys::RTE_CRYPTO_AEAD_OP_ENCRYPT,
                GcmDirection::Open => sys::RTE_CRYPTO_AEAD_OP_DECRYPT,
            },
            algo: sys::RTE_CRYPTO_AEAD_AES_GCM,
            key: sys::rte_crypto_aead_xform__bindgen_ty_1 {
                data: key.as_ptr(),
                length: key.len() as u16,
            },
            iv: sys::rte_crypto_aead_xform__bindgen_ty_2 {
                offset: 0,
                length: GCM_IV_LEN as u16,
            },
            digest_length: GCM_TAG_LEN as u16,
            aad_length: aad_len as u16,
        };
        // SAFETY: the device is configured and started; xform and the key it points to are
        // valid for the call (the PMD expands the key into the session); the pool is the
        // device's session pool.
        let session = unsafe {
            sys::rte_cryptodev_sym_session_create(
                dev.inner.id,
                &mut xform,
                dev.inner.sessions.as_ptr(),
            )
        };
        let session = NonNull::new(session)
            .ok_or_else(|| DpdkError::from_rte_errno("rte_cryptodev_sym_session_create"))?;
        Ok(GcmSession {
            session,
            aad_len,
            direction,
            dev: dev.inner.clone(),
        })
    }

    /// The AAD length the session was made for.
    pub fn aad_len(&self) -> usize {
        self.aad_len
    }

    /// Which way the session works.
    pub fn direction(&self) -> GcmDirection {
        self.direction
    }

    /// Seals or opens every job (at most [`MAX_GCM_BURST`]; more are not touched and count as
    /// failed), writing whether each succeeded into `ok`. Returns how many did. A job that
    /// fails to open (wrong tag) leaves its data unspecified.
    ///
    /// # Panics
    /// If `ok` is shorter than `jobs`.
    pub fn process(&self, jobs: &mut [GcmJob<'_>], ok: &mut [bool]) -> usize {
        assert!(ok.len() >= jobs.len(), "one result per job");
        let n = jobs.len().min(MAX_GCM_BURST);
        ok[n..jobs.len()].fill(false);
        self.process_in_place(&mut jobs[..n], &mut ok[..n], |job| {
            Some(GcmInPlace {
                data: &mut *job.data,
                iv: &job.iv,
                aad: &job.aad,
                tag: &mut job.tag,
            })
        })
    }

    /// Seals or opens the buffers that `view` finds in `items`, where they are (no copies
    /// of IVs, AADs or tags): `view` gives an item's [`GcmInPlace`], or `None` to leave it
    /// out (its `ok` is not touched). One device call per [`MAX_GCM_BURST`] jobs. A job whose
    /// AAD is shorter than the session's AAD length or whose tag is not [`GCM_TAG_LEN`] bytes
    /// is not run and fails. Writes whether each job succeeded into `ok` (indexed like
    /// `items`); returns how many did.
    ///
    /// # Panics
    /// If `ok` is shorter than `items`.
    pub fn process_in_place<T>(
        &self,
        items: &mut [T],
        ok: &mut [bool],
        mut view: impl for<'j> FnMut(&'j mut T) -> Option<GcmInPlace<'j>>,
    ) -> usize {
        assert!(ok.len() >= items.len(), "one result per item");
        let mut call = CallVectors::new();
        let mut done = 0;
        for (i, item) in items.iter_mut().enumerate() {
            let Some(job) = view(item) else {
                continue;
            };
            if job.aad.len() < self.aad_len || job.tag.len() != GCM_TAG_LEN {
                ok[i] = false;
                continue;
            }
            call.push(i, job);
            if call.queued == MAX_GCM_BURST {
                done += call.submit(self, ok);
            }
        }
        if call.queued > 0 {
            done += call.submit(self, ok);
        }
        done
    }
}

/// The vectors of one `rte_cryptodev_sym_cpu_crypto_process` call, filled job by job. Only the
/// first `queued` entries are written and read: the arrays stay uninitialised beyond (zeroing
/// all of each was a memset of some 5 KB per call).
struct CallVectors {
    vecs: [MaybeUninit<sys::rte_crypto_vec>; MAX_GCM_BURST],
    sgls: [MaybeUninit<sys::rte_crypto_sgl>; MAX_GCM_BURST],
    ivs: [MaybeUninit<sys::rte_crypto_va_iova_ptr>; MAX_GCM_BURST],
    digests: [MaybeUninit<sys::rte_crypto_va_iova_ptr>; MAX_GCM_BURST],
    aads: [MaybeUninit<sys::rte_crypto_va_iova_ptr>; MAX_GCM_BURST],
    /// Each queued job's index among the caller's items.
    slots: [MaybeUninit<usize>; MAX_GCM_BURST],
    queued: usize,
}

impl CallVectors {
    fn new() -> Self {
        CallVectors {
            vecs: [MaybeUninit::uninit(); MAX_GCM_BURST],
            sgls: [MaybeUninit::uninit(); MAX_GCM_BURST],
            ivs: [MaybeUninit::uninit(); MAX_GCM_BURST],
            digests: [MaybeUninit::uninit(); MAX_GCM_BURST],
            aads: [MaybeUninit::uninit(); MAX_GCM_BURST],
            slots: [MaybeUninit::uninit(); MAX_GCM_BURST],
            queued: 0,
        }
    }

    /// Queues `job`, item `slot` of the caller's; the caller submits when `queued` reaches
    /// [`MAX_GCM_BURST`].
    fn push(&mut self, slot: usize, job: GcmInPlace<'_>) {
        let k = self.queued;
        let va = |va: *const u8| sys::rte_crypto_va_iova_ptr {
            va: va.cast_mut().cast(),
            iova: 0,
        };
        let vec = self.vecs[k].write(sys::rte_crypto_vec {
            base: job.data.as_mut_ptr().cast(),
            iova: 0,
            len: job.data.len() as u32,
            tot_len: job.data.len() as u32,
        });
        self.sgls[k].write(sys::rte_crypto_sgl { vec, num: 1 });
        self.ivs[k].write(va(job.iv.as_ptr()));
        self.digests[k].write(va(job.tag.as_mut_ptr()));
        self.aads[k].write(va(job.aad.as_ptr()));
        self.slots[k].write(slot);
        self.queued += 1;
    }

    /// Runs the queued jobs in one device call on `session`, writes each one's outcome to `ok`
    /// at its slot and empties the queue; returns how many succeeded.
    fn submit(&mut self, session: &GcmSession, ok: &mut [bool]) -> usize {
        let n = self.queued;
        self.queued = 0;
        // Written by the device for each of the `n` jobs; set to a failure first so that a
        // job it skipped does not count as sealed.
        let mut status = [MaybeUninit::<i32>::uninit(); MAX_GCM_BURST];
        for s in &mut status[..n] {
            s.write(-1);
        }
        let mut sym = sys::rte_crypto_sym_vec {
            num: n as u32,
            src_sgl: self.sgls.as_mut_ptr().cast(),
            dest_sgl: std::ptr::null_mut(),
            iv: self.ivs.as_mut_ptr().cast(),
            digest: self.digests.as_mut_ptr().cast(),
            __bindgen_anon_1: sys::rte_crypto_sym_vec__bindgen_ty_1 {
                aad: self.aads.as_mut_ptr().cast(),
            },
            status: status.as_mut_ptr().cast(),
        };
        // SAFETY: an all-zero offset union means no head or tail to skip.
        let ofs: sys::rte_crypto_sym_ofs = unsafe { std::mem::zeroed() };
        // SAFETY: the session belongs to its device; the arrays' first `n` entries, the only
        // ones DPDK reads for `num` = `n`, were written by push (each sgl points at its vec in
        // this same, unmoved value) and point into buffers the jobs borrow from the caller's
        // items, which stay borrowed and untouched until the call returns (the call is
        // synchronous); data slices are exclusive (in place, no destination); IVs are
        // GCM_IV_LEN bytes, tags GCM_TAG_LEN and AADs at least the session's AAD length
        // (process_in_place checked both). DPDK only reads the IV and AAD, so pointers derived
        // from shared references passed as `void *` are never written through.
        unsafe {
            sys::rte_cryptodev_sym_cpu_crypto_process(
                session.dev.id,
                session.session.as_ptr(),
                ofs,
                &mut sym,
            )
        };
        let mut done = 0;
        for (slot, status) in self.slots[..n].iter().zip(&status[..n]) {
            // SAFETY: push wrote the first `n` slots; the first `n` statuses were written
            // above (and perhaps again by the device).
            let (slot, sealed) = unsafe { (slot.assume_init(), status.assume_init() == 0) };
            ok[slot] = sealed;
            done += usize::from(sealed);
        }
        done
    }
}
