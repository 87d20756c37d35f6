//! One crypto map entry's peers: which one is current, when to resolve its name, when to
//! start a connection attempt, and what to do with each result.
//!
//! The state machine is pure: every call takes the time (`now_ns`, any monotonic origin) and
//! returns the [`Action`]s for the caller to carry out (resolve a name, start a key exchange,
//! clear SAs, call [`EntryPeers::tick`] again at a time). Results come back through
//! [`EntryPeers::resolved`] and [`EntryPeers::outcome`]; results that no longer fit the state
//! (a late answer, an outcome for another address) are ignored and traced.
//!
//! Rules (Cisco's IPsec Preferred Peer and Real-Time Resolution, plus rri's anti-flap):
//! - Peers are tried in configured order, starting with the first. A failed attempt (timeout,
//!   authentication failure, failed or refused DNS lookup) moves to the next address of the
//!   same name, then to the next peer, wrapping.
//! - With a default peer (always the first), the attempt after a failure of another peer goes
//!   to the default peer first; if that fails too, the list continues after the peer that
//!   failed. A failure of the default peer itself moves on to the second peer.
//! - Dead peer detection declaring the current peer dead clears its SAs (which withdraws its
//!   RRI routes) and fails over at once, as above.
//! - The idle timer clears the SAs of a tunnel without traffic for its time; with `default`
//!   the next connection goes to the default peer, without it the current peer stays.
//! - A host name without `dynamic` is resolved once, when the configuration is applied
//!   (again only if that lookup failed). With `dynamic` it is resolved before every attempt
//!   that starts on that peer; every address of the answer is a candidate, tried in order,
//!   and trying the next one reuses the answer while its TTL lasts (after it, the name is
//!   looked up again and the next address of the new answer is tried).
//! - Anti-flap: after each failed attempt the next waits a backoff that doubles from its
//!   initial to its maximum value and resets when a tunnel comes up; with dampening, every
//!   up-then-dead flap adds a penalty that halves each half-life, and a peer whose penalty
//!   reaches the suppress limit is skipped until it decays to the reuse limit (or the maximum
//!   suppression time passes). With every peer suppressed, the entry waits.
//! - Failover continues while there is demand: a packet that needs the tunnel
//!   ([`EntryPeers::demand`]) keeps it alive for `demand_hold_ns`.

use std::fmt;
use std::net::Ipv4Addr;

/// Nanoseconds per second.
pub const NS_PER_S: u64 = 1_000_000_000;

/// Penalty a flap adds (as BGP dampening).
pub const FLAP_PENALTY: f64 = 1000.0;

/// How a peer is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerName {
    /// An address.
    Address(Ipv4Addr),
    /// A host name; `dynamic` resolves it before every attempt.
    Host {
        /// Fully qualified (the domain name already appended where needed).
        name: String,
        /// `set peer NAME dynamic`.
        dynamic: bool,
    },
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerName::Address(a) => write!(f, "{a}"),
            PeerName::Host { name, dynamic } => {
                write!(f, "{name}{}", if *dynamic { " dynamic" } else { "" })
            }
        }
    }
}

/// One `set peer` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// Address or name.
    pub name: PeerName,
    /// `default` (only ever on the first peer).
    pub default: bool,
}

/// `set security-association idletime N [default]` (or the global idle time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleTimer {
    /// Seconds without traffic in either direction.
    pub seconds: u32,
    /// Whether the next connection goes to the default peer.
    pub to_default: bool,
}

/// Wait between failed attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// After the first failure.
    pub initial_ns: u64,
    /// The most it doubles to.
    pub maximum_ns: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ns: NS_PER_S,
            maximum_ns: 30 * NS_PER_S,
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 = the first).
    pub fn delay(&self, failures: u32) -> u64 {
        if failures == 0 {
            return 0;
        }
        let doubled = self
            .initial_ns
            .saturating_mul(1u64 << (failures - 1).min(40));
        doubled.min(self.maximum_ns)
    }
}

/// Flap dampening of peers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dampening {
    /// Time for the penalty to halve.
    pub half_life_ns: u64,
    /// Penalty under which a suppressed peer is used again.
    pub reuse: f64,
    /// Penalty at which a peer is suppressed.
    pub suppress: f64,
    /// Longest suppression.
    pub max_suppress_ns: u64,
}

