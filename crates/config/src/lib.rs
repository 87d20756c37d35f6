//! IOS-style configuration for rri: parse, validate, render, diagnose.
//!
//! ```
//! let text = "crypto map tohub 1 ipsec-isakmp\n set peer 10.1.1.1 default\n set peer 10.2.2.2\n";
//! let checked = config::check(text);
//! let entry = &checked.config.crypto_maps["tohub"].entries[&1];
//! assert_eq!(entry.body.peers.len(), 2);
//! assert!(entry.body.peers[0].default);
//! // Re-parsing the canonical text gives the same model.
//! let again = config::parse(&config::render(&checked.config)).config;
//! assert_eq!(again, checked.config);
//! ```
//!
//! The contract:
//! - [`parse`] never panics and never stops at the first problem: every line that cannot be
//!   read is an error with its position, and the rest of the file is still read.
//! - [`validate`] applies the rules of the VPN availability guide and rri's own limits to a
//!   parsed model.
//! - [`render`] writes canonical IOS text; `parse(render(m)) == m` for every model the parser
//!   produces (spans are not compared).
//! - Diagnostics render as `file:line:col: error|warning: message`, the line quoted with a
//!   caret, the expected keywords and a "did you mean" where one is close.
//!
//! rri extensions (all in IOS style, all documented in `docs/configuration.md`):
//! `dpdk eal-options|main-lcore|worker-lcores|mempool mbufs|burst` (global),
//! `dpdk device vdev SPEC|pci ADDR` and `mac-address` (interface),
//! `ip name-server A.B.C.D:PORT`, `ip dns-resolver dnssec required|optional`,
//! `ip dns-resolver trust-anchor FILE`, `crypto peer backoff INITIAL-MS MAXIMUM-MS`,
//! `crypto peer dampening HALF-LIFE REUSE SUPPRESS MAX-SUPPRESS`, and the transform
//! `esp-chacha20-poly1305`.

#![forbid(unsafe_code)]

mod cursor;
mod diag;
mod lex;
pub mod model;
mod parse;
mod render;
mod span;
mod suggest;
mod validate;

pub use diag::{Code, Diagnostic, Diagnostics, Severity};
pub use model::*;
pub use parse::{canonical_interface, parse, ParseOutput};
pub use render::{acl_entry_text, render, render_keys, render_masked, Keys};
pub use span::{Span, Spanned};
pub use validate::validate;

/// A parsed and validated configuration.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The model (what could be parsed).
    pub config: Config,
    /// Parse and validation findings, in line order.
    pub diagnostics: Diagnostics,
}

/// Parses and validates configuration text.
pub fn check(text: &str) -> Checked {
    let ParseOutput {
        config,
        mut diagnostics,
    } = parse(text);
    diagnostics.extend(validate(&config));
    let mut diagnostics = Diagnostics(diagnostics);
    diagnostics.sort();
    Checked {
        config,
        diagnostics,
    }
}
