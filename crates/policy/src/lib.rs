//! Where the control plane and the data plane meet, free of DPDK and of I/O.
//!
//! * [`Policy`]: everything besides routes that the workers need, immutable and published
//!   by the control thread through `arc-swap` ([`PolicyHandle`]): ports and their addresses,
//!   MACs, MTUs and VRFs, the neighbour table, crypto maps compiled into classifiers with
//!   each entry's current outbound SA, inbound SAs by SPI with their traffic selectors.
//!   Routes come from the FIB's own snapshot ([`fib::FibReader`]).
//! * [`build`]: the first policy, RIB and FIB from a configuration, and the policy again on
//!   every reload; SAs get their AES-GCM engines from the [`SaCrypto`] value it is handed.
//! * What workers send the control thread ([`PuntReason`] with a frame, [`Event`]) and what
//!   they count ([`Reason`] for every drop, [`WorkerCounters`]).
//! * [`FrameTx`]: how the control thread sends a frame out of a port, whatever the frames
//!   are (DPDK mbufs in the daemon, plain buffers in tests).
//!
//! Packets needing an SA that does not exist yet are dropped (as IOS does while it
//! negotiates) after an acquire event is raised, at most once per entry per
//! [`ACQUIRE_INTERVAL_NS`].

#![forbid(unsafe_code)]

pub mod build;
mod compiled;
mod counters;
mod crypto;
mod event;
mod port;

pub use compiled::{
    CryptoMapPolicy, InboundBinding, MapEntryPolicy, Policy, PolicyHandle, PortPolicy,
};
pub use counters::{Reason, WorkerCounters, WorkerCountersSnapshot, MAX_PORTS};
pub use crypto::{RingOnly, SaCrypto};
pub use event::{Event, PuntReason};
pub use port::{FrameTx, MemoryTx};

/// The least time between two acquire events for one crypto map entry.
pub const ACQUIRE_INTERVAL_NS: u64 = 1_000_000_000;
