//! What the configuration says IKE should do, looked up the way IOS looks it up.
//!
//! * Pre-shared keys: the entry's `set ikev2-profile` names a profile whose `keyring local`
//!   is searched for a `peer` block whose `address A M` holds the peer (longest match).
//!   Without a profile (or without a match there), every `crypto ikev2 keyring`, then
//!   `crypto isakmp key ... address` and `crypto keyring` keys (IKEv1 keys are honoured
//!   for IKEv2 as a convenience to configurations pasted from IKEv1 routers). In an ikev2
//!   keyring `peer` block, `pre-shared-key KEY` serves both directions; `pre-shared-key
//!   local KEY` signs our AUTH and `pre-shared-key remote KEY` verifies the peer's, as on
//!   IOS (either one alone serves both directions).
//! * IKE proposals: the proposals of every `crypto ikev2 policy` (or, with none, every
//!   `crypto ikev2 proposal`), each combination of cipher, PRF and group that rri supports;
//!   with none configured, AES-GCM-256, AES-GCM-128 and ChaCha20-Poly1305 with SHA-256 and
//!   groups 31 and 19.
//! * ESP: the entry's transform sets that name one AEAD, in order.
//! * Dead peer detection: the profile's `dpd`, else `crypto ikev2 dpd`, else
//!   `crypto isakmp keepalive`.
//! * IKE SA lifetime: the profile's `lifetime`, else 86400 s; the IKE SA is rekeyed before.
//! * Lifetimes: `set security-association lifetime seconds`, else the global one, else
//!   IOS's 3600 s.

use crate::selectors;
use config::model::{
    CryptoMapKind, DpdMode, Ikev2Cipher, Ikev2Prf, Keepalive, MapEntryBody, PeerTarget, Replay,
    Transform,
};
use config::Config;
use ike::dh::Group;
use ike::keys::Prf;
use ike::message::TrafficSelector;
use ike::sa::IkeProposal;
use ike::sa::Psk;
use ike::sk::Aead;
use std::net::Ipv4Addr;

/// IOS's default IKEv2 SA lifetime.
pub const DEFAULT_IKE_LIFETIME_S: u64 = 86_400;

/// IOS's default IPsec SA lifetime.
pub const DEFAULT_LIFETIME_S: u64 = 3600;
/// IOS's default DPD retry interval.
pub const DEFAULT_DPD_RETRY_S: u32 = 2;
/// Liveness retries before a peer is declared dead: five messages a RETRY apart (the first
/// and four retries), and dead a RETRY after the last, so INTERVAL + 5 x RETRY in all.
pub const DPD_RETRIES: u32 = 4;

/// Dead peer detection as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dpd {
    pub interval_ns: u64,
    pub retry_ns: u64,
    /// Check at every interval without inbound traffic (else only while sending without
    /// receiving).
    pub periodic: bool,
}

/// What one crypto map entry or dynamic map entry negotiates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryIke {
    pub profile: Option<String>,
    pub esp: Vec<Aead>,
    /// Proposed (initiator) or allowed (responder) selectors: ours and the peer's.
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    pub lifetime_s: u64,
    pub lifetime_kb: Option<u64>,
    /// The entry's own anti-replay window (`set security-association replay window-size`);
    /// `None`: the global one.
    pub replay_window: Option<u32>,
    /// Whether the entry's SAs drop replays (`set security-association replay disable`
    /// turns it off).
    pub anti_replay: bool,
    /// The IKE SA's lifetime: the profile's `lifetime`, else IOS's 86400 s.
    pub ike_lifetime_s: u64,
    pub dpd: Option<Dpd>,
    /// Peers named by address (responder matching for static entries).
    pub peer_addresses: Vec<Ipv4Addr>,
}

fn aead_of(t: Transform) -> Option<Aead> {
    match t {
        Transform::EspGcm(128) => Some(Aead::AesGcm128),
        Transform::EspGcm(256) => Some(Aead::AesGcm256),
        Transform::EspChacha20Poly1305 => Some(Aead::ChaCha20Poly1305),
        _ => None,
    }
}

fn contains(net: Ipv4Addr, len: u8, addr: Ipv4Addr) -> bool {
    let m = rib::mask(len);
    u32::from(net) & m == u32::from(addr) & m
}

fn keepalive_dpd(k: &Keepalive) -> Dpd {
    Dpd {
        interval_ns: u64::from(k.interval) * 1_000_000_000,
        retry_ns: u64::from(k.retry.unwrap_or(DEFAULT_DPD_RETRY_S)) * 1_000_000_000,
        periodic: k.mode == Some(DpdMode::Periodic),
    }
}

