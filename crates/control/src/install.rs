//! Carrying the key engine's SA changes into the data plane and the routing table.
//!
//! * `Up`: both directions are built as `esp` SAs (ESP in UDP 4500 when NAT traversal is in
//!   use), the inbound one bound to its SPI with the negotiated selectors as the policy
//!   check, the outbound one made the current SA of its crypto map entry (for a dynamic map,
//!   a new entry is added at the end of the map, matching the negotiated selectors), and the
//!   remote selectors go to RRI. A new policy is published; workers pick it up at their next
//!   burst.
//! * `Rekeyed`: the new SA pair is installed and the entry's outbound SA replaced in the same
//!   publication (make-before-break); the old inbound SA stays for [`RETIRE_DELAY_NS`] for
//!   packets the peer sent before it switched. RRI sees the new SA before the old one goes,
//!   so refcounted routes never blink.
//! * `Down`: both directions go, the entry has no SA (traffic raises an acquire again), RRI
//!   withdraws what only this SA needed.
//!
//! Lifetimes: the hard limit stops the SA in the data plane; the kilobyte soft limit (90 %)
//! raises a rekey request that [`SaTable::rekey_due`] reports; time-based rekeying is the
//! key engine's own timer.

use crate::engine::{Change, Installed, SaId};
use crate::selectors;
use acl::Classifier;
use config::model::DfBit;
use config::Config;
use esp::{DfPolicy, InboundSa, Lifetime, LifetimeLimits, OutboundSa, SaParams, TunnelTemplate};
use fib::Fib;
use ike::sk::Aead;
use policy::build::sync_fib;
use policy::{InboundBinding, MapEntryPolicy, Policy, PolicyHandle, SaCrypto};
use rib::rri::{SaOrigin, SaUp};
use rib::{Prefix, RouteEngine};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// How long an old inbound SA stays after a rekey.
pub const RETIRE_DELAY_NS: u64 = 5_000_000_000;

#[derive(Debug)]
struct Live {
    info: Installed,
    map_index: usize,
    entry_index: usize,
    dynamic: bool,
    outbound: Arc<OutboundSa>,
    inbound: Arc<InboundSa>,
}

/// The installed SAs.
#[derive(Debug)]
pub struct SaTable {
    /// The AES-GCM engines every SA installed here is given.
    crypto: Arc<dyn SaCrypto>,
    live: FxHashMap<SaId, Live>,
    /// Old inbound SPIs to remove at a time.
    retiring: Vec<(u64, u32)>,
    /// Dynamic entries whose SA went, to be reused: (map index, entry index).
    free_dynamic: Vec<(usize, usize)>,
    df: DfPolicy,
    replay_window: u32,
    /// SAs that could not be installed (a key or map the data plane refused).
    pub refused: u64,
}

fn transform(aead: Aead) -> esp::Transform {
    match aead {
        Aead::AesGcm128 => esp::Transform::AesGcm128,
        Aead::AesGcm256 => esp::Transform::AesGcm256,
        Aead::ChaCha20Poly1305 => esp::Transform::ChaCha20Poly1305,
    }
}

impl SaTable {
    /// The AES-GCM engines SAs are made with (the reload builds manual SAs with them too).
    pub fn crypto(&self) -> &dyn SaCrypto {
        &*self.crypto
    }

    /// A table for `config`'s SAs, made with `crypto`'s engines.
    pub fn new(config: &Config, crypto: Arc<dyn SaCrypto>) -> Self {
        let mut t = SaTable {
            crypto,
            live: FxHashMap::default(),
            retiring: Vec::new(),
            free_dynamic: Vec::new(),
            df: DfPolicy::default(),
            replay_window: SaParams::DEFAULT_REPLAY_WINDOW,
            refused: 0,
        };
        t.set_config(config);
        t
    }

    /// DF-bit handling and the replay window for SAs installed from now on.
    pub fn set_config(&mut self, config: &Config) {
        self.df = match config.ipsec_global.df_bit.as_ref().map(|d| d.value) {
            Some(DfBit::Set) => DfPolicy::Set,
            Some(DfBit::Clear) => DfPolicy::Clear,
            _ => DfPolicy::Copy,
        };
        self.replay_window = config
            .ipsec_global
            .replay_window
            .as_ref()
            .map_or(SaParams::DEFAULT_REPLAY_WINDOW, |w| w.value)
            .clamp(32, SaParams::MAX_REPLAY_WINDOW);
    }

