//! The data plane: what happens to every packet between `rx_burst` and `tx_burst`.
//!
//! * [`Policy`]: everything besides routes that the workers need, immutable and published
//!   by the control thread through `arc-swap` (ports and their addresses, MACs, MTUs and
//!   VRFs, the neighbour table, crypto maps compiled into classifiers with each entry's
//!   current outbound SA, inbound SAs by SPI with their traffic selectors). Routes come from
//!   the FIB's own snapshot ([`fib::FibReader`]). A worker loads both once per burst.
//! * [`Pipeline`]: the per-packet decisions, on any [`pktbuf::PacketBuf`], free of DPDK so
//!   that it is tested on plain buffers: L2 and IPv4 checks, local delivery (ESP
//!   decapsulation and the selector check, or a punt to the control thread), forwarding
//!   (TTL, FIB, crypto map, encapsulation, outer route, MTU, L2 rewrite). Every refusal is a
//!   counted [`Reason`].
//! * [`worker`]: the DPDK loop around it: one rx queue per port per worker, bursts of 32,
//!   per-port tx buffers flushed every burst, a bounded punt channel to the control thread.
//!
//! Packets needing an SA that does not exist yet are dropped (as IOS does while it
//! negotiates) after an acquire event is raised, at most once per entry per
//! [`ACQUIRE_INTERVAL_NS`].

#![forbid(unsafe_code)]

pub mod build;
mod counters;
pub mod crypto;
pub mod exception;
mod pipeline;
mod policy;
pub mod worker;

pub use counters::{Reason, WorkerCounters, WorkerCountersSnapshot, MAX_PORTS};
pub use pipeline::{Action, Event, FragmentPlan, Pipeline, PuntReason, Target, MAX_FRAGMENTS};
pub use policy::{
    CryptoMapPolicy, InboundBinding, MapEntryPolicy, Policy, PolicyHandle, PortPolicy,
};

/// The least time between two acquire events for one crypto map entry.
pub const ACQUIRE_INTERVAL_NS: u64 = 1_000_000_000;
