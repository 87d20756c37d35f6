//! Diffie-Hellman for IKE_SA_INIT and CREATE_CHILD_SA with PFS: Curve25519 (group 31, RFC
//! 8031) and ECP-256 (group 19, RFC 5903), through ring.
//!
//! On the wire, group 31 is the 32-byte X25519 public value; group 19 is x | y, 64 bytes,
//! without the 0x04 prefix of the uncompressed point (RFC 5903 section 7), which is added and
//! removed here. The shared secret of group 19 is the x coordinate (RFC 5903 section 9),
//! which is what ring's ECDH returns.

use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};
use ring::rand::SecureRandom;

/// A Diffie-Hellman group rri offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// 31.
    Curve25519,
    /// 19.
    Ecp256,
}

impl Group {
    /// From the transform ID.
    pub fn from_id(id: u16) -> Option<Group> {
        match id {
            31 => Some(Group::Curve25519),
            19 => Some(Group::Ecp256),
            _ => None,
        }
    }

    /// Transform ID.
    pub fn id(self) -> u16 {
        match self {
            Group::Curve25519 => 31,
            Group::Ecp256 => 19,
        }
    }

    /// Length of the KE payload's data.
    pub fn public_len(self) -> usize {
        match self {
            Group::Curve25519 => 32,
            Group::Ecp256 => 64,
        }
    }

    fn algorithm(self) -> &'static agreement::Algorithm {
        match self {
            Group::Curve25519 => &agreement::X25519,
            Group::Ecp256 => &agreement::ECDH_P256,
        }
    }
}

/// Our half of an exchange.
pub struct DhPrivate {
    group: Group,
    key: EphemeralPrivateKey,
    public: Vec<u8>,
}

impl std::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhPrivate")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl DhPrivate {
    /// A fresh key pair; `None` only if the system's random source fails.
    pub fn generate(group: Group, rng: &dyn SecureRandom) -> Option<DhPrivate> {
        let key = EphemeralPrivateKey::generate(group.algorithm(), rng).ok()?;
        let public = key.compute_public_key().ok()?;
        let public = match group {
            Group::Curve25519 => public.as_ref().to_vec(),
            Group::Ecp256 => public.as_ref().get(1..)?.to_vec(),
        };
        Some(DhPrivate { group, key, public })
    }

    /// The group.
    pub fn group(&self) -> Group {
        self.group
    }

    /// The KE payload's data.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// g^ir from the peer's KE data; `None` when it is not a valid public value.
    pub fn agree(self, peer: &[u8]) -> Option<Vec<u8>> {
        if peer.len() != self.group.public_len() {
            return None;
        }
        let peer = match self.group {
            Group::Curve25519 => peer.to_vec(),
            Group::Ecp256 => [&[4u8][..], peer].concat(),
        };
        agreement::agree_ephemeral(
            self.key,
            &UnparsedPublicKey::new(self.group.algorithm(), peer),
            |secret| secret.to_vec(),
        )
        .ok()
    }
}
