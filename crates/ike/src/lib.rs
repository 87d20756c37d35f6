//! IKEv2 (RFC 7296), sans-IO: it takes datagrams and the current time and returns datagrams
//! to send and events. This crate holds, so far:
//!
//! - [`message`]: the message codec (header and payloads), safe on any input;
//! - [`sk`]: the encrypted SK payload with AES-GCM-16 and ChaCha20-Poly1305;
//! - [`keys`]: the PRF, `prf+` and the key material of an IKE SA and its child SAs
//!   (section 2.13-2.17), over ring's HMAC.
//!
//! The exchange state machine (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL) is
//! built on these next.

#![forbid(unsafe_code)]

pub mod keys;
pub mod message;
pub mod sk;
