//! AES-GCM sealing with intel-ipsec-mb called directly: the library DPDK's `crypto_aesni_gcm`
//! device runs, without the device around it.
//!
//! Through the device, each packet is a `rte_crypto_sym_vec` entry that the driver checks and
//! turns into three library calls (init, update, finalize); here it is one call
//! (`IMB_AES*_GCM_ENC`) on the caller's buffers. Measured with callgrind on the benchmark daemon
//! sealing 64-byte packets, the device's glue was about 130 instructions per packet of the 1,600
//! the worker spent in all.
//!
//! Contract: one [`ImbGcm`] per key (AES-128 or AES-256); sealing and opening are in place
//! with a 12-byte IV and a 16-byte tag; the nonce discipline is the caller's. Opening
//! deciphers before it compares the tag (in constant time); on a mismatch it overwrites the
//! deciphered bytes with zeros before it returns. The library's manager is made
//! once per process and only read afterwards (the direct GCM API keeps its per-call state in
//! a context on the caller's stack), so one key may seal on several threads at once.

use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::OnceLock;

use ipsec_mb_sys as sys;

use crate::Error;

/// intel-ipsec-mb's manager: function pointers chosen for this CPU at initialisation.
struct Manager(NonNull<sys::ImbMgr>);

// SAFETY: after `init_mb_mgr_auto` the manager is only read (its function pointers) by the
// GCM calls made here, which keep all per-call state on the caller's stack; it is never freed
// (it lives as long as the process).
unsafe impl Send for Manager {}
// SAFETY: as above: shared reads of an initialised, never-mutated manager.
unsafe impl Sync for Manager {}

static MANAGER: OnceLock<Option<Manager>> = OnceLock::new();

fn manager() -> Option<&'static Manager> {
    MANAGER
        .get_or_init(|| {
            // SAFETY: no preconditions; returns NULL on allocation failure.
            NonNull::new(unsafe { sys::rri_imb_mgr_new() }).map(Manager)
        })
        .as_ref()
}

/// The library's version, e.g. `1.3.0`.
pub fn version() -> String {
    // SAFETY: returns a pointer to a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(sys::rri_imb_version()) };
    text.to_string_lossy().into_owned()
}

/// An AES-GCM key expanded for intel-ipsec-mb.
pub struct ImbGcm {
    manager: &'static Manager,
    key: NonNull<sys::GcmKeyData>,
    key_len: i32,
}

// SAFETY: the key schedule is written once in `new` and only read afterwards; the manager is
// Sync (see above).
unsafe impl Send for ImbGcm {}
// SAFETY: as above.
unsafe impl Sync for ImbGcm {}

impl std::fmt::Debug for ImbGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImbGcm")
            .field("key_bits", &(self.key_len * 8))
            .finish_non_exhaustive()
    }
}

impl ImbGcm {
    /// Expands a 16- or 32-byte AES key.
    ///
    /// # Errors
    /// [`Error::KeyLength`] for another key length; [`Error::NoMemory`] when the library's
    /// manager or the key schedule cannot be allocated.
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        let key_len = match key.len() {
            16 => 16,
            32 => 32,
            n => return Err(Error::KeyLength(n)),
        };
        let manager = manager().ok_or(Error::NoMemory("intel-ipsec-mb manager"))?;
        // SAFETY: the manager is initialised; `key` points at `key_len` readable bytes; the
        // shim allocates the schedule (64-byte aligned) and returns NULL on failure.
        let schedule =
            unsafe { sys::rri_imb_gcm_key_new(manager.0.as_ptr(), key.as_ptr(), key_len) };
        let key = NonNull::new(schedule).ok_or(Error::NoMemory("intel-ipsec-mb AES-GCM key"))?;
        Ok(ImbGcm {
            manager,
            key,
            key_len,
        })
    }

    /// Seals `data` in place and writes the tag.
    #[inline]
    pub fn seal_in_place(&self, data: &mut [u8], iv: &[u8; 12], aad: &[u8], tag: &mut [u8; 16]) {
        self.crypt(sys::rri_imb_gcm_seal, data, iv, aad, tag);
    }

    /// Opens `data` in place: deciphers it and returns whether `tag` is right. On `false`
    /// `data` holds zeros: the deciphered bytes were not authentic and are not released.
    #[inline]
    #[must_use]
    pub fn open_in_place(
        &self,
        data: &mut [u8],
        iv: &[u8; 12],
        aad: &[u8],
        tag: &[u8; 16],
    ) -> bool {
        let mut computed = [0u8; 16];
        self.crypt(sys::rri_imb_gcm_open, data, iv, aad, &mut computed);
        if bool::from(subtle::ConstantTimeEq::ct_eq(&computed[..], &tag[..])) {
            return true;
        }
        data.fill(0);
        false
    }

    /// One call of the shim `f` (seal, or open's decipher-and-compute-the-tag) on `data` in
    /// place, writing a 16-byte tag to `tag`.
    #[inline(always)]
    fn crypt(&self, f: ShimCall, data: &mut [u8], iv: &[u8; 12], aad: &[u8], tag: &mut [u8; 16]) {
        // SAFETY: `f` is one of the shim's two GCM calls, which share this contract: the
        // manager and key schedule are initialised and outlive the call; `data` is `len`
        // writable bytes processed in place (source and destination the same buffer, which
        // the library allows); `iv` is the 12 bytes the GCM API reads, `aad` its `aad_len`
        // bytes, `tag` the 16 bytes the shim writes; the call is synchronous and keeps no
        // pointer.
        unsafe {
            f(
                self.manager.0.as_ptr(),
                self.key.as_ptr(),
                self.key_len,
                data.as_mut_ptr(),
                data.len() as u64,
                iv.as_ptr(),
                aad.as_ptr(),
                aad.len() as u64,
                tag.as_mut_ptr(),
            );
        }
    }
}

/// The signature `rri_imb_gcm_seal` and `rri_imb_gcm_open` share.
type ShimCall = unsafe extern "C" fn(
    *mut sys::ImbMgr,
    *const sys::GcmKeyData,
    i32,
    *mut u8,
    u64,
    *const u8,
    *const u8,
    u64,
    *mut u8,
);

impl Drop for ImbGcm {
    fn drop(&mut self) {
        // SAFETY: allocated by rri_imb_gcm_key_new and not used after this; the shim clears
        // the key material before freeing it.
        unsafe { sys::rri_imb_gcm_key_free(self.key.as_ptr()) };
    }
}