/// The settings of one entry body.
pub fn entry_ike(config: &Config, body: &MapEntryBody) -> EntryIke {
    let esp = body
        .transform_sets
        .iter()
        .filter_map(|t| config.transform_sets.get(&t.value)?.aead())
        .filter_map(aead_of)
        .collect();
    let (local_ts, remote_ts) = match body
        .match_address
        .as_ref()
        .and_then(|a| config.access_lists.get(&a.value))
    {
        Some(acl) => selectors::from_acl(acl),
        // A dynamic map without `match address` accepts whatever the peer proposes.
        None => (vec![selectors::anything()], vec![selectors::anything()]),
    };
    let profile = body.ikev2_profile.as_ref().map(|p| p.value.clone());
    let dpd = profile
        .as_ref()
        .and_then(|p| config.ikev2.profiles.get(p))
        .and_then(|p| p.dpd.as_ref())
        .or(config.ikev2.dpd.as_ref())
        .or(config.isakmp.keepalive.as_ref())
        .map(|k| keepalive_dpd(&k.value));
    let lifetime_s = body
        .lifetime_seconds
        .as_ref()
        .map(|l| u64::from(l.value))
        .or(config
            .ipsec_global
            .lifetime_seconds
            .as_ref()
            .map(|l| u64::from(l.value)))
        .unwrap_or(DEFAULT_LIFETIME_S);
    let ike_lifetime_s = profile
        .as_ref()
        .and_then(|p| config.ikev2.profiles.get(p))
        .and_then(|p| p.lifetime.as_ref())
        .map_or(DEFAULT_IKE_LIFETIME_S, |l| u64::from(l.value));
    let lifetime_kb = body.lifetime_kilobytes.as_ref().map(|l| l.value).or(config
        .ipsec_global
        .lifetime_kilobytes
        .as_ref()
        .map(|l| l.value));
    let replay = body.replay.as_ref().map(|r| r.value);
    let replay_window = match replay {
        Some(Replay::WindowSize(n)) => Some(n),
        _ => None,
    };
    let anti_replay = replay != Some(Replay::Disabled);
    let peer_addresses = body
        .peers
        .iter()
        .filter_map(|p| match p.value.target {
            PeerTarget::Address(a) => Some(a),
            PeerTarget::Host { .. } => None,
        })
        .collect();
    EntryIke {
        profile,
        esp,
        local_ts,
        remote_ts,
        lifetime_s,
        lifetime_kb,
        replay_window,
        anti_replay,
        ike_lifetime_s,
        dpd,
        peer_addresses,
    }
}

/// The keys of an ikev2 keyring `peer` block: `local` and `remote` where given, else
/// `pre-shared-key` for that direction, else the other direction's key.
fn peer_psk(p: &config::model::Ikev2KeyringPeer) -> Option<Psk> {
    let both = p.pre_shared_key.as_ref();
    let local = p.pre_shared_key_local.as_ref().or(both);
    let remote = p.pre_shared_key_remote.as_ref().or(both);
    let (local, remote) = match (local, remote) {
        (Some(l), Some(r)) => (l, r),
        (Some(k), None) | (None, Some(k)) => (k, k),
        (None, None) => return None,
    };
    Some(Psk {
        local: local.value.to_bytes(),
        remote: remote.value.to_bytes(),
    })
}

/// The pre-shared keys for `peer`, searched as the module says.
pub fn psk(config: &Config, profile: Option<&str>, peer: Ipv4Addr) -> Option<Psk> {
    let from_keyring = |ring: &config::model::Ikev2Keyring| {
        ring.peers
            .values()
            .filter_map(|p| {
                let (net, len) = p.address.as_ref()?.value;
                if !contains(net, len, peer) {
                    return None;
                }
                Some((len, peer_psk(p)?))
            })
            .max_by_key(|(len, _)| *len)
    };
    let profile_ring = profile
        .and_then(|p| config.ikev2.profiles.get(p))
        .and_then(|p| p.keyring.as_ref())
        .and_then(|k| config.ikev2.keyrings.get(&k.value));
    if let Some((_, key)) = profile_ring.and_then(from_keyring) {
        return Some(key);
    }
    if let Some((_, key)) = config
        .ikev2
        .keyrings
        .values()
        .filter_map(from_keyring)
        .max_by_key(|(len, _)| *len)
    {
        return Some(key);
    }
    config
        .isakmp
        .keys
        .iter()
        .chain(config.isakmp.keyrings.values().flat_map(|k| k.keys.iter()))
        .map(|k| &k.value)
        .filter(|k| contains(k.address, k.len, peer))
        .max_by_key(|k| k.len)
        .map(|k| Psk::both(k.key.as_bytes()))
}

