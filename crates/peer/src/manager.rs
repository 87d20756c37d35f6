//! Every crypto map entry's peers, built from a configuration.

use crate::entry::{
    Backoff, Dampening, EntryPeers, EntrySettings, IdleTimer, PeerName, PeerSpec, NS_PER_S,
};
use config::model::{Config, PeerTarget};
use std::collections::BTreeMap;

/// How long one acquire keeps failover going when no further packet asks (the data plane
/// raises an acquire per entry and peer at most once a second while traffic waits).
pub const DEMAND_HOLD_NS: u64 = 10 * NS_PER_S;

/// A crypto map entry: map name and sequence number.
pub type EntryKey = (String, u32);

/// The peer logic of every crypto map entry of a configuration.
#[derive(Debug, Clone, Default)]
pub struct PeerManager {
    entries: BTreeMap<EntryKey, EntryPeers>,
}

/// Appends `domain` to a name without a dot (`ip domain name`); a trailing dot marks a name
/// as complete and is removed.
pub fn qualify(name: &str, domain: Option<&str>) -> String {
    if let Some(full) = name.strip_suffix('.') {
        return full.to_string();
    }
    match domain {
        Some(d) if !name.contains('.') && !d.is_empty() => {
            format!("{name}.{}", d.trim_end_matches('.'))
        }
        _ => name.to_string(),
    }
}

/// The settings of one entry: its peers, the idle timer in force, and the global anti-flap
/// policy.
pub fn entry_settings(config: &Config, body: &config::model::MapEntryBody) -> EntrySettings {
    let domain = config.domain_name.as_ref().map(|d| d.value.as_str());
    let peers = body
        .peers
        .iter()
        .map(|p| PeerSpec {
            name: match &p.value.target {
                PeerTarget::Address(a) => PeerName::Address(*a),
                PeerTarget::Host { name, dynamic } => PeerName::Host {
                    name: qualify(name, domain),
                    dynamic: *dynamic,
                },
            },
            default: p.value.default,
        })
        .collect();
    let global_idle = config.ipsec_global.idle_time.as_ref().map(|t| t.value);
    // IOS does not apply a map idle time equal to the global one (the guide's restriction);
    // the global timer, which never goes back to the default peer, is then in force.
    let map_idle = body
        .idle_time
        .as_ref()
        .filter(|t| Some(t.value.seconds) != global_idle);
    let idle = match (map_idle, global_idle) {
        (Some(t), _) => Some(IdleTimer {
            seconds: t.value.seconds,
            to_default: t.value.default_peer,
        }),
        (None, Some(g)) => Some(IdleTimer {
            seconds: g,
            to_default: false,
        }),
        (None, None) => None,
    };
    let backoff = config
        .peer_policy
        .backoff
        .as_ref()
        .map_or_else(Backoff::default, |b| Backoff {
            initial_ns: u64::from(b.value.initial_ms) * 1_000_000,
            maximum_ns: u64::from(b.value.maximum_ms) * 1_000_000,
        });
    let dampening = config.peer_policy.dampening.as_ref().map(|d| Dampening {
        half_life_ns: u64::from(d.value.half_life_s) * NS_PER_S,
        reuse: f64::from(d.value.reuse),
        suppress: f64::from(d.value.suppress),
        max_suppress_ns: u64::from(d.value.max_suppress_s) * NS_PER_S,
    });
    EntrySettings {
        peers,
        idle,
        backoff,
        dampening,
        demand_hold_ns: DEMAND_HOLD_NS,
    }
}

impl PeerManager {
    /// One [`EntryPeers`] per `crypto map NAME SEQ` entry with at least one peer.
    pub fn from_config(config: &Config) -> Self {
        let mut entries = BTreeMap::new();
        for (name, map) in &config.crypto_maps {
            for (seq, entry) in &map.entries {
                if entry.body.peers.is_empty() {
                    continue;
                }
                let settings = entry_settings(config, &entry.body);
                entries.insert(
                    (name.clone(), *seq),
                    EntryPeers::new(format!("{name} {seq}"), settings),
                );
            }
        }
        PeerManager { entries }
    }

    /// Takes a new configuration: entries in `keep` keep their state (current peer,
    /// failures, timers); the others start afresh from `config`, and entries no longer
    /// configured go.
    pub fn reconfigure(&mut self, config: &Config, keep: &std::collections::BTreeSet<EntryKey>) {
        let mut next = PeerManager::from_config(config);
        for (key, entry) in next.entries.iter_mut() {
            if keep.contains(key) {
                if let Some(running) = self.entries.remove(key) {
                    *entry = running;
                }
            }
        }
        *self = next;
    }

    /// The entry `map seq`.
    pub fn entry(&self, map: &str, seq: u32) -> Option<&EntryPeers> {
        self.entries.get(&(map.to_string(), seq))
    }

    /// The entry `map seq`, to drive.
    pub fn entry_mut(&mut self, map: &str, seq: u32) -> Option<&mut EntryPeers> {
        self.entries.get_mut(&(map.to_string(), seq))
    }

    /// Every entry, in map name then sequence order.
    pub fn entries(&self) -> impl Iterator<Item = (&EntryKey, &EntryPeers)> {
        self.entries.iter()
    }

    /// Every entry, to drive.
    pub fn entries_mut(&mut self) -> impl Iterator<Item = (&EntryKey, &mut EntryPeers)> {
        self.entries.iter_mut()
    }

    /// The host names (without `dynamic`) that are resolved once, when the configuration
    /// is applied: entry, peer index, name. Report each answer with
    /// [`EntryPeers::resolved`].
    pub fn names_to_resolve_at_apply(&self) -> Vec<(EntryKey, usize, String)> {
        let mut out = Vec::new();
        for (key, entry) in &self.entries {
            for (i, p) in entry.peers().iter().enumerate() {
                if let PeerName::Host {
                    name,
                    dynamic: false,
                } = &p.spec.name
                {
                    out.push((key.clone(), i, name.clone()));
                }
            }
        }
        out
    }

    /// `show crypto peer`: every entry at `now_ns`.
    pub fn report(&self, now_ns: u64) -> String {
        let mut out = String::new();
        for entry in self.entries.values() {
            crate::report::render_entry(&mut out, entry, now_ns);
            out.push('\n');
        }
        out
    }
}