/// Everything an entry's peer logic is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct EntrySettings {
    /// In configured order; must not be empty.
    pub peers: Vec<PeerSpec>,
    /// The idle timer in force (the entry's, else the global one).
    pub idle: Option<IdleTimer>,
    /// Wait between failed attempts.
    pub backoff: Backoff,
    /// Flap dampening, if configured.
    pub dampening: Option<Dampening>,
    /// How long one packet's demand for the tunnel keeps failover going.
    pub demand_hold_ns: u64,
}

/// A DNS answer for a peer name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Every address returned, in the order given: each is a candidate.
    pub addrs: Vec<Ipv4Addr>,
    /// When the answer was received.
    pub resolved_ns: u64,
    /// When its TTL runs out.
    pub valid_until_ns: u64,
    /// Whether it was DNSSEC-validated.
    pub secure: bool,
}

/// What the key exchange reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The tunnel is up (SAs installed).
    Up,
    /// The peer did not answer in time.
    Timeout,
    /// The peer answered but authentication failed.
    AuthFailure,
    /// Dead peer detection declared an established peer dead.
    Dead,
    /// The tunnel went away without a failure (the peer deleted it, or it was cleared): the
    /// next connection starts over, at the default peer when there is one.
    Down,
}

/// Why a peer stopped being used (or was never reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Connection attempt timed out.
    Timeout,
    /// Authentication failed.
    AuthFailure,
    /// Dead peer detection.
    Dead,
    /// Idle timer: no traffic.
    Idle,
    /// The name could not be resolved (or the answer was refused), with the reason.
    Dns(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => write!(f, "connection timed out"),
            Failure::AuthFailure => write!(f, "authentication failed"),
            Failure::Dead => write!(f, "dead peer detected"),
            Failure::Idle => write!(f, "idle timer expired"),
            Failure::Dns(why) => write!(f, "DNS: {why}"),
        }
    }
}

/// What the caller is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Look the name of peer `peer` up and report it with [`EntryPeers::resolved`].
    Resolve {
        /// Index in the peer list.
        peer: usize,
        /// The name.
        name: String,
    },
    /// Start a key exchange with `addr` and report with [`EntryPeers::outcome`].
    Initiate {
        /// Index in the peer list.
        peer: usize,
        /// Address to connect to.
        addr: Ipv4Addr,
    },
    /// Delete the SAs with `addr` (their RRI routes go with them).
    Clear {
        /// The peer address.
        addr: Ipv4Addr,
        /// Why.
        reason: Failure,
    },
    /// Call [`EntryPeers::tick`] at this time.
    WakeAt(u64),
}

/// Where the entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No tunnel and nothing under way.
    Idle,
    /// Waiting for backoff or dampening before the next attempt.
    Waiting {
        /// Not before.
        until_ns: u64,
    },
    /// Resolving the current peer's name.
    Resolving {
        /// Peer index.
        peer: usize,
    },
    /// Key exchange under way.
    Connecting {
        /// Peer index.
        peer: usize,
        /// Address tried.
        addr: Ipv4Addr,
    },
    /// Tunnel up.
    Up {
        /// Peer index.
        peer: usize,
        /// Peer address.
        addr: Ipv4Addr,
        /// Since when.
        since_ns: u64,
    },
}

/// Per-peer counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounters {
    /// Connection attempts started.
    pub attempts: u64,
    /// Tunnels that came up.
    pub ups: u64,
    /// Attempts that timed out.
    pub timeouts: u64,
    /// Authentication failures.
    pub auth_failures: u64,
    /// Failed or refused lookups.
    pub dns_failures: u64,
    /// Declared dead while up.
    pub dead: u64,
    /// Torn down by the idle timer.
    pub idle: u64,
    /// Times failover skipped the peer because it was suppressed.
    pub suppressed_skips: u64,
}