    fn params(&self, i: &Installed, inbound: bool) -> Result<SaParams, String> {
        let c = &i.child;
        let (spi, key, src, dst) = if inbound {
            (c.spi_in, &c.key_in, i.peer, i.local)
        } else {
            (c.spi_out, &c.key_out, i.local, i.peer)
        };
        let mut tunnel = TunnelTemplate::new(src, dst);
        tunnel.df = self.df;
        if c.udp_encap {
            tunnel.udp = Some(esp::UdpEncap {
                src_port: wire::udp::NAT_T_PORT,
                dst_port: wire::udp::NAT_T_PORT,
            });
        }
        let mut p = SaParams::from_keymat(spi, transform(c.aead), key, tunnel)
            .map_err(|e| e.to_string())?;
        p.replay_window = i.replay_window.map_or(self.replay_window, |w| {
            w.clamp(32, SaParams::MAX_REPLAY_WINDOW)
        });
        p.anti_replay = i.anti_replay;
        // Time is the key engine's to watch (it rekeys before this); volume is watched
        // by the data plane.
        p.lifetime = Lifetime {
            soft: LifetimeLimits {
                kilobytes: i.lifetime_kb.map(|k| k - k / 10),
                ..LifetimeLimits::default()
            },
            hard: LifetimeLimits {
                seconds: Some(i.lifetime_s),
                kilobytes: i.lifetime_kb,
                packets: None,
            },
        };
        Ok(p)
    }

    /// Applies changes: a new policy is published and the FIB synced if anything changed.
    pub fn apply(
        &mut self,
        changes: Vec<Change>,
        policy: &PolicyHandle,
        routes: &mut RouteEngine,
        fib: &mut Fib,
        now_ns: u64,
    ) {
        if changes.is_empty() {
            return;
        }
        let mut next: Policy = (**policy.load()).clone();
        for change in changes {
            match change {
                Change::Up(info) => {
                    tracing::info!(target: "rri::ipsec", map = %info.origin.map, seq = info.origin.seq, peer = %info.peer, "SA up: inbound spi 0x{:08X}, outbound spi 0x{:08X}", info.child.spi_in, info.child.spi_out);
                    if let Err(why) = self.install(&mut next, info, None, routes, now_ns) {
                        self.refused += 1;
                        tracing::warn!(target: "rri::sa", %why, "SA not installed");
                    }
                }
                Change::Rekeyed { old, new } => {
                    let Some(prev) = self.live.remove(&old) else {
                        if let Err(why) = self.install(&mut next, new, None, routes, now_ns) {
                            self.refused += 1;
                            tracing::warn!(target: "rri::sa", %why, "SA not installed");
                        }
                        continue;
                    };
                    let reuse = Some((prev.map_index, prev.entry_index, prev.dynamic));
                    let new_spi_out = new.child.spi_out;
                    if let Err(why) = self.install(&mut next, new, reuse, routes, now_ns) {
                        self.refused += 1;
                        tracing::warn!(target: "rri::sa", %why, "rekeyed SA not installed");
                        self.live.insert(old, prev);
                        continue;
                    }
                    tracing::info!(target: "rri::ipsec", map = %prev.info.origin.map, seq = prev.info.origin.seq, peer = %prev.info.peer, "SA rekeyed: outbound spi 0x{:08X} replaces 0x{:08X}", new_spi_out, prev.info.child.spi_out);
                    self.retiring
                        .push((now_ns + RETIRE_DELAY_NS, prev.info.child.spi_in));
                    routes.sa_down(old);
                }
                Change::Down(id) => {
                    let Some(gone) = self.live.remove(&id) else {
                        continue;
                    };
                    tracing::info!(target: "rri::ipsec", map = %gone.info.origin.map, seq = gone.info.origin.seq, peer = %gone.info.peer, "SA deleted: inbound spi 0x{:08X}, outbound spi 0x{:08X}", gone.info.child.spi_in, gone.info.child.spi_out);
                    next.inbound.remove(&gone.info.child.spi_in);
                    if let Some(entry) = next
                        .maps
                        .get_mut(gone.map_index)
                        .and_then(|m| m.entries.get_mut(gone.entry_index))
                    {
                        if entry
                            .outbound
                            .as_ref()
                            .is_some_and(|o| Arc::ptr_eq(o, &gone.outbound))
                        {
                            entry.outbound = None;
                        }
                    }
                    if gone.dynamic && gone.map_index != usize::MAX {
                        retire_dynamic_entry(&mut next, gone.map_index, gone.entry_index);
                        self.free_dynamic.push((gone.map_index, gone.entry_index));
                    }
                    routes.sa_down(id);
                }
            }
        }
        next.generation += 1;
        policy.store(Arc::new(next));
        sync_fib(routes, fib);
    }

