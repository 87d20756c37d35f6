//! The control thread: the key engine (every IKEv2 SA, sans-IO), the installation of the
//! SAs it negotiates into the data plane and of their routes into the RIB (RRI), and the
//! peer manager that chooses whom to connect to.
//!
//! - [`selectors`]: crypto ACLs as traffic selectors, negotiated selectors as classifier
//!   rules and RRI prefixes;
//! - [`ikeconf`]: keys, proposals, DPD and lifetimes from the configuration;
//! - [`engine`]: the [`engine::KeyEngine`] (initiator, responder, rekeying, DPD, bounds);
//! - [`install`]: the [`install::SaTable`] that carries SA changes into the policy and RIB;
//! - [`plane`]: the [`plane::ControlPlane`] loop body around all of it and the exception
//!   path;
//! - [`reload`]: what a new configuration changes, entry by entry.

pub mod engine;
pub mod ikeconf;
pub mod install;
pub mod plane;
pub mod reload;
pub mod selectors;
pub mod seqstate;
pub mod show;
