//! Building the first snapshots from a configuration: routes into a RIB and FIB, ports,
//! crypto maps and manual-key SAs into a [`Policy`]. The control thread (and tests) start
//! from here; later changes are published the same way.

use crate::compiled::{CryptoMapPolicy, InboundBinding, MapEntryPolicy, Policy, PortPolicy};
use crate::crypto::SaCrypto;
use acl::Classifier;
use config::model::{CryptoMapKind, DfBit, Direction, PeerTarget, Replay, Transform};
use config::Config;
use esp::{DfPolicy, InboundSa, OutboundSa, Padding, SaParams, TunnelTemplate};
use fib::{Adjacency, Fib, FibReader, PublishPolicy};
use rib::{Names, RouteEngine};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

/// A port the daemon opened for a configured interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    /// The interface name as configured.
    pub interface: String,
    pub port: u16,
    pub mac: [u8; 6],
}

impl PortBinding {
    /// Configured interface `interface` on port `port`, whose MAC is `mac`.
    pub fn new(interface: impl Into<String>, port: u16, mac: [u8; 6]) -> Self {
        PortBinding {
            interface: interface.into(),
            port,
            mac,
        }
    }
}

/// What [`from_config`] builds.
#[derive(Debug)]
pub struct Built {
    pub policy: Policy,
    pub engine: RouteEngine,
    pub fib: Fib,
    pub reader: FibReader,
}

/// Why a configuration could not become a data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

fn err(msg: impl Into<String>) -> BuildError {
    BuildError(msg.into())
}

/// Pushes the RIB's pending best-route changes into the FIB and publishes.
pub fn sync_fib(engine: &mut RouteEngine, fib: &mut Fib) {
    let now = Instant::now();
    for change in engine.rib.take_changes() {
        let adjacency = change.entry.map(|e| Adjacency {
            interface: e.resolved.interface.0,
            gateway: e.resolved.gateway,
        });
        fib.set(
            change.vrf.0,
            change.prefix.addr,
            change.prefix.len,
            adjacency,
            now,
        );
    }
    fib.publish();
}

/// Builds routes and policy from `config` for the ports in `ports`, at `now_ns` (the SA
/// clock). Crypto map entries with manual keys (`ipsec-manual`, `set session-key`) get their
/// SAs, on the engines `crypto` attaches; others get none until IKE provides them.
pub fn from_config(
    config: &Config,
    ports: &[PortBinding],
    now_ns: u64,
    crypto: &dyn SaCrypto,
) -> Result<Built, BuildError> {
    let mut engine = RouteEngine::new();
    engine.apply_config(config);
    let (mut fib, reader) = Fib::new(PublishPolicy::default());
    sync_fib(&mut engine, &mut fib);
    let policy = policy_from_config(config, ports, &mut engine.names, now_ns, None, crypto)?;
    Ok(Built {
        policy,
        engine,
        fib,
        reader,
    })
}

/// Manual-key SAs of a running policy that a new one may keep.
#[derive(Debug, Clone, Copy)]
pub struct Keep<'a> {
    /// The running policy.
    pub old: &'a Policy,
    /// The crypto map entries (map, seq) that did not change: their SAs (and counters,
    /// sequence numbers and replay windows) carry over instead of starting again.
    pub unchanged: &'a BTreeSet<(String, u32)>,
}