    fn install(
        &mut self,
        next: &mut Policy,
        info: Installed,
        reuse: Option<(usize, usize, bool)>,
        routes: &mut RouteEngine,
        now_ns: u64,
    ) -> Result<(), String> {
        let map_index = next
            .maps
            .iter()
            .position(|m| m.name == info.origin.map)
            .ok_or_else(|| format!("crypto map {} is not applied to a port", info.origin.map))?;
        let out_params = self.params(&info, false)?;
        let outbound = Arc::new(self.crypto.outbound(
            OutboundSa::new(&out_params, now_ns).map_err(|e| e.to_string())?,
            &out_params,
        ));
        let in_params = self.params(&info, true)?;
        let inbound = Arc::new(self.crypto.inbound(
            InboundSa::new(&in_params, now_ns).map_err(|e| e.to_string())?,
            &in_params,
        ));
        let dynamic = info.origin.dynamic_seq.is_some();
        let entry_index = self.place(next, &info, map_index, reuse, &outbound, &inbound)?;
        let origin = match info.origin.dynamic_seq {
            Some(dynamic_seq) => SaOrigin::DynamicMap {
                map: info.origin.map.clone(),
                seq: info.origin.seq,
                dynamic_seq,
            },
            None => SaOrigin::CryptoMap {
                map: info.origin.map.clone(),
                seq: info.origin.seq,
            },
        };
        routes.sa_up(SaUp {
            id: info.id,
            origin,
            peer: info.peer,
            interface: None,
            remote_proxies: selectors::prefixes(&info.child.ts_remote)
                .into_iter()
                .map(|(addr, len)| Prefix { addr, len })
                .collect(),
        });
        self.live.insert(
            info.id,
            Live {
                info,
                map_index,
                entry_index,
                dynamic,
                outbound,
                inbound,
            },
        );
        Ok(())
    }

    /// Puts an SA pair into `next`: the outbound SA on its entry (a new entry at the end of
    /// a dynamic map, matching the negotiated selectors), the inbound SA bound to its SPI
    /// with those selectors as the check. Returns the entry's index.
    fn place(
        &mut self,
        next: &mut Policy,
        info: &Installed,
        map_index: usize,
        reuse: Option<(usize, usize, bool)>,
        outbound: &Arc<OutboundSa>,
        inbound: &Arc<InboundSa>,
    ) -> Result<usize, String> {
        let dynamic = info.origin.dynamic_seq.is_some();
        let entry_index = match reuse {
            Some((_, e, _)) => e,
            None if dynamic => {
                let tag = match self.free_dynamic.iter().position(|(m, _)| *m == map_index) {
                    Some(p) => self.free_dynamic.swap_remove(p).1,
                    None => {
                        let map = &mut next.maps[map_index];
                        map.entries
                            .push(MapEntryPolicy::new(info.origin.seq, None, None));
                        map.entries.len() - 1
                    }
                };
                for rule in
                    selectors::rules(&info.child.ts_local, &info.child.ts_remote, tag as u32)
                {
                    next.maps[map_index].classifier.push_rule(rule);
                }
                tag
            }
            None => next.maps[map_index]
                .entries
                .iter()
                .position(|e| e.seq == info.origin.seq)
                .ok_or_else(|| {
                    format!(
                        "crypto map {} {} has no compiled entry",
                        info.origin.map, info.origin.seq
                    )
                })?,
        };
        let vrf = next
            .ports
            .iter()
            .flatten()
            .find(|p| p.crypto_map == Some(map_index as u32))
            .map_or(0, |p| p.vrf);
        let mut check = Classifier::new();
        for rule in selectors::rules(&info.child.ts_remote, &info.child.ts_local, 0) {
            check.push_rule(rule);
        }
        next.inbound.insert(
            info.child.spi_in,
            InboundBinding {
                sa: inbound.clone(),
                selectors: check,
                vrf,
            },
        );
        let entry = &mut next.maps[map_index].entries[entry_index];
        entry.outbound = Some(outbound.clone());
        entry.peer = Some(info.peer);
        Ok(entry_index)
    }