/// One peer of the entry and what is known about it.
#[derive(Debug, Clone)]
pub struct PeerState {
    /// As configured.
    pub spec: PeerSpec,
    /// The last DNS answer (names only).
    pub answer: Option<Answer>,
    /// The last failure and when.
    pub last_failure: Option<(u64, Failure)>,
    /// Counters.
    pub counters: PeerCounters,
    penalty: f64,
    penalty_at_ns: u64,
    suppressed_since: Option<u64>,
}

impl PeerState {
    fn new(spec: PeerSpec) -> Self {
        PeerState {
            spec,
            answer: None,
            last_failure: None,
            counters: PeerCounters::default(),
            penalty: 0.0,
            penalty_at_ns: 0,
            suppressed_since: None,
        }
    }

    /// The flap penalty at `now_ns`.
    pub fn penalty(&self, dampening: Option<&Dampening>, now_ns: u64) -> f64 {
        let Some(d) = dampening else { return 0.0 };
        let age = now_ns.saturating_sub(self.penalty_at_ns) as f64;
        self.penalty * 0.5f64.powf(age / d.half_life_ns as f64)
    }
}

/// The peers of one crypto map entry.
#[derive(Debug, Clone)]
pub struct EntryPeers {
    label: String,
    settings: EntrySettings,
    peers: Vec<PeerState>,
    current: usize,
    /// Index into the current peer's answer.
    addr_index: usize,
    /// While the default peer is tried as a detour: where the list continues if it fails.
    detour_return: Option<usize>,
    phase: Phase,
    demand_until_ns: u64,
    consecutive_failures: u32,
    last_traffic_ns: u64,
    last_decision: Option<(u64, String)>,
}

impl EntryPeers {
    /// An entry named `label` (for logs and reports, e.g. `VPN 10`).
    ///
    /// # Panics
    /// Never; an empty peer list gives an entry that never connects (validation refuses
    /// such configurations before they get here).
    pub fn new(label: impl Into<String>, settings: EntrySettings) -> Self {
        let peers = settings.peers.iter().cloned().map(PeerState::new).collect();
        EntryPeers {
            label: label.into(),
            settings,
            peers,
            current: 0,
            addr_index: 0,
            detour_return: None,
            phase: Phase::Idle,
            demand_until_ns: 0,
            consecutive_failures: 0,
            last_traffic_ns: 0,
            last_decision: None,
        }
    }

    /// The entry's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The settings in force.
    pub fn settings(&self) -> &EntrySettings {
        &self.settings
    }

    /// The peers and what is known about them.
    pub fn peers(&self) -> &[PeerState] {
        &self.peers
    }

    /// Index of the current peer.
    pub fn current(&self) -> usize {
        self.current
    }

    /// Where the entry stands.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The address of the established tunnel, if up.
    pub fn up_address(&self) -> Option<Ipv4Addr> {
        match self.phase {
            Phase::Up { addr, .. } => Some(addr),
            _ => None,
        }
    }

    /// The last decision taken and when.
    pub fn last_decision(&self) -> Option<&(u64, String)> {
        self.last_decision.as_ref()
    }

    fn has_default(&self) -> bool {
        self.peers.first().is_some_and(|p| p.spec.default)
    }

    fn decide(&mut self, now_ns: u64, what: String) {
        tracing::info!(target: "rri::peer", entry = %self.label, "{what}");
        self.last_decision = Some((now_ns, what));
    }

    /// A packet needs the tunnel (an acquire from the data plane).
    pub fn demand(&mut self, now_ns: u64) -> Vec<Action> {
        self.demand_until_ns = now_ns.saturating_add(self.settings.demand_hold_ns);
        match self.phase {
            Phase::Idle => self.start(now_ns),
            Phase::Waiting { until_ns } if now_ns >= until_ns => self.start(now_ns),
            Phase::Waiting { until_ns } => vec![Action::WakeAt(until_ns)],
            _ => Vec::new(),
        }
    }

    /// Traffic passed through the tunnel (either direction) at `now_ns`.
    pub fn traffic(&mut self, now_ns: u64) {
        self.last_traffic_ns = self.last_traffic_ns.max(now_ns);
    }

