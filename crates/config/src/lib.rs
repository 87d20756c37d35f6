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
pub use render::{acl_entry_text, render, render_keys, render_mac, render_masked, Keys};
pub use span::{Span, Spanned};
pub use validate::validate;

/// Configuration bytes as text, and what could not be read as text.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The text: UTF-8 as written; a comment line that is not UTF-8 is read as Latin-1.
    pub text: String,
    /// An error for each command line that is not UTF-8 (its bytes are replaced, so the line
    /// does not parse either).
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads configuration bytes as routers export them: UTF-8, with comment lines (`!`) in
/// another 8-bit encoding tolerated (read as Latin-1: the comment is dropped anyway). Bytes
/// that are not UTF-8 in a command line are an error at that line, since what the line says
/// cannot be known.
pub fn decode(bytes: &[u8]) -> Decoded {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Decoded {
            text: text.to_string(),
            diagnostics: Vec::new(),
        };
    }
    // A byte order mark is not part of the first line (the lexer drops it from text too).
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut text = String::with_capacity(bytes.len());
    let mut diagnostics = Vec::new();
    for (index, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        match std::str::from_utf8(line) {
            Ok(l) => text.push_str(l),
            Err(e) => {
                let comment = line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'!');
                if comment {
                    text.extend(line.iter().map(|&b| char::from(b)));
                } else {
                    let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
                    let before = String::from_utf8_lossy(&line[..e.valid_up_to()]);
                    let col = u32::try_from(before.chars().count() + 1).unwrap_or(u32::MAX);
                    diagnostics.push(Diagnostic::error(
                        Code::InvalidValue,
                        Span::new(number, col, 1),
                        "bytes that are not UTF-8 text in a command line",
                    ));
                    text.push_str(&String::from_utf8_lossy(line));
                }
            }
        }
    }
    Decoded { text, diagnostics }
}

/// [`check`] of configuration bytes ([`decode`]): the text and the findings, the decoding's
/// among them.
pub fn check_bytes(bytes: &[u8]) -> (String, Checked) {
    let Decoded { text, diagnostics } = decode(bytes);
    let mut checked = check(&text);
    checked.diagnostics.0.extend(diagnostics);
    checked.diagnostics.sort();
    (text, checked)
}

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
