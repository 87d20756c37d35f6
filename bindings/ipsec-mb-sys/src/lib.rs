//! Raw FFI to the AES-GCM shims in `shim.c` over intel-ipsec-mb. The manager and the key
//! schedule are opaque: Rust only ever holds the pointers the shims hand out. The safe layer
//! is `gcm::ImbGcm`.

#![no_std]

/// intel-ipsec-mb's manager (`IMB_MGR`): function pointers chosen for this CPU.
#[repr(C)]
#[derive(Debug)]
pub struct ImbMgr {
    _private: [u8; 0],
}

/// An expanded AES-GCM key (`struct gcm_key_data`).
#[repr(C)]
#[derive(Debug)]
pub struct GcmKeyData {
    _private: [u8; 0],
}

extern "C" {
    /// A manager initialised for this CPU, or NULL when it cannot be allocated.
    pub fn rri_imb_mgr_new() -> *mut ImbMgr;
    /// The library's version, a static NUL-terminated string.
    pub fn rri_imb_version() -> *const core::ffi::c_char;
    /// The schedule for a `key_len`-byte key (16 or 32) at `key`; NULL for another length or
    /// when it cannot be allocated.
    pub fn rri_imb_gcm_key_new(mgr: *mut ImbMgr, key: *const u8, key_len: i32) -> *mut GcmKeyData;
    /// Clears and frees a schedule from `rri_imb_gcm_key_new` (NULL is ignored).
    pub fn rri_imb_gcm_key_free(data: *mut GcmKeyData);
    /// Seals `len` bytes at `data` in place; reads a 12-byte IV and `aad_len` bytes of AAD;
    /// writes a 16-byte tag.
    pub fn rri_imb_gcm_seal(
        mgr: *mut ImbMgr,
        key: *const GcmKeyData,
        key_len: i32,
        data: *mut u8,
        len: u64,
        iv: *const u8,
        aad: *const u8,
        aad_len: u64,
        tag: *mut u8,
    );
    /// Deciphers `len` bytes at `data` in place; writes the 16-byte tag it computes to
    /// `computed`.
    pub fn rri_imb_gcm_open(
        mgr: *mut ImbMgr,
        key: *const GcmKeyData,
        key_len: i32,
        data: *mut u8,
        len: u64,
        iv: *const u8,
        aad: *const u8,
        aad_len: u64,
        computed: *mut u8,
    );
}
