//! The control thread's side of peer handling: turns acquires from the data plane, results
//! from the key exchange and the passing of time into calls on the [`PeerManager`], and
//! carries out the actions that come back — DNS lookups run on the resolver's runtime
//! without holding anything up, key exchange requests go to a [`KeyExchange`].
//!
//! The key exchange is the narrow interface the issue asks for: `initiate(entry, address)`
//! and `clear(entry, address)` one way, [`Input::Result`] (up, timeout, authentication
//! failure, dead) the other, so that IKEv2 plugs in without changes here.

use crate::dns::{PeerResolver, Resolution};
use crate::entry::{Action, Failure, Outcome};
use crate::manager::{EntryKey, PeerManager};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use tokio::sync::mpsc;

/// What the key exchange is asked to do.
pub trait KeyExchange {
    /// Start a connection attempt for `entry` to `addr`; report with [`Input::Result`].
    fn initiate(&mut self, entry: &EntryKey, addr: Ipv4Addr);
    /// Delete the SAs of `entry` with `addr` (and with them their RRI routes).
    fn clear(&mut self, entry: &EntryKey, addr: Ipv4Addr, reason: &Failure);
}

/// What the driver is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A packet needs the tunnel of an entry (the data plane's acquire).
    Acquire(EntryKey),
    /// The key exchange reports on `addr`.
    Result(EntryKey, Ipv4Addr, Outcome),
    /// Traffic passed through the entry's tunnel.
    Traffic(EntryKey),
}

/// A lookup finished (sent by the lookup task back to the driver).
#[derive(Debug)]
pub struct Resolved {
    entry: EntryKey,
    peer: usize,
    result: Result<Resolution, String>,
}

/// Drives a [`PeerManager`].
#[derive(Debug)]
pub struct PeerDriver {
    manager: PeerManager,
    resolver: Option<PeerResolver>,
    resolved_tx: mpsc::UnboundedSender<Resolved>,
    resolved_rx: mpsc::UnboundedReceiver<Resolved>,
    /// Entries that asked to be woken, and when.
    wake: BTreeMap<EntryKey, u64>,
}

impl PeerDriver {
    /// Drives `manager`; names are looked up with `resolver` (without one, every lookup
    /// fails with a line saying no name server is configured).
    pub fn new(manager: PeerManager, resolver: Option<PeerResolver>) -> Self {
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        PeerDriver {
            manager,
            resolver,
            resolved_tx,
            resolved_rx,
            wake: BTreeMap::new(),
        }
    }

    /// Takes a new configuration (see [`PeerManager::reconfigure`]); timers of entries
    /// that start afresh or went are dropped.
    pub fn reconfigure(
        &mut self,
        config: &config::Config,
        keep: &std::collections::BTreeSet<EntryKey>,
    ) {
        self.manager.reconfigure(config, keep);
        self.wake.retain(|k, _| keep.contains(k));
    }

    /// The manager, for reports.
    pub fn manager(&self) -> &PeerManager {
        &self.manager
    }

    /// The earliest time an entry asked to be woken at.
    pub fn next_wake(&self) -> Option<u64> {
        self.wake.values().min().copied()
    }

    /// Resolves the names without `dynamic`, once (call when a configuration is applied,
    /// from within the resolver's runtime).
    pub async fn apply(&mut self, now: impl Fn() -> u64, kx: &mut dyn KeyExchange) {
        for (key, peer, name) in self.manager.names_to_resolve_at_apply() {
            let result = match &self.resolver {
                Some(r) => r.lookup(&name, now()).await,
                None => Err(format!("{name}: no 'ip name-server' configured")),
            };
            let Some(e) = self.manager.entry_mut(&key.0, key.1) else {
                continue;
            };
            let actions = e.resolved(now(), peer, result);
            self.run(&key, actions, kx);
        }
    }

    /// Handles one input at `now_ns`.
    pub fn handle(&mut self, input: Input, now_ns: u64, kx: &mut dyn KeyExchange) {
        let (key, actions) = match input {
            Input::Acquire(key) => {
                let Some(e) = self.manager.entry_mut(&key.0, key.1) else {
                    return;
                };
                let a = e.demand(now_ns);
                (key, a)
            }
            Input::Result(key, addr, outcome) => {
                let Some(e) = self.manager.entry_mut(&key.0, key.1) else {
                    return;
                };
                let a = e.outcome(now_ns, addr, outcome);
                (key, a)
            }
            Input::Traffic(key) => {
                if let Some(e) = self.manager.entry_mut(&key.0, key.1) {
                    e.traffic(now_ns);
                }
                return;
            }
        };
        self.run(&key, actions, kx);
    }

    /// Feeds finished lookups back and fires due timers.
    pub fn poll(&mut self, now_ns: u64, kx: &mut dyn KeyExchange) {
        while let Ok(r) = self.resolved_rx.try_recv() {
            let Some(e) = self.manager.entry_mut(&r.entry.0, r.entry.1) else {
                continue;
            };
            let actions = e.resolved(now_ns, r.peer, r.result.map(|a| a.at(now_ns)));
            self.run(&r.entry, actions, kx);
        }
        let due: Vec<EntryKey> = self
            .wake
            .iter()
            .filter(|(_, &t)| t <= now_ns)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.wake.remove(&key);
            let Some(e) = self.manager.entry_mut(&key.0, key.1) else {
                continue;
            };
            let actions = e.tick(now_ns);
            self.run(&key, actions, kx);
        }
    }

    /// Waits until a lookup finishes or `deadline` passes (for the control loop's idle time).
    pub async fn wait_resolved(&mut self, timeout: std::time::Duration) {
        if let Ok(Some(r)) = tokio::time::timeout(timeout, self.resolved_rx.recv()).await {
            // Put it back for poll to handle with the caller's clock.
            let _ = self.resolved_tx.send(r);
        }
    }

    fn run(&mut self, key: &EntryKey, actions: Vec<Action>, kx: &mut dyn KeyExchange) {
        for action in actions {
            match action {
                Action::Initiate { addr, .. } => kx.initiate(key, addr),
                Action::Clear { addr, reason } => kx.clear(key, addr, &reason),
                Action::WakeAt(t) => {
                    let slot = self.wake.entry(key.clone()).or_insert(t);
                    *slot = (*slot).min(t);
                }
                Action::Resolve { peer, name } => {
                    let tx = self.resolved_tx.clone();
                    let entry = key.clone();
                    match self.resolver.clone() {
                        Some(resolver) => {
                            tokio::spawn(async move {
                                let result = resolver.resolve(&name).await;
                                let _ = tx.send(Resolved {
                                    entry,
                                    peer,
                                    result,
                                });
                            });
                        }
                        None => {
                            let _ = tx.send(Resolved {
                                entry,
                                peer,
                                result: Err(format!("{name}: no 'ip name-server' configured")),
                            });
                        }
                    }
                }
            }
        }
    }
}
