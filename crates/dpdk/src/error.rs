//! Errors of the DPDK layer: the failing call, DPDK's errno and its message.

use std::ffi::{c_char, CStr};

use crate::sys;

/// A DPDK call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message} (errno {errno})")]
pub struct DpdkError {
    /// What was being done, e.g. `rte_eth_dev_configure(port 0)`.
    pub operation: String,
    /// The positive errno DPDK reported.
    pub errno: i32,
    /// DPDK's text for that errno (`rte_strerror`).
    pub message: String,
}

impl DpdkError {
    /// An error for `operation` with `errno` (sign ignored: DPDK returns both conventions).
    #[cold]
    pub fn new(operation: impl Into<String>, errno: i32) -> Self {
        let errno = errno.abs();
        DpdkError {
            operation: operation.into(),
            errno,
            message: strerror(errno),
        }
    }

    /// An error for `operation` with the calling thread's `rte_errno`.
    #[cold]
    pub fn from_rte_errno(operation: impl Into<String>) -> Self {
        Self::new(operation, rte_errno())
    }
}

/// Why the EAL could not be initialised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EalError {
    /// `rte_eal_init` was already called in this process (successfully or not); DPDK cannot
    /// initialise twice.
    #[error("the EAL was already initialised in this process (it can be initialised once)")]
    AlreadyInitialized,
    /// An argument held a NUL byte and cannot be passed to C.
    #[error("EAL argument {0:?} contains a NUL byte")]
    NulInArgument(String),
    /// The EAL started but a device named on the command line did not come up (DPDK only
    /// logs a failed probe); the EAL was cleaned up again.
    #[error("device {device} did not come up{}", render_log(.log))]
    DeviceNotProbed {
        /// The device name, as given to `--vdev`.
        device: String,
        /// What the EAL logged about it.
        log: Vec<String>,
    },
    /// `rte_eal_init` failed.
    #[error("EAL initialisation failed: {message} (errno {errno}){}", render_log(.log))]
    Init {
        /// The positive errno (`rte_errno`).
        errno: i32,
        /// DPDK's text for it.
        message: String,
        /// What the EAL logged while it failed: the lines that name the device or option.
        log: Vec<String>,
    },
}

fn render_log(log: &[String]) -> String {
    let mut out = String::new();
    for line in log {
        out.push_str("\n  ");
        out.push_str(line);
    }
    out
}

/// The calling thread's `rte_errno`.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: rri_rte_errno reads DPDK's thread-local errno; no preconditions.
    unsafe { sys::rri_rte_errno() }
}

pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a NUL-terminated string (static, or in a
    // thread-local buffer that stays valid until the next call on this thread).
    let ptr = unsafe { sys::rte_strerror(errno) };
    c_string(ptr)
}

/// Copies a C string DPDK returned; a null pointer gives an empty string.
pub(crate) fn c_string(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: callers pass pointers DPDK documents as NUL-terminated strings that stay valid
    // for the duration of this call.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}
