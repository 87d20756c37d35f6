//! A safe layer over DPDK 22.11.
//!
//! This crate and `dpdk-sys` are the only places in rri with `unsafe` code; every unsafe block
//! carries a `SAFETY` comment naming the C contract it relies on. What it offers:
//!
//! - [`Eal`]: EAL initialisation from an argument list (once per process; a second attempt is
//!   an error), lcore launch and join, and cleanup when the last handle is dropped.
//! - [`Mempool`] and the owned [`Mbuf`] (freed on drop, [`pktbuf::PacketBuf`] surface).
//! - [`MbufBurst`]: a fixed-size array of mbufs that receive fills and transmit drains, with
//!   no allocation.
//! - [`CryptoDev`] and [`GcmSession`]: AES-GCM bursts through DPDK's synchronous CPU crypto
//!   API on a software crypto device (intel-ipsec-mb's `crypto_aesni_gcm`). The AES-GCM
//!   engines that need no device (intel-ipsec-mb called directly, rri's VAES code) live in
//!   the `gcm` crate.
//! - [`Port`]: configure, start and stop with N receive and N transmit queues; link, MAC
//!   address and statistics. Queues are handed out as [`RxQueue`] / [`TxQueue`] handles, at
//!   most one per queue, which is what makes `rx_burst`/`tx_burst` safe: DPDK's burst
//!   functions are not thread-safe on one queue, and a handle is the only way to call them.
//!
//! Lifetimes: mempools and ports keep the EAL alive; queue handles keep their port alive. An
//! [`Mbuf`] keeps nothing alive (a reference count per packet would cost the hot path), so a
//! mempool dropped while some of its mbufs are still out is leaked instead of freed, and the
//! EAL then skips `rte_eal_cleanup`, so those mbufs stay valid until the process exits.

mod burst;
mod crypto;
mod eal;
mod error;
mod lcore;
mod lpm;
mod mbuf;
mod mempool;
mod port;
mod prefetch;

pub use burst::MbufBurst;
pub use crypto::{
    CryptoDev, GcmDirection, GcmInPlace, GcmJob, GcmSession, GCM_IV_LEN, GCM_TAG_LEN, MAX_AAD_LEN,
    MAX_GCM_BURST,
};
pub use eal::Eal;
pub use error::{DpdkError, EalError};
pub use lcore::LcoreJoinHandle;
pub use lpm::{RteLpm, LPM_LOOKUP_SUCCESS};
pub use mbuf::Mbuf;
pub use mempool::{Mempool, MempoolConfig};
pub use port::{Link, Port, PortConfig, PortError, PortStats, RxQueue, TxQueue};
pub use prefetch::prefetch_for_write;

/// The raw bindings, for what this layer does not wrap yet.
pub use dpdk_sys as sys;

/// The TSC counter (`rte_rdtsc`): cycles since an arbitrary origin.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: rte_rdtsc reads the time-stamp counter; it has no preconditions.
    unsafe { sys::rte_rdtsc() }
}

/// TSC cycles per second as measured by the EAL; 0 before the EAL is initialised.
pub fn tsc_hz() -> u64 {
    // SAFETY: rte_get_tsc_hz reads a value the EAL set at init (0 before); no preconditions.
    unsafe { sys::rte_get_tsc_hz() }
}

/// The id of the lcore the calling thread runs on, or `None` on a thread the EAL did not make.
pub fn current_lcore() -> Option<u32> {
    // SAFETY: rte_lcore_id reads a thread-local; it returns LCORE_ID_ANY on non-EAL threads.
    let id = unsafe { sys::rte_lcore_id() };
    (id != u32::MAX).then_some(id)
}

/// The DPDK version string, e.g. `DPDK 22.11.11`.
pub fn version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
    let ptr = unsafe { sys::rte_version() };
    error::c_string(ptr)
}
