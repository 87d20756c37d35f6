//! The data plane on DPDK: the worker loop that runs the [`pipeline`] on mbufs, the AES-GCM
//! engines SAs seal and open with, and the control thread's own way out to the ports.
//!
//! * [`worker`]: one rx queue per port per worker, bursts of 32, the policy and FIB
//!   snapshots loaded once per burst, per-port tx buffers flushed every burst, bounded punt
//!   channels to the control thread (IKE in one of its own).
//! * [`crypto`]: [`crypto::GcmEngines`], the engines timed fastest on this machine (a crypto
//!   device or intel-ipsec-mb called directly, rri's VAES code, ring), handed as a
//!   [`policy::SaCrypto`] value to whoever makes SAs.
//! * [`ControlTx`]: the control thread's transmit queue on every port and a mempool, as the
//!   [`policy::FrameTx`] the control plane sends ARP, ICMP and IKE through.
//!
//! What the data plane shares with the control plane (the policy, events, drop reasons)
//! lives in the `policy` crate, free of DPDK.

#![forbid(unsafe_code)]

pub mod crypto;
pub mod worker;

use dpdk::{Mbuf, MbufBurst, Mempool, TxQueue};
use policy::FrameTx;

/// The control thread's way out: its own transmit queue on each port (by port id) and the
/// mempool its frames come from.
pub struct ControlTx {
    pub tx: Vec<TxQueue>,
    pub pool: Mempool,
}

impl std::fmt::Debug for ControlTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlTx")
            .field("ports", &self.tx.len())
            .finish_non_exhaustive()
    }
}

impl FrameTx for ControlTx {
    type Frame = Mbuf;

    fn alloc(&mut self) -> Option<Mbuf> {
        self.pool.alloc()
    }

    fn send(&mut self, port: u16, frame: Mbuf) -> bool {
        let Some(queue) = self.tx.get_mut(usize::from(port)) else {
            return false;
        };
        let mut burst: MbufBurst<1> = MbufBurst::new();
        let _ = burst.push(frame);
        queue.tx_burst_or_free(&mut burst) != 0
    }
}
