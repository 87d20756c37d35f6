//! IKEv2 (RFC 7296), sans-IO: it takes datagrams and the current time and returns datagrams
//! to send and events. This crate holds, so far:
//!
//! - [`message`]: the message codec (header and payloads), safe on any input;
//! - [`sk`]: the encrypted SK payload with AES-GCM-16 and ChaCha20-Poly1305;
//! - [`keys`]: the PRF, `prf+` and the key material of an IKE SA and its child SAs
//!   (section 2.13-2.17), over ring's HMAC.
//!
//! - [`dh`]: Diffie-Hellman groups 31 (Curve25519) and 19 (ECP-256);
//! - [`sa`]: one IKE SA: IKE_SA_INIT (with cookies and NAT detection) and IKE_AUTH with a
//!   pre-shared key, as initiator or responder, with retransmission and timeout;
//!   INFORMATIONAL (deletes, liveness checks); CREATE_CHILD_SA rekeying of the child SA,
//!   simultaneous rekeys settled as RFC 7296 section 2.8.1 says.
//!
//! Not yet: rekeying of the IKE SA itself.

#![forbid(unsafe_code)]

pub mod dh;
pub mod keys;
pub mod message;
pub mod sa;
pub mod sk;
