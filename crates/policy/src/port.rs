//! How the control thread reaches the wire: frames to fill and a way to send one out of a
//! port. The daemon implements [`FrameTx`] on the control thread's own DPDK transmit queues
//! and mempool; tests use [`MemoryTx`], which keeps what was sent.

use pktbuf::{PacketBuf, TestBuf};

/// Frames out of the ports, for whoever is not a worker (the control thread).
pub trait FrameTx {
    /// The frame type: what a worker punts, and what is written and sent here.
    type Frame: PacketBuf;
    /// An empty frame to write into; `None` when none is free.
    fn alloc(&mut self) -> Option<Self::Frame>;
    /// Queues `frame` for transmission on `port`; `false` (the frame freed) when the port
    /// does not exist or its queue is full.
    fn send(&mut self, port: u16, frame: Self::Frame) -> bool;
}

/// An in-memory [`FrameTx`]: every frame sent is kept, with its port, in order.
#[derive(Debug, Default)]
pub struct MemoryTx {
    /// Frames sent so far: (port, bytes).
    pub sent: Vec<(u16, Vec<u8>)>,
    /// How many ports exist (frames for others are refused); `None`: any.
    pub ports: Option<u16>,
}

impl FrameTx for MemoryTx {
    type Frame = TestBuf;

    fn alloc(&mut self) -> Option<TestBuf> {
        Some(TestBuf::like_mbuf(&[]))
    }

    fn send(&mut self, port: u16, frame: TestBuf) -> bool {
        if self.ports.is_some_and(|n| port >= n) {
            return false;
        }
        self.sent.push((port, frame.data().to_vec()));
        true
    }
}
