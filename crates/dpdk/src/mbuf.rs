//! The owned packet buffer.

use std::fmt;
use std::ptr::NonNull;

use pktbuf::{BufError, PacketBuf};

use crate::error::DpdkError;
use crate::sys;

/// One DPDK mbuf, owned: freed back to its pool on drop.
///
/// The [`PacketBuf`] surface works on the first segment, which is the whole packet for the
/// single-segment mbufs rri's pools produce; [`Mbuf::linearize`] makes any packet so.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an Mbuf is the only reference to its rte_mbuf (ownership moves with the value), and
// freeing to a mempool is thread-safe, so it may move to another thread.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nothing else will use or free afterwards.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(raw)
    }

    /// Gives up ownership; the caller must free the mbuf or hand it to DPDK.
    #[inline]
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let raw = self.0;
        std::mem::forget(self);
        raw
    }

    /// The raw mbuf, still owned by this value.
    #[inline]
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.0.as_ptr()
    }

    #[inline]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for as long as self lives.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn raw_mut(&mut self) -> &mut sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for as long as self lives, and the exclusive borrow of
        // self makes this reference unique.
        unsafe { self.0.as_mut() }
    }

    /// The total packet length over all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    /// The number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.raw().nb_segs
    }

    /// The port the packet was received on.
    #[inline]
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// Prefetches for writing the packet's first `front` bytes and the `behind` bytes of
    /// headroom before them (where tunnel headers go), as [`crate::prefetch_for_write`] does.
    #[inline]
    pub fn prefetch_front(&self, behind: usize, front: usize) {
        let m = self.raw();
        let (off, len) = (usize::from(m.data_off), usize::from(m.data_len));
        self.prefetch_buffer(off - behind.min(off), off + front.min(len));
    }

    /// Prefetches for writing the `len` bytes of tailroom after the packet (where an ESP
    /// trailer and ICV go), as [`crate::prefetch_for_write`] does.
    #[inline]
    pub fn prefetch_tail(&self, len: usize) {
        let m = self.raw();
        let end = usize::from(m.data_off) + usize::from(m.data_len);
        self.prefetch_buffer(end, end + len);
    }

    /// Prefetches bytes `from..to` of the mbuf's buffer (`to` clamped to its end).
    #[inline]
    fn prefetch_buffer(&self, from: usize, to: usize) {
        let m = self.raw();
        let to = to.min(usize::from(m.buf_len));
        // wrapping_add: only an address inside the buffer is formed, never dereferenced.
        let first = m.buf_addr.cast::<u8>().cast_const().wrapping_add(from);
        crate::prefetch::prefetch_range_for_write(first, to.saturating_sub(from));
    }

    /// Copies a multi-segment packet into its first segment.
    ///
    /// # Errors
    /// When the first segment has no room for the whole packet.
    pub fn linearize(&mut self) -> Result<(), DpdkError> {
        if self.segments() == 1 {
            return Ok(());
        }
        // SAFETY: we own the mbuf chain; linearize rewrites it in place.
        let ret = unsafe { sys::rte_pktmbuf_linearize(self.as_ptr()) };
        if ret != 0 {
            return Err(DpdkError::new("rte_pktmbuf_linearize", ret));
        }
        Ok(())
    }

    /// Empties the packet (length 0, default headroom), keeping the mbuf.
    pub fn reset(&mut self) {
        // SAFETY: we own the mbuf; reset frees any further segments and clears lengths.
        unsafe { sys::rte_pktmbuf_reset(self.as_ptr()) }
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and nobody uses it after this; it returns to its pool.
        unsafe { sys::rte_pktmbuf_free(self.as_ptr()) }
    }
}

impl fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mbuf")
            .field("pkt_len", &self.pkt_len())
            .field("segments", &self.segments())
            .field("headroom", &self.headroom())
            .field("tailroom", &self.tailroom())
            .finish()
    }
}

impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off is the start of the first segment's data, which holds
        // data_len initialised bytes inside the mbuf's buffer; we own it for the borrow.
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (addr, off, len) = (m.buf_addr.cast::<u8>(), m.data_off, m.data_len);
        // SAFETY: as in data(); the exclusive borrow of self makes the slice unique.
        unsafe { std::slice::from_raw_parts_mut(addr.add(usize::from(off)), usize::from(len)) }
    }

    #[inline]
    fn headroom(&self) -> usize {
        usize::from(self.raw().data_off)
    }

    #[inline]
    fn tailroom(&self) -> usize {
        let m = self.raw();
        usize::from(m.buf_len) - usize::from(m.data_off) - usize::from(m.data_len)
    }

    #[inline]
    fn prepend(&mut self, len: usize) -> Result<&mut [u8], BufError> {
        // rte_pktmbuf_prepend's work, done here so that it inlines (DPDK's static inline
        // functions reach Rust as calls through wrappers).
        let m = self.raw_mut();
        let n = u16::try_from(len).map_err(|_| BufError::NoHeadroom)?;
        if n > m.data_off {
            return Err(BufError::NoHeadroom);
        }
        m.data_off -= n;
        m.data_len += n;
        m.pkt_len += u32::from(n);
        let start = m.buf_addr.cast::<u8>();
        let off = usize::from(m.data_off);
        // SAFETY: the `len` bytes from the new data start were headroom inside the buffer.
        Ok(unsafe { std::slice::from_raw_parts_mut(start.add(off), len) })
    }

    #[inline]
    fn append(&mut self, len: usize) -> Result<&mut [u8], BufError> {
        if self.segments() != 1 {
            // Appending goes to the last segment, which is not contiguous with data().
            return Err(BufError::NoTailroom);
        }
        // rte_pktmbuf_append's work on a single segment, inlined (see prepend).
        let tailroom = self.tailroom();
        let m = self.raw_mut();
        let n = u16::try_from(len).map_err(|_| BufError::NoTailroom)?;
        if len > tailroom {
            return Err(BufError::NoTailroom);
        }
        let tail = usize::from(m.data_off) + usize::from(m.data_len);
        m.data_len += n;
        m.pkt_len += u32::from(n);
        let start = m.buf_addr.cast::<u8>();
        // SAFETY: the `len` bytes after the old end of data were tailroom inside the buffer.
        Ok(unsafe { std::slice::from_raw_parts_mut(start.add(tail), len) })
    }

    #[inline]
    fn adj(&mut self, len: usize) -> Result<(), BufError> {
        // rte_pktmbuf_adj's work (first segment), inlined (see prepend).
        let m = self.raw_mut();
        let n = u16::try_from(len).map_err(|_| BufError::TooShort)?;
        if n > m.data_len {
            return Err(BufError::TooShort);
        }
        m.data_len -= n;
        m.data_off += n;
        m.pkt_len -= u32::from(n);
        Ok(())
    }

    #[inline]
    fn trim(&mut self, len: usize) -> Result<(), BufError> {
        if self.segments() != 1 {
            return Err(BufError::TooShort);
        }
        // rte_pktmbuf_trim's work on a single segment, inlined (see prepend).
        let m = self.raw_mut();
        let n = u16::try_from(len).map_err(|_| BufError::TooShort)?;
        if n > m.data_len {
            return Err(BufError::TooShort);
        }
        m.data_len -= n;
        m.pkt_len -= u32::from(n);
        Ok(())
    }
}

impl AsRef<[u8]> for Mbuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl AsMut<[u8]> for Mbuf {
    #[inline]
    fn as_mut(&mut self) -> &mut [u8] {
        self.data_mut()
    }
}
