//! Packet mbuf pools.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::eal::LEAKED_POOLS;
use crate::error::DpdkError;
use crate::{sys, Eal, Mbuf, MbufBurst};

/// How to size a packet mempool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Number of mbufs. Keep it modest without hugepages (8191 is a good size here).
    pub mbufs: u32,
    /// Per-lcore cache size (at most 512 and at most mbufs / 1.5).
    pub cache: u32,
    /// Data room per mbuf, headroom included (`RTE_MBUF_DEFAULT_BUF_SIZE` is 2176).
    pub data_room: u16,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            mbufs: 8191,
            cache: 256,
            data_room: 2176,
        }
    }
}

/// A pool of packet mbufs (`rte_pktmbuf_pool_create`). Clones share the pool; the pool is freed
/// when the last clone is dropped and every mbuf has come back, and leaked otherwise (see the
/// crate documentation).
#[derive(Clone, Debug)]
pub struct Mempool {
    inner: Arc<MempoolInner>,
}

#[derive(Debug)]
struct MempoolInner {
    pool: NonNull<sys::rte_mempool>,
    name: String,
    _eal: Eal,
}

// SAFETY: DPDK mempools are made for concurrent use: the default ring-based ops are
// multi-producer/multi-consumer, and the per-lcore caches are only used by the lcore they
// belong to (non-EAL threads bypass them). The handle itself is an immutable pointer.
unsafe impl Send for MempoolInner {}
// SAFETY: as above; every method takes &self and DPDK's get/put are thread-safe.
unsafe impl Sync for MempoolInner {}

static POOL_SEQ: AtomicU32 = AtomicU32::new(0);

impl Mempool {
    /// Creates a packet mempool on the calling lcore's socket.
    ///
    /// # Errors
    /// When DPDK cannot create it (for example `ENOMEM`: too many mbufs for the EAL's memory).
    pub fn new(eal: &Eal, config: &MempoolConfig) -> Result<Mempool, DpdkError> {
        // Pool names are global in DPDK and limited to 25 characters.
        let name = format!("rri_pool_{}", POOL_SEQ.fetch_add(1, Ordering::Relaxed));
        let c_name = CString::new(name.as_str()).expect("no NUL in a generated name");
        // SAFETY: the EAL is initialised (we hold it); the name is a valid C string that DPDK
        // copies; the sizes are plain integers DPDK validates.
        let pool = unsafe {
            sys::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                config.mbufs,
                config.cache,
                0,
                config.data_room,
                eal.socket_id(),
            )
        };
        let pool = NonNull::new(pool).ok_or_else(|| {
            DpdkError::from_rte_errno(format!(
                "rte_pktmbuf_pool_create({} mbufs of {} bytes)",
                config.mbufs, config.data_room
            ))
        })?;
        Ok(Mempool {
            inner: Arc::new(MempoolInner {
                pool,
                name,
                _eal: eal.clone(),
            }),
        })
    }

    /// The raw pool, for calls this layer does not wrap.
    pub fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.inner.pool.as_ptr()
    }

    /// The pool's DPDK name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The number of mbufs the pool was created with.
    pub fn capacity(&self) -> u32 {
        // SAFETY: the pool is live while we hold it; `size` is set at creation and never changes.
        unsafe { (*self.as_ptr()).size }
    }

    /// Mbufs in the pool, per-lcore caches included.
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is live; rte_mempool_avail_count only reads counters.
        unsafe { sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs taken from the pool and not yet returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is live; rte_mempool_in_use_count only reads counters.
        unsafe { sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// Allocates one mbuf (reset, empty, with default headroom), or `None` if the pool is empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is a live packet pool; rte_pktmbuf_alloc returns an owned mbuf or null.
        let raw = unsafe { sys::rte_pktmbuf_alloc(self.as_ptr()) };
        // SAFETY: a non-null result is a freshly allocated mbuf that nobody else references.
        NonNull::new(raw).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Fills `burst` up to `count` mbufs (or its capacity) in one bulk allocation; all or none.
    ///
    /// # Errors
    /// `ENOENT` when the pool holds fewer mbufs than asked for; the burst is unchanged.
    pub fn alloc_bulk<const N: usize>(
        &self,
        burst: &mut MbufBurst<N>,
        count: usize,
    ) -> Result<(), DpdkError> {
        let count = count.min(burst.spare());
        let (spare, _) = burst.spare_raw();
        // SAFETY: `spare` points at `count` writable slots of the burst; the pool is live.
        // rte_pktmbuf_alloc_bulk fills all of them or none.
        let ret = unsafe {
            sys::rte_pktmbuf_alloc_bulk(self.as_ptr(), spare, u32::try_from(count).unwrap_or(0))
        };
        if ret != 0 {
            return Err(DpdkError::new("rte_pktmbuf_alloc_bulk", ret));
        }
        // SAFETY: DPDK wrote `count` owned mbuf pointers into the spare slots.
        unsafe { burst.commit_spare(count) };
        Ok(())
    }
}

impl Drop for MempoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool is live until freed below.
        let in_use = unsafe { sys::rte_mempool_in_use_count(self.pool.as_ptr()) };
        if in_use != 0 {
            LEAKED_POOLS.fetch_add(1, Ordering::SeqCst);
            eprintln!(
                "dpdk: mempool {} dropped with {in_use} mbufs still out; leaking it so they stay valid",
                self.name
            );
            return;
        }
        // SAFETY: no mbuf of this pool is out and no handle remains (this is the last one), so
        // nothing references the pool after it is freed.
        unsafe { sys::rte_mempool_free(self.pool.as_ptr()) };
    }
}
