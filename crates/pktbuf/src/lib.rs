//! The packet-buffer surface that packet code is written against.
//!
//! A packet buffer is one contiguous region of bytes with spare room on both sides: headroom
//! in front of the packet (where encapsulation prepends headers) and tailroom behind it (where
//! trailers such as ESP padding and the ICV are appended). DPDK's `Mbuf` (in the `dpdk` crate)
//! and [`TestBuf`] implement the same trait, so protocol crates are tested without an EAL and
//! run unchanged on mbufs.
//!
//! Contract: every operation either succeeds completely or returns an error and leaves the
//! buffer unchanged. No operation panics on any length.

#![forbid(unsafe_code)]

use std::fmt;

/// Why a buffer operation could not be done. The buffer is unchanged when one is returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufError {
    /// `prepend` asked for more bytes than the headroom holds.
    NoHeadroom,
    /// `append` asked for more bytes than the tailroom holds.
    NoTailroom,
    /// `adj` or `trim` asked to remove more bytes than the packet holds.
    TooShort,
}

impl fmt::Display for BufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BufError::NoHeadroom => "not enough headroom",
            BufError::NoTailroom => "not enough tailroom",
            BufError::TooShort => "packet shorter than the bytes to remove",
        })
    }
}

impl std::error::Error for BufError {}

/// A packet in a contiguous buffer with headroom and tailroom.
pub trait PacketBuf {
    /// The packet's bytes.
    fn data(&self) -> &[u8];
    /// The packet's bytes, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Free bytes in front of the packet.
    fn headroom(&self) -> usize;
    /// Free bytes behind the packet.
    fn tailroom(&self) -> usize;
    /// Grows the packet by `len` bytes at the front and returns the new front bytes (their
    /// content is unspecified).
    fn prepend(&mut self, len: usize) -> Result<&mut [u8], BufError>;
    /// Grows the packet by `len` bytes at the end and returns the new end bytes (their content
    /// is unspecified).
    fn append(&mut self, len: usize) -> Result<&mut [u8], BufError>;
    /// Removes `len` bytes from the front of the packet.
    fn adj(&mut self, len: usize) -> Result<(), BufError>;
    /// Removes `len` bytes from the end of the packet.
    fn trim(&mut self, len: usize) -> Result<(), BufError>;

    /// The packet's length in bytes.
    #[inline]
    fn len(&self) -> usize {
        self.data().len()
    }

    /// Whether the packet holds no bytes.
    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A mutable borrow of a buffer is a buffer, so burst APIs taking `&mut [B]` also take
/// arrays of borrowed mbufs.
impl<T: PacketBuf + ?Sized> PacketBuf for &mut T {
    #[inline]
    fn data(&self) -> &[u8] {
        (**self).data()
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        (**self).data_mut()
    }
    #[inline]
    fn headroom(&self) -> usize {
        (**self).headroom()
    }
    #[inline]
    fn tailroom(&self) -> usize {
        (**self).tailroom()
    }
    #[inline]
    fn prepend(&mut self, len: usize) -> Result<&mut [u8], BufError> {
        (**self).prepend(len)
    }
    #[inline]
    fn append(&mut self, len: usize) -> Result<&mut [u8], BufError> {
        (**self).append(len)
    }
    #[inline]
    fn adj(&mut self, len: usize) -> Result<(), BufError> {
        (**self).adj(len)
    }
    #[inline]
    fn trim(&mut self, len: usize) -> Result<(), BufError> {
        (**self).trim(len)
    }
}

/// A plain-memory packet buffer with the same surface as a DPDK mbuf.
///
/// ```
/// use pktbuf::{PacketBuf, TestBuf};
/// let mut buf = TestBuf::new(8, b"payload", 4);
/// buf.prepend(2).unwrap().copy_from_slice(b"hd");
/// buf.append(2).unwrap().copy_from_slice(b"tl");
/// assert_eq!(buf.data(), b"hdpayloadtl");
/// assert_eq!((buf.headroom(), buf.tailroom()), (6, 2));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TestBuf {
    storage: Vec<u8>,
    start: usize,
    end: usize,
}

impl TestBuf {
    /// The headroom a DPDK mbuf has by default (`RTE_PKTMBUF_HEADROOM`).
    pub const MBUF_HEADROOM: usize = 128;

    /// A buffer holding `data` with `headroom` free bytes before it and `tailroom` after it.
    pub fn new(headroom: usize, data: &[u8], tailroom: usize) -> Self {
        let mut storage = vec![0; headroom + data.len() + tailroom];
        storage[headroom..headroom + data.len()].copy_from_slice(data);
        TestBuf {
            storage,
            start: headroom,
            end: headroom + data.len(),
        }
    }

    /// A buffer shaped like a default DPDK mbuf (128 bytes of headroom, 2048 bytes of data
    /// room) holding `data`.
    ///
    /// # Panics
    /// If `data` is longer than the 2048-byte data room.
    pub fn like_mbuf(data: &[u8]) -> Self {
        assert!(data.len() <= 2048, "data longer than an mbuf's data room");
        TestBuf::new(Self::MBUF_HEADROOM, data, 2048 - data.len())
    }
}