    /// Places every live SA into `next`, a policy rebuilt from a new configuration, so
    /// that the running SAs (sequence numbers, replay windows, counters) carry over; old
    /// inbound SAs still retiring after a rekey stay bound. Returns the SAs that have no
    /// place in `next` (their map or entry went): clear them through the key engine.
    pub fn rebind(&mut self, old: &Policy, next: &mut Policy) -> Vec<SaId> {
        self.free_dynamic.clear();
        let mut ids: Vec<SaId> = self.live.keys().copied().collect();
        ids.sort_unstable();
        let mut lost = Vec::new();
        for id in ids {
            let Some(mut l) = self.live.remove(&id) else {
                continue;
            };
            let placed = next
                .maps
                .iter()
                .position(|m| m.name == l.info.origin.map)
                .ok_or_else(|| "map gone".to_string())
                .and_then(|m| {
                    let e = self.place(next, &l.info, m, None, &l.outbound, &l.inbound)?;
                    Ok((m, e))
                });
            match placed {
                Ok((m, e)) => (l.map_index, l.entry_index) = (m, e),
                Err(_) => {
                    // Nowhere in `next`: a later Down must not touch whatever sits at the
                    // old indexes now.
                    (l.map_index, l.entry_index) = (usize::MAX, usize::MAX);
                    lost.push(id);
                }
            }
            self.live.insert(id, l);
        }
        for (_, spi) in &self.retiring {
            if let Some(b) = old.inbound.get(spi) {
                next.inbound.insert(*spi, b.clone());
            }
        }
        lost
    }

    /// Removes old inbound SAs whose delay after a rekey is over.
    pub fn poll(&mut self, policy: &PolicyHandle, now_ns: u64) {
        if !self.retiring.iter().any(|(at, _)| now_ns >= *at) {
            return;
        }
        let mut next: Policy = (**policy.load()).clone();
        self.retiring.retain(|(at, spi)| {
            if now_ns >= *at {
                next.inbound.remove(spi);
                false
            } else {
                true
            }
        });
        next.generation += 1;
        policy.store(Arc::new(next));
    }

    /// A child SA's packet counters: (inbound, outbound).
    pub fn traffic(&self, id: SaId) -> Option<(u64, u64)> {
        let l = self.live.get(&id)?;
        Some((
            l.inbound.counters().snapshot().packets,
            l.outbound.counters().snapshot().packets,
        ))
    }

    /// SAs whose outbound side asked for a rekey (a volume soft limit).
    pub fn rekey_due(&self) -> Vec<SaId> {
        self.live
            .iter()
            .filter(|(_, l)| l.outbound.rekey_requested().is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The installed SAs.
    pub fn installed(&self) -> impl Iterator<Item = &Installed> {
        self.live.values().map(|l| &l.info)
    }

    /// Inbound SPIs waiting to be retired.
    pub fn retiring(&self) -> usize {
        self.retiring.len()
    }
}

/// Takes a dynamic entry out of its map's classifier (its index stays, to be reused).
fn retire_dynamic_entry(policy: &mut Policy, map_index: usize, entry_index: usize) {
    let Some(map) = policy.maps.get_mut(map_index) else {
        return;
    };
    let kept: Vec<acl::Rule> = map
        .classifier
        .rules()
        .iter()
        .copied()
        .filter(|r| r.tag != entry_index as u32)
        .collect();
    let mut c = Classifier::new();
    for r in kept {
        c.push_rule(r);
    }
    map.classifier = c;
    if let Some(e) = map.entries.get_mut(entry_index) {
        e.outbound = None;
        e.peer = None;
    }
}