    /// Timers: the idle timer of an established tunnel, the end of a wait.
    pub fn tick(&mut self, now_ns: u64) -> Vec<Action> {
        match self.phase {
            Phase::Up { addr, .. } => {
                let Some(idle) = self.settings.idle else {
                    return Vec::new();
                };
                let limit = u64::from(idle.seconds) * NS_PER_S;
                let quiet = now_ns.saturating_sub(self.last_traffic_ns);
                if quiet < limit {
                    return vec![Action::WakeAt(self.last_traffic_ns + limit)];
                }
                let peer = self.current;
                self.peers[peer].counters.idle += 1;
                self.peers[peer].last_failure = Some((now_ns, Failure::Idle));
                self.phase = Phase::Idle;
                self.demand_until_ns = 0;
                if idle.to_default && self.has_default() {
                    self.current = 0;
                    self.addr_index = 0;
                    self.detour_return = None;
                    self.decide(
                        now_ns,
                        format!(
                            "idle {} s with {addr}: SAs deleted, next connection to default peer {}",
                            quiet / NS_PER_S,
                            self.peers[0].spec.name
                        ),
                    );
                } else {
                    self.decide(
                        now_ns,
                        format!(
                            "idle {} s with {addr}: SAs deleted, {} stays current",
                            quiet / NS_PER_S,
                            self.peers[peer].spec.name
                        ),
                    );
                }
                vec![Action::Clear {
                    addr,
                    reason: Failure::Idle,
                }]
            }
            Phase::Waiting { until_ns } if now_ns >= until_ns => {
                if now_ns < self.demand_until_ns {
                    self.start(now_ns)
                } else {
                    self.phase = Phase::Idle;
                    Vec::new()
                }
            }
            Phase::Waiting { until_ns } => vec![Action::WakeAt(until_ns)],
            _ => Vec::new(),
        }
    }

    /// The answer (or failure) of a lookup asked for with [`Action::Resolve`], or of the
    /// lookup made when the configuration was applied (for names without `dynamic`).
    pub fn resolved(
        &mut self,
        now_ns: u64,
        peer: usize,
        result: Result<Answer, String>,
    ) -> Vec<Action> {
        let Some(state) = self.peers.get_mut(peer) else {
            return Vec::new();
        };
        let name = state.spec.name.to_string();
        match (&result, self.phase) {
            (Ok(answer), _) if !answer.addrs.is_empty() => {
                state.answer = Some(answer.clone());
            }
            _ => {}
        }
        if self.phase != (Phase::Resolving { peer }) {
            tracing::debug!(target: "rri::peer", entry = %self.label, %name, "answer stored, no attempt waiting for it");
            return Vec::new();
        }
        match result {
            Ok(answer) if !answer.addrs.is_empty() => {
                // A lookup made while going through a name's addresses (the TTL ran out)
                // carries on with the next one rather than starting over.
                if self.addr_index >= answer.addrs.len() {
                    self.addr_index = 0;
                }
                let list: Vec<String> = answer.addrs.iter().map(|a| a.to_string()).collect();
                self.decide(
                    now_ns,
                    format!(
                        "{name} resolved to {} (TTL {} s{})",
                        list.join(", "),
                        answer.valid_until_ns.saturating_sub(now_ns) / NS_PER_S,
                        if answer.secure { ", DNSSEC secure" } else { "" }
                    ),
                );
                self.connect(now_ns, peer, answer.addrs[self.addr_index])
            }
            Ok(_) => self.fail(now_ns, Failure::Dns("no IPv4 address".into())),
            Err(why) => self.fail(now_ns, Failure::Dns(why)),
        }
    }