impl fmt::Debug for TestBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestBuf")
            .field("headroom", &self.headroom())
            .field("len", &self.len())
            .field("tailroom", &self.tailroom())
            .finish()
    }
}

impl PacketBuf for TestBuf {
    fn data(&self) -> &[u8] {
        &self.storage[self.start..self.end]
    }

    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.end]
    }

    fn headroom(&self) -> usize {
        self.start
    }

    fn tailroom(&self) -> usize {
        self.storage.len() - self.end
    }

    fn prepend(&mut self, len: usize) -> Result<&mut [u8], BufError> {
        if len > self.headroom() {
            return Err(BufError::NoHeadroom);
        }
        self.start -= len;
        Ok(&mut self.storage[self.start..self.start + len])
    }

    fn append(&mut self, len: usize) -> Result<&mut [u8], BufError> {
        if len > self.tailroom() {
            return Err(BufError::NoTailroom);
        }
        let old_end = self.end;
        self.end += len;
        Ok(&mut self.storage[old_end..self.end])
    }

    fn adj(&mut self, len: usize) -> Result<(), BufError> {
        if len > self.len() {
            return Err(BufError::TooShort);
        }
        self.start += len;
        Ok(())
    }

    fn trim(&mut self, len: usize) -> Result<(), BufError> {
        if len > self.len() {
            return Err(BufError::TooShort);
        }
        self.end -= len;
        Ok(())
    }
}

impl AsRef<[u8]> for TestBuf {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl AsMut<[u8]> for TestBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.data_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_what_does_not_fit_and_stays_unchanged() {
        let mut buf = TestBuf::new(2, b"abc", 1);
        assert_eq!(buf.prepend(3).unwrap_err(), BufError::NoHeadroom);
        assert_eq!(buf.append(2).unwrap_err(), BufError::NoTailroom);
        assert_eq!(buf.adj(4).unwrap_err(), BufError::TooShort);
        assert_eq!(buf.trim(4).unwrap_err(), BufError::TooShort);
        assert_eq!(buf.data(), b"abc");
        assert_eq!((buf.headroom(), buf.tailroom()), (2, 1));
    }

    #[test]
    fn adj_and_trim_give_room_back() {
        let mut buf = TestBuf::new(0, b"hello world", 0);
        buf.adj(6).unwrap();
        buf.trim(2).unwrap();
        assert_eq!(buf.data(), b"wor");
        assert_eq!((buf.headroom(), buf.tailroom()), (6, 2));
        buf.prepend(6).unwrap().copy_from_slice(b"HELLO ");
        assert_eq!(buf.data(), b"HELLO wor");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Prepend(usize),
        Append(usize),
        Adj(usize),
        Trim(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..40).prop_map(Op::Prepend),
            (0usize..40).prop_map(Op::Append),
            (0usize..40).prop_map(Op::Adj),
            (0usize..40).prop_map(Op::Trim),
        ]
    }

    proptest! {
        /// Against a model: a `VecDeque`-like packet plus two room counters.
        #[test]
        fn matches_model(head in 0usize..64, body in proptest::collection::vec(any::<u8>(), 0..64),
                         tail in 0usize..64, ops in proptest::collection::vec(op(), 0..64)) {
            let mut buf = TestBuf::new(head, &body, tail);
            let (mut model, mut mhead, mut mtail) = (body.clone(), head, tail);
            let mut fill = 0u8;
            for op in ops {
                fill = fill.wrapping_add(1);
                match op {
                    Op::Prepend(n) => match buf.prepend(n) {
                        Ok(bytes) => {
                            prop_assert!(n <= mhead);
                            bytes.fill(fill);
                            mhead -= n;
                            model.splice(0..0, std::iter::repeat_n(fill, n));
                        }
                        Err(e) => { prop_assert!(n > mhead); prop_assert_eq!(e, BufError::NoHeadroom); }
                    },
                    Op::Append(n) => match buf.append(n) {
                        Ok(bytes) => {
                            prop_assert!(n <= mtail);
                            bytes.fill(fill);
                            mtail -= n;
                            model.extend(std::iter::repeat_n(fill, n));
                        }
                        Err(e) => { prop_assert!(n > mtail); prop_assert_eq!(e, BufError::NoTailroom); }
                    },
                    Op::Adj(n) => match buf.adj(n) {
                        Ok(()) => { model.drain(..n); mhead += n; }
                        Err(e) => { prop_assert!(n > model.len()); prop_assert_eq!(e, BufError::TooShort); }
                    },
                    Op::Trim(n) => match buf.trim(n) {
                        Ok(()) => { model.truncate(model.len() - n); mtail += n; }
                        Err(e) => { prop_assert!(n > model.len()); prop_assert_eq!(e, BufError::TooShort); }
                    },
                }
                prop_assert_eq!(buf.data(), &model[..]);
                prop_assert_eq!(buf.headroom(), mhead);
                prop_assert_eq!(buf.tailroom(), mtail);
            }
        }
    }
}