/// Builds the policy alone (ports, crypto maps, manual-key SAs) with interface and VRF
/// indexes from `names`. With `keep`, an unchanged manual entry keeps the running SAs of
/// the same SPIs; learned neighbours carry over. New SAs get their engines from `crypto`.
pub fn policy_from_config(
    config: &Config,
    ports: &[PortBinding],
    names: &mut Names,
    now_ns: u64,
    keep: Option<Keep<'_>>,
    crypto: &dyn SaCrypto,
) -> Result<Policy, BuildError> {
    let mut policy = Policy::default();
    if let Some(k) = keep {
        policy.neighbours = k.old.neighbours.clone();
        policy.generation = k.old.generation + 1;
    }
    let mut map_index: BTreeMap<String, u32> = BTreeMap::new();
    for binding in ports {
        let iface = config
            .interfaces
            .iter()
            .find(|i| i.name.value == binding.interface)
            .ok_or_else(|| {
                err(format!(
                    "port {} is bound to {}, which is not configured",
                    binding.port, binding.interface
                ))
            })?;
        let vrf_name = iface.vrf.as_ref().map(|v| v.value.name.as_str());
        let vrf = names.vrf(vrf_name).0;
        let if_index = names.interface(&iface.name.value).0 as usize;
        if policy.interface_ports.len() <= if_index {
            policy.interface_ports.resize(if_index + 1, None);
        }
        policy.interface_ports[if_index] = Some(binding.port);
        let mut addresses: Vec<(Ipv4Addr, u8)> = iface
            .address
            .iter()
            .map(|a| (a.value.addr, a.value.len))
            .collect();
        addresses.extend(
            iface
                .secondary_addresses
                .iter()
                .map(|a| (a.value.addr, a.value.len)),
        );
        let mtu = iface
            .ip_mtu
            .as_ref()
            .or(iface.mtu.as_ref())
            .map_or(1500, |m| m.value);
        let crypto_map = match &iface.crypto_map {
            Some(m) => {
                let next = map_index.len() as u32;
                Some(*map_index.entry(m.value.name.clone()).or_insert(next))
            }
            None => None,
        };
        let slot = usize::from(binding.port);
        if policy.ports.len() <= slot {
            policy.ports.resize(slot + 1, None);
        }
        policy.ports[slot] = Some(PortPolicy {
            name: iface.name.value.clone(),
            mac: binding.mac,
            addresses,
            mtu,
            vrf,
            crypto_map,
        });
    }
    policy.index_local_addresses();

    let df = match config.ipsec_global.df_bit.as_ref().map(|d| d.value) {
        Some(DfBit::Set) => DfPolicy::Set,
        Some(DfBit::Clear) => DfPolicy::Clear,
        _ => DfPolicy::Copy,
    };
    let global_window = config.ipsec_global.replay_window.as_ref().map(|w| w.value);
    let mut maps: Vec<Option<CryptoMapPolicy>> = (0..map_index.len()).map(|_| None).collect();
    for (name, &index) in &map_index {
        let map = config
            .crypto_maps
            .get(name)
            .ok_or_else(|| err(format!("crypto map {name} is applied but not defined")))?;
        // The map's local address: the first port that carries it.
        let local = policy
            .ports
            .iter()
            .flatten()
            .find(|p| p.crypto_map == Some(index))
            .and_then(|p| p.primary_address())
            .ok_or_else(|| {
                err(format!(
                    "crypto map {name} is on an interface without an address"
                ))
            })?;
        let vrf = policy
            .ports
            .iter()
            .flatten()
            .find(|p| p.crypto_map == Some(index))
            .map_or(0, |p| p.vrf);
        let mut compiled = CryptoMapPolicy {
            name: name.clone(),
            classifier: Classifier::new(),
            entries: Vec::new(),
        };
        for entry in map.entries.values() {
            let body = &entry.body;
            let Some(acl_name) = &body.match_address else {
                continue;
            };
            let Some(acl) = config.access_lists.get(&acl_name.value) else {
                continue;
            };
            let tag = compiled.entries.len() as u32;
            compiled.classifier.push_acl(acl, tag);
            let peer = body
                .peers
                .iter()
                .find(|p| p.value.default)
                .or_else(|| body.peers.first())
                .and_then(|p| match p.value.target {
                    PeerTarget::Address(a) => Some(a),
                    PeerTarget::Host { .. } => None,
                });
            let mut outbound = None;
            let kept = keep
                .filter(|k| k.unchanged.contains(&(name.clone(), entry.seq.value)))
                .and_then(|k| {
                    let m = k.old.maps.iter().find(|m| &m.name == name)?;
                    m.entries.iter().find(|e| e.seq == entry.seq.value)
                });
            if let (CryptoMapKind::Manual, Some(running), Some(k)) = (&entry.kind, kept, keep) {
                outbound = running.outbound.clone();
                for key in &body.session_keys {
                    if key.value.direction == Direction::Inbound {
                        if let Some(binding) = k.old.inbound.get(&key.value.spi) {
                            policy.inbound.insert(key.value.spi, binding.clone());
                        }
                    }
                }
            } else if entry.kind == CryptoMapKind::Manual {
                let peer = peer.ok_or_else(|| {
                    err(format!(
                        "crypto map {name} {}: a manual entry needs a peer address",
                        entry.seq.value
                    ))
                })?;
                let transform = body
                    .transform_sets
                    .first()
                    .and_then(|t| config.transform_sets.get(&t.value))
                    .and_then(|t| t.aead())
                    .ok_or_else(|| {
                        err(format!(
                            "crypto map {name} {}: no supported AEAD transform set",
                            entry.seq.value
                        ))
                    })?;
                let transform = match transform {
                    Transform::EspGcm(128) => esp::Transform::AesGcm128,
                    Transform::EspGcm(256) => esp::Transform::AesGcm256,
                    Transform::EspChacha20Poly1305 => esp::Transform::ChaCha20Poly1305,
                    other => return Err(err(format!("transform {other} is not supported"))),
                };
                let window = match body.replay.as_ref().map(|r| r.value) {
                    Some(Replay::WindowSize(n)) => n,
                    _ => global_window.unwrap_or(SaParams::DEFAULT_REPLAY_WINDOW),
                }
                .clamp(32, SaParams::MAX_REPLAY_WINDOW);
                let anti_replay = !matches!(
                    body.replay.as_ref().map(|r| r.value),
                    Some(Replay::Disabled)
                );
                for key in &body.session_keys {
                    let key = &key.value;
                    let (src, dst) = match key.direction {
                        Direction::Outbound => (local, peer),
                        Direction::Inbound => (peer, local),
                    };
                    let mut tunnel = TunnelTemplate::new(src, dst);
                    tunnel.df = df;
                    let mut params = SaParams::from_keymat(key.spi, transform, &key.cipher, tunnel)
                        .map_err(|e| {
                            err(format!(
                                "crypto map {name} {} SPI {}: {e}",
                                entry.seq.value, key.spi
                            ))
                        })?;
                    params.replay_window = window;
                    params.anti_replay = anti_replay;
                    params.padding = Padding::default();
                    match key.direction {
                        Direction::Outbound => {
                            let sa =
                                OutboundSa::new(&params, now_ns).map_err(|e| err(e.to_string()))?;
                            outbound = Some(Arc::new(crypto.outbound(sa, &params)));
                        }
                        Direction::Inbound => {
                            let sa =
                                InboundSa::new(&params, now_ns).map_err(|e| err(e.to_string()))?;
                            let sa = crypto.inbound(sa, &params);
                            let mut selectors = Classifier::new();
                            selectors.push_acl_mirrored(acl, 0);
                            policy.inbound.insert(
                                key.spi,
                                InboundBinding {
                                    sa: Arc::new(sa),
                                    selectors,
                                    vrf,
                                },
                            );
                        }
                    }
                }
            }
            compiled
                .entries
                .push(MapEntryPolicy::new(entry.seq.value, peer, outbound));
        }
        maps[index as usize] = Some(compiled);
    }
    policy.maps = maps.into_iter().flatten().collect();
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RingOnly;

    const KEY_IN: &str = "000102030405060708090a0b0c0d0e0f10111213";
    const KEY_OUT: &str = "101112131415161718191a1b1c1d1e1f20212223";

    /// A manual entry's inbound SA as `replay` (a `set security-association ...` line, or
    /// nothing) makes it.
    fn manual_inbound(replay: &str) -> Arc<InboundSa> {
        let text = format!(
            "interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
access-list 101 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
crypto ipsec transform-set GCM esp-gcm 128
crypto map VPN 10 ipsec-manual
 set peer 192.0.2.2
 set transform-set GCM
 match address 101
 {replay}
 set session-key inbound esp 4096 cipher {KEY_IN}
 set session-key outbound esp 8192 cipher {KEY_OUT}
"
        );
        let checked = config::check(&text);
        assert!(
            !checked.diagnostics.has_errors(),
            "{:?}",
            checked.diagnostics
        );
        let ports = [PortBinding::new(
            "GigabitEthernet0/1",
            0,
            [2, 0, 0, 0, 0, 1],
        )];
        let built = from_config(&checked.config, &ports, 0, &RingOnly).unwrap();
        built.policy.inbound[&4096].sa.clone()
    }

    #[test]
    fn manual_sas_take_their_entrys_replay_setting() {
        let default = manual_inbound("");
        assert!(default.anti_replay());
        assert_eq!(
            default.window().size(),
            u64::from(SaParams::DEFAULT_REPLAY_WINDOW)
        );
        let sized = manual_inbound("set security-association replay window-size 1024");
        assert!(sized.anti_replay());
        assert_eq!(sized.window().size(), 1024);
        let off = manual_inbound("set security-association replay disable");
        assert!(!off.anti_replay());
    }
}
