//! The control thread: the key engine (every IKEv2 SA, sans-IO), the installation of the
//! SAs it negotiates into the data plane and of their routes into the RIB (RRI), and the
//! peer manager that chooses whom to connect to.
//!
//! Free of DPDK: the data plane is reached through the `policy` crate (the published policy,
//! the events and punted frames workers send) and the wire through a [`policy::FrameTx`];
//! the daemon joins this crate to the DPDK data plane, tests to memory.
//!
//! - [`selectors`]: crypto ACLs as traffic selectors, negotiated selectors as classifier
//!   rules and RRI prefixes;
//! - [`ikeconf`]: keys, proposals, DPD and lifetimes from the configuration;
//! - [`engine`]: the [`engine::KeyEngine`] (initiator, responder, rekeying, DPD, bounds);
//! - [`install`]: the [`install::SaTable`] that carries SA changes into the policy and RIB;
//! - [`exception`]: ARP, ICMP echo and time exceeded, and resolving next hops, for the
//!   frames workers punt;
//! - [`plane`]: the [`plane::ControlPlane`] loop body around all of it;
//! - [`reload`]: what a new configuration changes, entry by entry;
//! - [`seqstate`]: manual SAs' sequence numbers reserved on disk;
//! - [`show`]: the `show` commands' text and JSON.

#![forbid(unsafe_code)]

pub mod engine;
pub mod exception;
pub mod ikeconf;
pub mod install;
pub mod plane;
pub mod reload;
pub mod selectors;
pub mod seqstate;
pub mod show;
