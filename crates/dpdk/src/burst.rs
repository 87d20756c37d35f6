//! A fixed-capacity array of owned mbufs: what `rx_burst` fills and `tx_burst` drains.

use std::fmt;
use std::mem::MaybeUninit;

use crate::{sys, Mbuf};

/// Up to `N` owned mbufs, stored inline (no allocation). Receiving appends to the end;
/// transmitting takes from the front and leaves what the device refused at the front.
/// Dropping the burst frees what it still holds.
pub struct MbufBurst<const N: usize> {
    len: usize,
    /// Slots `..len` are initialised. `Mbuf` is `repr(transparent)` over a non-null pointer,
    /// so this array has the layout of `struct rte_mbuf *[N]`.
    slots: [MaybeUninit<Mbuf>; N],
}

impl<const N: usize> MbufBurst<N> {
    /// An empty burst.
    #[inline]
    pub fn new() -> Self {
        MbufBurst {
            len: 0,
            slots: [const { MaybeUninit::uninit() }; N],
        }
    }

    /// Mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the burst holds none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free slots.
    #[inline]
    pub fn spare(&self) -> usize {
        N - self.len
    }

    /// Adds an mbuf at the end, or gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, mbuf: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(mbuf);
        }
        self.slots[self.len].write(mbuf);
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the initialised range, so it
        // is read exactly once.
        Some(unsafe { self.slots[self.len].assume_init_read() })
    }

    /// The held mbufs.
    #[inline]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: slots ..len are initialised; MaybeUninit<Mbuf> has Mbuf's layout.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf>(), self.len) }
    }

    /// The held mbufs, writable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in as_slice; the exclusive borrow makes the slice unique.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }

    /// Iterates over the held mbufs.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, Mbuf> {
        self.as_slice().iter()
    }

    /// Iterates over the held mbufs, writable.
    #[inline]
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Mbuf> {
        self.as_mut_slice().iter_mut()
    }

    /// Keeps the mbufs for which `keep` returns true, in order, and frees the others.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Mbuf) -> bool) {
        let old_len = self.len;
        self.len = 0;
        for i in 0..old_len {
            // SAFETY: slot i < old_len is initialised and read once; `len` was reset first,
            // so a panic in `keep` leaks the rest instead of freeing twice.
            let mut mbuf = unsafe { self.slots[i].assume_init_read() };
            if keep(&mut mbuf) {
                self.slots[self.len].write(mbuf);
                self.len += 1;
            }
        }
    }

    /// Moves every mbuf out, first to last.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let len = std::mem::replace(&mut self.len, 0);
        // SAFETY: slots ..len were initialised and the burst no longer counts them, so each is
        // read exactly once by the iterator (unread ones leak if it is dropped early).
        self.slots[..len]
            .iter()
            .map(|slot| unsafe { slot.assume_init_read() })
    }

    /// Frees every mbuf held, in one bulk call.
    pub fn clear(&mut self) {
        if self.len == 0 {
            return;
        }
        let len = std::mem::replace(&mut self.len, 0);
        // SAFETY: slots ..len hold owned mbufs, now no longer counted by the burst, so they
        // are freed exactly once; the array has the layout of `struct rte_mbuf *[len]`.
        unsafe {
            sys::rte_pktmbuf_free_bulk(
                self.slots.as_mut_ptr().cast::<*mut sys::rte_mbuf>(),
                u32::try_from(len).expect("burst length fits in u32"),
            );
        }
    }

    /// The spare slots as a raw array for DPDK to fill, and how many there are.
    #[inline]
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut sys::rte_mbuf, usize) {
        let spare = N - self.len;
        let ptr = self.slots[self.len..]
            .as_mut_ptr()
            .cast::<*mut sys::rte_mbuf>();
        (ptr, spare)
    }

    /// Counts `count` spare slots as held.
    ///
    /// # Safety
    /// DPDK must have written `count` owned, valid mbuf pointers into the first spare slots.
    #[inline]
    pub(crate) unsafe fn commit_spare(&mut self, count: usize) {
        debug_assert!(count <= N - self.len);
        self.len += count;
    }

    /// The held mbufs as a raw array for DPDK to take from the front.
    #[inline]
    pub(crate) fn held_raw(&mut self) -> *mut *mut sys::rte_mbuf {
        self.slots.as_mut_ptr().cast::<*mut sys::rte_mbuf>()
    }

    /// Forgets the first `count` mbufs (DPDK took ownership of them) and moves the rest to
    /// the front.
    ///
    /// # Safety
    /// DPDK must own the first `count` mbufs now.
    #[inline]
    pub(crate) unsafe fn forget_front(&mut self, count: usize) {
        debug_assert!(count <= self.len);
        let rest = self.len - count;
        if count > 0 && rest > 0 {
            // SAFETY: both ranges lie inside the array; copy handles the overlap.
            unsafe {
                std::ptr::copy(
                    self.slots.as_ptr().add(count),
                    self.slots.as_mut_ptr(),
                    rest,
                );
            }
        }
        self.len = rest;
    }
}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<const N: usize> fmt::Debug for MbufBurst<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MbufBurst")
            .field("len", &self.len)
            .field("capacity", &N)
            .finish()
    }
}