    /// What the key exchange reports about `addr`.
    pub fn outcome(&mut self, now_ns: u64, addr: Ipv4Addr, outcome: Outcome) -> Vec<Action> {
        match (self.phase, outcome) {
            (Phase::Connecting { peer, addr: a }, Outcome::Up) if a == addr => {
                self.peers[peer].counters.ups += 1;
                self.consecutive_failures = 0;
                self.detour_return = None;
                self.last_traffic_ns = now_ns;
                self.phase = Phase::Up {
                    peer,
                    addr,
                    since_ns: now_ns,
                };
                self.decide(
                    now_ns,
                    format!("tunnel up with {} at {addr}", self.peers[peer].spec.name),
                );
                match self.settings.idle {
                    Some(idle) => vec![Action::WakeAt(now_ns + u64::from(idle.seconds) * NS_PER_S)],
                    None => Vec::new(),
                }
            }
            (Phase::Connecting { addr: a, .. }, Outcome::Timeout | Outcome::Dead) if a == addr => {
                self.fail(now_ns, Failure::Timeout)
            }
            (Phase::Connecting { addr: a, .. }, Outcome::AuthFailure) if a == addr => {
                self.fail(now_ns, Failure::AuthFailure)
            }
            (Phase::Up { peer, addr: a, .. }, Outcome::Dead) if a == addr => {
                let d = self.settings.dampening;
                let state = &mut self.peers[peer];
                state.counters.dead += 1;
                state.last_failure = Some((now_ns, Failure::Dead));
                if let Some(d) = d {
                    state.penalty = state.penalty(Some(&d), now_ns) + FLAP_PENALTY;
                    state.penalty_at_ns = now_ns;
                    if state.penalty >= d.suppress && state.suppressed_since.is_none() {
                        state.suppressed_since = Some(now_ns);
                    }
                }
                let from = self.peers[peer].spec.name.to_string();
                self.advance_peer();
                self.phase = Phase::Idle;
                self.demand_until_ns = now_ns.saturating_add(self.settings.demand_hold_ns);
                self.decide(
                    now_ns,
                    format!(
                        "{from} at {addr} is dead: SAs deleted, trying {}",
                        self.peers[self.current].spec.name
                    ),
                );
                let mut actions = vec![Action::Clear {
                    addr,
                    reason: Failure::Dead,
                }];
                actions.extend(self.start(now_ns));
                actions
            }
            (Phase::Up { peer, addr: a, .. }, Outcome::Down) if a == addr => {
                self.phase = Phase::Idle;
                self.demand_until_ns = 0;
                let from = self.peers[peer].spec.name.to_string();
                if self.has_default() {
                    self.current = 0;
                    self.addr_index = 0;
                    self.detour_return = None;
                }
                self.decide(
                    now_ns,
                    format!(
                        "tunnel with {from} at {addr} deleted: next connection to {}",
                        self.peers[self.current].spec.name
                    ),
                );
                Vec::new()
            }
            _ => {
                tracing::debug!(target: "rri::peer", entry = %self.label, %addr, ?outcome, phase = ?self.phase, "result ignored: no attempt or tunnel with that address");
                Vec::new()
            }
        }
    }

    fn suppressed(&mut self, peer: usize, now_ns: u64) -> Option<u64> {
        let d = self.settings.dampening?;
        let state = &mut self.peers[peer];
        let since = state.suppressed_since?;
        let penalty = state.penalty(Some(&d), now_ns);
        let max_end = since.saturating_add(d.max_suppress_ns);
        if penalty <= d.reuse || now_ns >= max_end {
            state.suppressed_since = None;
            return None;
        }
        // When the penalty decays to the reuse limit, or the maximum suppression ends.
        let halvings = (penalty / d.reuse).log2();
        let reuse_at = now_ns + (halvings * d.half_life_ns as f64).ceil() as u64;
        Some(reuse_at.min(max_end))
    }