/// The IKE SA proposals, preferred first.
pub fn ike_proposals(config: &Config) -> Vec<IkeProposal> {
    let names: Vec<&str> = if config.ikev2.policies.is_empty() {
        config.ikev2.proposals.keys().map(String::as_str).collect()
    } else {
        config
            .ikev2
            .policies
            .values()
            .flat_map(|p| p.proposals.iter().map(|n| n.value.as_str()))
            .collect()
    };
    let mut out = Vec::new();
    for name in names {
        let Some(p) = config.ikev2.proposals.get(name) else {
            continue;
        };
        for cipher in &p.encryption {
            let aead = match cipher.value {
                Ikev2Cipher::AesGcm128 => Aead::AesGcm128,
                Ikev2Cipher::AesGcm256 => Aead::AesGcm256,
                Ikev2Cipher::Chacha20Poly1305 => Aead::ChaCha20Poly1305,
                _ => continue,
            };
            let prfs: Vec<Prf> = if p.prf.is_empty() {
                vec![Prf::HmacSha256]
            } else {
                p.prf
                    .iter()
                    .filter_map(|f| match f.value {
                        Ikev2Prf::Sha256 => Some(Prf::HmacSha256),
                        Ikev2Prf::Sha384 => Some(Prf::HmacSha384),
                        Ikev2Prf::Sha512 => Some(Prf::HmacSha512),
                        Ikev2Prf::Sha1 => None,
                    })
                    .collect()
            };
            for prf in prfs {
                for group in &p.groups {
                    let group = match group.value {
                        31 => Group::Curve25519,
                        19 => Group::Ecp256,
                        _ => continue,
                    };
                    let proposal = IkeProposal { aead, prf, group };
                    if !out.contains(&proposal) {
                        out.push(proposal);
                    }
                }
            }
        }
    }
    if out.is_empty() {
        for aead in [Aead::AesGcm256, Aead::AesGcm128, Aead::ChaCha20Poly1305] {
            for group in [Group::Curve25519, Group::Ecp256] {
                out.push(IkeProposal {
                    aead,
                    prf: Prf::HmacSha256,
                    group,
                });
            }
        }
    }
    out
}

/// A crypto map entry (or the dynamic map entry under one) that a responder session can
/// belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponderMatch {
    pub map: String,
    pub seq: u32,
    /// The dynamic map entry, for entries that reference one.
    pub dynamic_seq: Option<u32>,
    pub ike: EntryIke,
    pub psk: Psk,
}

/// Which entry of crypto map `map` answers an IKE_SA_INIT from `peer`: a static
/// `ipsec-isakmp` entry that names the peer, else the first dynamic map entry (in sequence
/// order) for which a pre-shared key for the peer exists.
pub fn responder_match(config: &Config, map: &str, peer: Ipv4Addr) -> Option<ResponderMatch> {
    let cmap = config.crypto_maps.get(map)?;
    for entry in cmap.entries.values() {
        if entry.kind != CryptoMapKind::Isakmp {
            continue;
        }
        let ike = entry_ike(config, &entry.body);
        if !ike.peer_addresses.contains(&peer) {
            continue;
        }
        if let Some(psk) = psk(config, ike.profile.as_deref(), peer) {
            return Some(ResponderMatch {
                map: map.to_string(),
                seq: entry.seq.value,
                dynamic_seq: None,
                ike,
                psk,
            });
        }
    }
    for entry in cmap.entries.values() {
        let CryptoMapKind::Dynamic(name) = &entry.kind else {
            continue;
        };
        let Some(dmap) = config.dynamic_maps.get(&name.value) else {
            continue;
        };
        for d in dmap.entries.values() {
            let ike = entry_ike(config, &d.body);
            if let Some(psk) = psk(config, ike.profile.as_deref(), peer) {
                return Some(ResponderMatch {
                    map: map.to_string(),
                    seq: entry.seq.value,
                    dynamic_seq: Some(d.seq.value),
                    ike,
                    psk,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry's `set security-association replay ...` reaches what its SAs are made with.
    #[test]
    fn entries_carry_their_replay_setting() {
        let body = |replay: &str| {
            let text = format!(
                "crypto ipsec transform-set TS esp-gcm 128\n\
                 crypto dynamic-map DYN 10\n set transform-set TS\n {replay}\n"
            );
            let checked = config::check(&text);
            let body = checked.config.dynamic_maps["DYN"].entries[&10].body.clone();
            entry_ike(&checked.config, &body)
        };
        let default = body("");
        assert_eq!((default.replay_window, default.anti_replay), (None, true));
        let sized = body("set security-association replay window-size 512");
        assert_eq!((sized.replay_window, sized.anti_replay), (Some(512), true));
        let off = body("set security-association replay disable");
        assert_eq!((off.replay_window, off.anti_replay), (None, false));
    }
}
