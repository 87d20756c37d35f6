//! Which peer a crypto map entry connects to, when it switches, and what address a peer's
//! host name has right now.
//!
//! - [`entry`]: the per-entry state machine (preferred and default peers, failover, dead
//!   peer detection, idle timers, backoff and flap dampening), pure and driven with the time
//!   passed in, so that every rule is testable in simulated time.
//! - [`manager`]: one state machine per `crypto map` entry, built from a configuration, and
//!   the `show crypto peer` report ([`report`]).
//! - [`driver`]: the control thread's side: acquires, key exchange results and timers in,
//!   lookups and key exchange requests out.
//! - [`dns`]: real-time resolution of peer names through the configured name servers, with
//!   optional DNSSEC validation.
//!
//! The key exchange is reached through a narrow interface: the state machine asks for
//! [`Action::Initiate`] (start an attempt to an address) and [`Action::Clear`] (delete SAs),
//! and takes [`Outcome`]s back (up, timeout, authentication failure, dead). Every decision is
//! a `tracing` event (target `rri::peer`) with its reason.

#![forbid(unsafe_code)]

pub mod dns;
pub mod driver;
pub mod entry;
pub mod manager;
pub mod report;

pub use entry::{
    Action, Answer, Backoff, Dampening, EntryPeers, EntrySettings, Failure, IdleTimer, Outcome,
    PeerName, PeerSpec, Phase, NS_PER_S,
};
pub use manager::{qualify, PeerManager};