    /// Starts an attempt on the current peer (or the first unsuppressed one after it).
    fn start(&mut self, now_ns: u64) -> Vec<Action> {
        if self.peers.is_empty() {
            return Vec::new();
        }
        let n = self.peers.len();
        let mut earliest: Option<u64> = None;
        let mut chosen = None;
        for k in 0..n {
            let p = (self.current + k) % n;
            match self.suppressed(p, now_ns) {
                Some(reuse_at) => {
                    self.peers[p].counters.suppressed_skips += 1;
                    earliest = Some(earliest.map_or(reuse_at, |e: u64| e.min(reuse_at)));
                }
                None => {
                    chosen = Some(p);
                    break;
                }
            }
        }
        let Some(p) = chosen else {
            let until_ns = earliest.unwrap_or(now_ns);
            self.phase = Phase::Waiting { until_ns };
            self.decide(
                now_ns,
                format!(
                    "every peer is suppressed for flapping; next attempt in {} ms",
                    (until_ns - now_ns) / 1_000_000
                ),
            );
            return vec![Action::WakeAt(until_ns)];
        };
        if p != self.current {
            let skipped = self.peers[self.current].spec.name.to_string();
            self.current = p;
            self.addr_index = 0;
            self.detour_return = None;
            self.decide(
                now_ns,
                format!(
                    "{skipped} is suppressed for flapping; trying {}",
                    self.peers[p].spec.name
                ),
            );
        }
        match self.peers[p].spec.name.clone() {
            PeerName::Address(addr) => self.connect(now_ns, p, addr),
            PeerName::Host { name, dynamic } => {
                let usable = self.peers[p].answer.as_ref().and_then(|a| {
                    let fresh_enough = if dynamic {
                        // A new attempt on this peer looks the name up again; further
                        // addresses of the same answer are used while its TTL lasts.
                        self.addr_index > 0 && now_ns < a.valid_until_ns
                    } else {
                        true
                    };
                    a.addrs
                        .get(self.addr_index)
                        .copied()
                        .filter(|_| fresh_enough)
                });
                match usable {
                    Some(addr) => self.connect(now_ns, p, addr),
                    None => {
                        self.phase = Phase::Resolving { peer: p };
                        self.decide(now_ns, format!("resolving {name} before connecting"));
                        vec![Action::Resolve { peer: p, name }]
                    }
                }
            }
        }
    }

    fn connect(&mut self, now_ns: u64, peer: usize, addr: Ipv4Addr) -> Vec<Action> {
        self.peers[peer].counters.attempts += 1;
        self.phase = Phase::Connecting { peer, addr };
        self.decide(
            now_ns,
            format!(
                "connecting to {} at {addr}{}",
                self.peers[peer].spec.name,
                if self.detour_return.is_some() {
                    " (default peer first after a failure)"
                } else {
                    ""
                }
            ),
        );
        vec![Action::Initiate { peer, addr }]
    }

    /// A failed attempt: record it, move on, wait the backoff.
    fn fail(&mut self, now_ns: u64, failure: Failure) -> Vec<Action> {
        let peer = self.current;
        let c = &mut self.peers[peer].counters;
        match &failure {
            Failure::Timeout => c.timeouts += 1,
            Failure::AuthFailure => c.auth_failures += 1,
            Failure::Dns(_) => c.dns_failures += 1,
            Failure::Dead | Failure::Idle => {}
        }
        let from = self.peers[peer].spec.name.to_string();
        self.peers[peer].last_failure = Some((now_ns, failure.clone()));
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let wait = self.settings.backoff.delay(self.consecutive_failures);
        let next_address = match &failure {
            // A lookup failure has no further address to try.
            Failure::Dns(_) => false,
            _ => self.peers[peer].answer.as_ref().is_some_and(|a| {
                matches!(self.peers[peer].spec.name, PeerName::Host { .. })
                    && self.addr_index + 1 < a.addrs.len()
            }),
        };
        if next_address {
            self.addr_index += 1;
        } else {
            self.advance_peer();
        }
        let until_ns = now_ns.saturating_add(wait);
        self.phase = Phase::Waiting { until_ns };
        let next = match (next_address, &self.peers[self.current].answer) {
            (true, Some(a)) => format!("{} at {}", from, a.addrs[self.addr_index]),
            _ => self.peers[self.current].spec.name.to_string(),
        };
        self.decide(
            now_ns,
            format!(
                "{from}: {failure}; next attempt to {next} in {} ms",
                wait / 1_000_000
            ),
        );
        if now_ns < self.demand_until_ns {
            if wait == 0 {
                return self.start(now_ns);
            }
            vec![Action::WakeAt(until_ns)]
        } else {
            Vec::new()
        }
    }

    /// Moves `current` to the peer failover goes to next.
    fn advance_peer(&mut self) {
        let n = self.peers.len();
        self.addr_index = 0;
        if let Some(back) = self.detour_return.take() {
            // The default peer was tried first after a failure and failed too.
            self.current = back;
        } else if self.has_default() && self.current != 0 {
            let after = (self.current + 1) % n;
            if after != 0 {
                self.detour_return = Some(after);
            }
            self.current = 0;
        } else {
            self.current = (self.current + 1) % n;
        }
    }
}
