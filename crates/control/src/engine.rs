//! The key engine: every IKE SA of the gateway, sans-IO. It takes IKE datagrams (with the
//! addresses they came from and to), connection requests from the peer manager, and the
//! passing of time; it returns datagrams to send, SA changes for the data plane and RRI,
//! and outcomes for the peer manager.
//!
//! * Initiator: [`KeyEngine::initiate`] for a static `ipsec-isakmp` entry and the peer the
//!   peer manager chose, with the entry's crypto ACL as proposed selectors.
//! * Responder: an IKE_SA_INIT on an address whose interface carries a crypto map is
//!   answered for the static entry that names the peer, else for the first dynamic map
//!   entry with a key for it; selectors are narrowed to what that entry permits.
//! * Rekeying: each child SA is rekeyed before its lifetime ends (the IKE SA's initiator at
//!   85 % of it, the responder at 95 %, so that the two rarely collide); the new SA is
//!   reported as [`Change::Rekeyed`] so that the data plane switches outbound at once and
//!   keeps the old inbound SA a while.
//! * Dead peer detection as configured (`dpd INTERVAL RETRY periodic|on-demand`): child SA
//!   counters are sampled every second; a liveness check goes out when INTERVAL passes
//!   without inbound traffic (periodic), or without inbound traffic while something was sent
//!   (on demand), and is sent five times RETRY seconds apart; the peer is dead RETRY seconds after the last,
//!   INTERVAL + 5 x RETRY after its last sign of life (plus up to a second of sampling).
//! * Bounds (see [`Limits`]): at most `max_sessions` IKE SAs; at most `max_half_open`
//!   responder SAs not yet established (half-open), and `max_half_open_per_peer` from one
//!   address; a half-open SA that is not established within `half_open_timeout_ns` (30 s
//!   unless configured) is forgotten, so that spoofed IKE_SA_INITs cannot hold the table.
//!   From [`KeyEngine::cookie_threshold`] live half-open SAs on, an IKE_SA_INIT without a
//!   valid cookie gets a stateless cookie request (RFC 7296 section 2.6) and nothing else.
//!   IKE_SA_INITs that would make state (past the cookie check) are rate-limited per source
//!   address (a token bucket each, `init_rate_per_s` with a burst of `init_burst`): checked
//!   after the cookie, so that spoofed sources, which cannot return cookies, cannot use up
//!   a real peer's allowance. IKE_SA_INITs beyond any bound are dropped and counted. Every datagram that is not for a known SA and is not a
//!   new IKE_SA_INIT is counted and dropped. Floods are logged as counters in at most one
//!   line per [`FLOOD_LOG_EVERY_NS`], never a line per datagram.
//! * Cost: a datagram finds its session through a per-address index, so its cost does not
//!   grow with the number of sessions.

use crate::ikeconf::{self, EntryIke, ResponderMatch};
use config::model::CryptoMapKind;
use config::Config;
use ike::message::{exchange, flags, parse_header};
use ike::sa::{ChildSa, Event, IkeSa, Output, Settings};
use peer::manager::EntryKey;
use peer::Outcome;
use ring::rand::SystemRandom;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

pub use rib::rri::SaId;

const IKE_PORT: u16 = 500;
const NAT_T_PORT: u16 = 4500;
/// How long after a refused or postponed IKE SA rekey it is tried again.
const IKE_REKEY_RETRY_NS: u64 = 60_000_000_000;
/// How long after a child SA rekey that could not start (another exchange of the IKE SA in
/// flight, one at a time) it is tried again.
const CHILD_REKEY_RETRY_NS: u64 = 1_000_000_000;
/// How often child SA traffic is sampled for dead peer detection.
const DPD_SAMPLE_NS: u64 = 1_000_000_000;
/// At most one log line about refused or unmatched IKE_SA_INITs this often.
pub const FLOOD_LOG_EVERY_NS: u64 = 10_000_000_000;
/// Source addresses the IKE_SA_INIT rate limit tracks at most (its memory is bounded
/// whatever the number of sources; past it, idle ones are forgotten first, and a new address
/// that still finds no room goes untracked, bounded by the half-open limits alone).
const INIT_TRACKED: usize = 4096;

/// Which configuration an IKE SA serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub map: String,
    pub seq: u32,
    /// The dynamic map entry, for sessions of `ipsec-isakmp dynamic` entries.
    pub dynamic_seq: Option<u32>,
}

impl Origin {
    /// The crypto map entry, as the peer manager names it.
    pub fn entry(&self) -> EntryKey {
        (self.map.clone(), self.seq)
    }
}

/// One IKE session as `show crypto session` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionView {
    pub map: String,
    pub seq: u32,
    pub dynamic_seq: Option<u32>,
    pub status: &'static str,
    pub peer: Ipv4Addr,
    pub local: Ipv4Addr,
    /// 500, or 4500 once NAT traversal is in use.
    pub port: u16,
    pub initiator: bool,
    pub ike_spi_initiator: u64,
    pub ike_spi_responder: u64,
    /// (inbound, outbound) SPIs of the child SAs.
    pub child_spis: Vec<(u32, u32)>,
}

/// A datagram to send (from port 4500 with the non-ESP marker in front once NAT traversal
/// is in use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub from: SocketAddrV4,
    pub to: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// A child SA as the data plane installs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub id: SaId,
    pub origin: Origin,
    pub local: Ipv4Addr,
    pub peer: Ipv4Addr,
    pub child: ChildSa,
    pub lifetime_s: u64,
    pub lifetime_kb: Option<u64>,
    /// The entry's anti-replay window, when it sets its own.
    pub replay_window: Option<u32>,
    /// Whether the inbound SA drops replays.
    pub anti_replay: bool,
}

/// What changes in the data plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Install both directions; outbound takes over the entry's traffic.
    Up(Installed),
    /// `new` replaces `old`: outbound switches now, the old inbound stays a while.
    Rekeyed { old: SaId, new: Installed },
    /// Remove both directions (and the routes RRI made for it).
    Down(SaId),
}

/// Everything one call produced.
#[derive(Debug, Default)]
pub struct EngineOutput {
    pub transmit: Vec<Transmit>,
    pub changes: Vec<Change>,
    /// For the peer manager: (entry, peer, outcome).
    pub outcomes: Vec<(EntryKey, Ipv4Addr, Outcome)>,
}

/// Bounds on state. `crypto ikev2 limit max-sa N` and `crypto ikev2 limit
/// max-in-negotiation-sa N` set the first two, as on IOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// IKE SAs of any kind.
    pub max_sessions: usize,
    /// Responder IKE SAs not yet established (half-open).
    pub max_half_open: usize,
    /// Half-open responder SAs from one address.
    pub max_half_open_per_peer: usize,
    /// How long a half-open responder SA waits for its IKE_AUTH.
    pub half_open_timeout_ns: u64,
    /// New IKE_SA_INITs accepted per second from one source address (on average) ...
    pub init_rate_per_s: u32,
    /// ... and at once.
    pub init_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 10_000,
            max_half_open: 256,
            max_half_open_per_peer: 16,
            half_open_timeout_ns: 30_000_000_000,
            init_rate_per_s: 10,
            init_burst: 20,
        }
    }
}

/// Counts of what the engine refused or could not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub datagrams: u64,
    pub malformed: u64,
    pub unknown_spi: u64,
    /// IKE_SA_INITs refused because a bound was reached (half-open, per address, sessions).
    pub half_open_refused: u64,
    /// Half-open responder SAs forgotten because their IKE_AUTH did not come in time.
    pub half_open_expired: u64,
    /// IKE_SA_INITs over a source address's rate.
    pub rate_limited: u64,
    pub no_matching_entry: u64,
    /// IKE_SA_INITs answered with a cookie request.
    pub cookies_sent: u64,
    pub initiated: u64,
    pub responded: u64,
}

/// Traffic counters of a child SA: (inbound packets, outbound packets).
pub type TrafficOf<'a> = &'a dyn Fn(SaId) -> Option<(u64, u64)>;

#[derive(Debug)]
struct Child {
    id: SaId,
    spi_in: u32,
    spi_out: u32,
    rekey_at_ns: Option<u64>,
}

#[derive(Debug)]
struct Session {
    sa: IkeSa,
    origin: Origin,
    local: Ipv4Addr,
    peer: Ipv4Addr,
    ike: EntryIke,
    initiator: bool,
    children: Vec<Child>,
    reported_up: bool,
    /// Deleting on request: no further outcomes.
    closing: bool,
    gone: bool,
    /// When traffic is next sampled for dead peer detection.
    next_dpd_ns: Option<u64>,
    /// Child SA packet counters (in, out) at the last sample.
    dpd_traffic: (u64, u64),
    /// When inbound traffic (or a liveness answer) was last seen.
    last_rx_ns: u64,
    /// Whether anything was sent since then (on-demand DPD checks only then).
    sent_since_rx: bool,
    /// When the IKE SA is next rekeyed (set once it is up).
    ike_rekey_at_ns: Option<u64>,
    /// A responder SA not yet established: counted in `KeyEngine::half_open`, and forgotten
    /// at this time unless established by then.
    half_open_until_ns: Option<u64>,
}

/// A token bucket of the per-source IKE_SA_INIT rate limit, in thousandths of a request.
#[derive(Debug, Clone, Copy, Default)]
struct InitBucket {
    milli_tokens: u64,
    at_ns: u64,
}

/// At most one line per [`FLOOD_LOG_EVERY_NS`] about what a flood did, with the counts.
#[derive(Debug, Default)]
struct FloodLog {
    next_ns: u64,
    refused_at_last: u64,
}

/// The key engine.
#[derive(Debug)]
pub struct KeyEngine {
    config: Arc<Config>,
    proposals: Vec<ike::sa::IkeProposal>,
    sessions: Vec<Session>,
    /// Session positions by peer address (rebuilt when sessions are swept).
    by_peer: rustc_hash::FxHashMap<Ipv4Addr, Vec<usize>>,
    /// Live half-open responder SAs.
    half_open: usize,
    /// Whether a session went since the last sweep.
    any_gone: bool,
    init_buckets: rustc_hash::FxHashMap<Ipv4Addr, InitBucket>,
    flood_log: FloodLog,
    rng: SystemRandom,
    /// The secret behind cookies (drawn at start).
    cookie_key: ring::hmac::Key,
    next_sa: u64,
    pub limits: Limits,
    pub stats: EngineStats,
    /// IKE request retransmission: first after this long, doubling, this many times.
    pub retransmit_ns: u64,
    pub retransmit_tries: u32,
}

impl KeyEngine {
    pub fn new(config: Arc<Config>) -> Self {
        let rng = SystemRandom::new();
        let cookie_key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0u8; 32]));
        let mut engine = KeyEngine {
            cookie_key,
            proposals: ikeconf::ike_proposals(&config),
            config,
            sessions: Vec::new(),
            by_peer: Default::default(),
            half_open: 0,
            any_gone: false,
            init_buckets: Default::default(),
            flood_log: FloodLog::default(),
            rng,
            next_sa: 1,
            limits: Limits::default(),
            stats: EngineStats::default(),
            retransmit_ns: 500_000_000,
            retransmit_tries: 3,
        };
        engine.apply_configured_limits();
        engine
    }

    /// Half-open responder SAs from which on cookies are required: `crypto ikev2
    /// cookie-challenge N`, else a quarter of the half-open bound.
    pub fn cookie_threshold(&self) -> usize {
        self.config
            .ikev2
            .cookie_challenge
            .as_ref()
            .map_or(self.limits.max_half_open / 4, |c| c.value as usize)
    }

    /// The cookie for an initiator: a secret's version byte, then HMAC(secret, Ni | IPi |
    /// port | SPIi) truncated to 16 bytes.
    fn cookie_for(&self, nonce: &[u8], from: SocketAddrV4, spi_i: u64) -> Vec<u8> {
        let mut ctx = ring::hmac::Context::with_key(&self.cookie_key);
        ctx.update(nonce);
        ctx.update(&from.ip().octets());
        ctx.update(&from.port().to_be_bytes());
        ctx.update(&spi_i.to_be_bytes());
        let tag = ctx.sign();
        let mut cookie = vec![0u8];
        cookie.extend_from_slice(&tag.as_ref()[..16]);
        cookie
    }

    fn nonce_and_cookie(payload: &[u8]) -> Option<(u64, Vec<u8>, Option<Vec<u8>>)> {
        let m = ike::message::Message::parse(payload).ok()?;
        let nonce = m.payloads.iter().find_map(|p| match p {
            ike::message::Payload::Nonce(n) => Some(n.clone()),
            _ => None,
        })?;
        let cookie = m.payloads.iter().find_map(|p| match p {
            ike::message::Payload::Notify { kind, data, .. }
                if *kind == ike::sa::notify::COOKIE =>
            {
                Some(data.clone())
            }
            _ => None,
        });
        Some((m.header.spi_i, nonce, cookie))
    }

    fn cookie_ok(&self, payload: &[u8], from: SocketAddrV4) -> bool {
        let Some((spi_i, nonce, Some(cookie))) = Self::nonce_and_cookie(payload) else {
            return false;
        };
        let expected = self.cookie_for(&nonce, from, spi_i);
        bool::from(subtle::ConstantTimeEq::ct_eq(
            cookie.as_slice(),
            expected.as_slice(),
        ))
    }

    fn cookie_answer(&self, payload: &[u8], from: SocketAddrV4) -> Option<Vec<u8>> {
        let (spi_i, nonce, _) = Self::nonce_and_cookie(payload)?;
        let header = parse_header(payload).ok()?;
        Some(
            ike::message::Message {
                header: ike::message::Header {
                    spi_r: 0,
                    flags: flags::RESPONSE,
                    ..header
                },
                payloads: vec![ike::message::Payload::Notify {
                    protocol: 0,
                    spi: Vec::new(),
                    kind: ike::sa::notify::COOKIE,
                    data: self.cookie_for(&nonce, from, spi_i),
                }],
            }
            .emit(),
        )
    }

    /// Takes a new configuration for sessions started from now on.
    pub fn set_config(&mut self, config: Arc<Config>) {
        self.proposals = ikeconf::ike_proposals(&config);
        self.config = config;
        self.apply_configured_limits();
    }

    /// `crypto ikev2 limit max-sa` and `max-in-negotiation-sa`, where configured.
    fn apply_configured_limits(&mut self) {
        let ik = &self.config.ikev2;
        let default = Limits::default();
        self.limits.max_sessions = ik
            .limit_max_sa
            .as_ref()
            .map_or(default.max_sessions, |n| n.value as usize);
        self.limits.max_half_open = ik
            .limit_max_in_negotiation
            .as_ref()
            .map_or(default.max_half_open, |n| n.value as usize);
    }

    /// For fuzzing only: `inner` sealed as the live IKE SA with `peer` would seal its own
    /// message (its SPIs, role and key), so that a fuzzer can hand that SA's peer messages
    /// that pass the ICV. `None` without such an SA or before it has keys.
    #[cfg(feature = "fuzzing")]
    pub fn seal_for_fuzzing(
        &mut self,
        peer: Ipv4Addr,
        exchange: u8,
        message_id: u32,
        response: bool,
        inner: &[ike::message::Payload],
    ) -> Option<Vec<u8>> {
        let s = self
            .sessions
            .iter_mut()
            .find(|s| !s.gone && s.peer == peer)?;
        s.sa.seal_for_fuzzing(exchange, message_id, response, inner)
    }

    /// Live half-open responder SAs (not established, not timed out).
    pub fn half_open_count(&self) -> usize {
        self.half_open
    }

    /// Adds a session and indexes it.
    fn push_session(&mut self, session: Session) -> usize {
        let at = self.sessions.len();
        if session.half_open_until_ns.is_some() {
            self.half_open += 1;
        }
        self.by_peer.entry(session.peer).or_default().push(at);
        self.sessions.push(session);
        at
    }

    /// Takes session `at` out of the half-open count once it is established or gone.
    fn settle_half_open(&mut self, at: usize) {
        let s = &mut self.sessions[at];
        if s.half_open_until_ns.is_some() && (s.gone || s.sa.established()) {
            s.half_open_until_ns = None;
            self.half_open -= 1;
        }
    }

    /// Whether a new IKE_SA_INIT from `peer` is within its address's rate (and takes a token).
    fn init_allowed(&mut self, peer: Ipv4Addr, now_ns: u64) -> bool {
        let burst = u64::from(self.limits.init_burst) * 1000;
        let rate = u64::from(self.limits.init_rate_per_s).max(1);
        // A bucket idle long enough to be full again holds nothing worth keeping.
        let refill_ns = burst / rate * 1_000_000;
        if self.init_buckets.len() >= INIT_TRACKED && !self.init_buckets.contains_key(&peer) {
            self.init_buckets
                .retain(|_, b| now_ns.saturating_sub(b.at_ns) < refill_ns);
            if self.init_buckets.len() >= INIT_TRACKED {
                return true;
            }
        }
        let bucket = self.init_buckets.entry(peer).or_default();
        if bucket.at_ns == 0 {
            bucket.milli_tokens = burst;
            bucket.at_ns = now_ns.max(1);
        } else {
            // Credited by whole milliseconds, and the clock moved by what was credited only,
            // so that a source sending more often than once a millisecond still refills.
            let ms = now_ns.saturating_sub(bucket.at_ns) / 1_000_000;
            bucket.milli_tokens = (bucket.milli_tokens + ms * rate).min(burst);
            bucket.at_ns += ms * 1_000_000;
        }
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// One line, now and then, about IKE_SA_INITs refused since the last.
    fn log_flood(&mut self, now_ns: u64) {
        let st = &self.stats;
        let refused = st.half_open_refused + st.rate_limited + st.no_matching_entry;
        if now_ns < self.flood_log.next_ns || refused == self.flood_log.refused_at_last {
            return;
        }
        tracing::warn!(
            target: "rri::ike",
            refused = refused - self.flood_log.refused_at_last,
            half_open = self.half_open,
            half_open_refused = st.half_open_refused,
            rate_limited = st.rate_limited,
            no_matching_entry = st.no_matching_entry,
            cookies_sent = st.cookies_sent,
            "IKE_SA_INITs refused (totals since start; at most one such line every {} s)",
            FLOOD_LOG_EVERY_NS / 1_000_000_000
        );
        self.flood_log = FloodLog {
            next_ns: now_ns + FLOOD_LOG_EVERY_NS,
            refused_at_last: refused,
        };
    }

    fn settings(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        ike: &EntryIke,
        psk: ike::sa::Psk,
    ) -> Settings {
        Settings {
            ike: self.proposals.clone(),
            esp: ike.esp.clone(),
            psk,
            local_id: *local.ip(),
            local_ts: ike.local_ts.clone(),
            remote_ts: ike.remote_ts.clone(),
            retransmit_ns: self.retransmit_ns,
            retransmit_tries: self.retransmit_tries,
            local,
            remote,
            force_encap: false,
            liveness_retry_ns: ike.dpd.map(|d| d.retry_ns),
            liveness_tries: ikeconf::DPD_RETRIES,
        }
    }

    /// The address a crypto map's IKE runs from: `local-address IF`, else the first
    /// interface it is applied to.
    fn map_local_address(&self, map: &str) -> Option<Ipv4Addr> {
        let cfg = &self.config;
        let named = cfg
            .crypto_maps
            .get(map)?
            .local_address
            .as_ref()
            .map(|i| i.value.clone());
        cfg.interfaces
            .iter()
            .find(|i| match &named {
                Some(n) => i.name.value == *n,
                None => i.crypto_map.as_ref().is_some_and(|m| m.value.name == map),
            })
            .and_then(|i| i.address.as_ref())
            .map(|a| a.value.addr)
    }

    /// Starts an IKE SA for a static `ipsec-isakmp` entry to `peer` (the peer manager's
    /// choice). Nothing happens when one is already up or being set up; a missing key or
    /// transform is an authentication failure of the attempt, so the manager moves on.
    pub fn initiate(&mut self, entry: &EntryKey, peer: Ipv4Addr, now_ns: u64) -> EngineOutput {
        let mut out = EngineOutput::default();
        if self
            .sessions
            .iter()
            .any(|s| !s.gone && !s.closing && s.origin.entry() == *entry && s.peer == peer)
        {
            return out;
        }
        let body = self
            .config
            .crypto_maps
            .get(&entry.0)
            .and_then(|m| m.entries.get(&entry.1))
            .filter(|e| e.kind == CryptoMapKind::Isakmp)
            .map(|e| e.body.clone());
        let local = self.map_local_address(&entry.0);
        let (Some(body), Some(local)) = (body, local) else {
            tracing::warn!(target: "rri::ike", map = %entry.0, seq = entry.1, "no ipsec-isakmp entry or local address to connect from");
            return out;
        };
        let ike = ikeconf::entry_ike(&self.config, &body);
        let psk = ikeconf::psk(&self.config, ike.profile.as_deref(), peer);
        let (Some(psk), false) = (psk, ike.esp.is_empty()) else {
            tracing::warn!(target: "rri::ike", map = %entry.0, seq = entry.1, %peer, "no pre-shared key for the peer, or no AEAD transform set");
            out.outcomes
                .push((entry.clone(), peer, Outcome::AuthFailure));
            return out;
        };
        if self.sessions.len() >= self.limits.max_sessions {
            out.outcomes.push((entry.clone(), peer, Outcome::Timeout));
            return out;
        }
        let settings = self.settings(
            SocketAddrV4::new(local, IKE_PORT),
            SocketAddrV4::new(peer, IKE_PORT),
            &ike,
            psk,
        );
        let Some((sa, first)) = IkeSa::initiate(settings, &self.rng, now_ns) else {
            return out;
        };
        self.stats.initiated += 1;
        tracing::info!(target: "rri::ike", map = %entry.0, seq = entry.1, %peer, "IKE_SA_INIT sent");
        let at = self.push_session(Session {
            sa,
            origin: Origin {
                map: entry.0.clone(),
                seq: entry.1,
                dynamic_seq: None,
            },
            local,
            peer,
            ike,
            initiator: true,
            children: Vec::new(),
            reported_up: false,
            closing: false,
            gone: false,
            next_dpd_ns: None,
            dpd_traffic: (0, 0),
            last_rx_ns: now_ns,
            sent_since_rx: false,
            ike_rekey_at_ns: None,
            half_open_until_ns: None,
        });
        self.absorb(at, first, now_ns, &mut out);
        out
    }

    /// An IKE message (non-ESP marker already removed) from `from` to `to`. `map` is the
    /// crypto map on the interface that owns `to`, for new responder sessions.
    pub fn datagram(
        &mut self,
        from: SocketAddrV4,
        to: SocketAddrV4,
        payload: &[u8],
        map: Option<&str>,
        now_ns: u64,
    ) -> EngineOutput {
        let mut out = EngineOutput::default();
        self.stats.datagrams += 1;
        let Ok(header) = parse_header(payload) else {
            self.stats.malformed += 1;
            return out;
        };
        let peer = *from.ip();
        let sessions = &self.sessions;
        let found = self.by_peer.get(&peer).and_then(|ats| {
            ats.iter().copied().find(|&at| {
                let s = &sessions[at];
                !s.gone && s.sa.answers_to(header.spi_i)
            })
        });
        if let Some(at) = found {
            let o = self.sessions[at].sa.handle(payload, now_ns);
            self.absorb(at, o, now_ns, &mut out);
            self.sweep();
            return out;
        }
        let new_request = header.exchange == exchange::IKE_SA_INIT
            && header.flags & flags::RESPONSE == 0
            && header.flags & flags::INITIATOR != 0
            && header.spi_r == 0
            && header.message_id == 0;
        if !new_request {
            self.stats.unknown_spi += 1;
            return out;
        }
        let out = self.new_request(from, to, payload, map, now_ns);
        self.log_flood(now_ns);
        out
    }

    /// An IKE_SA_INIT that starts a new responder SA, if the bounds allow.
    fn new_request(
        &mut self,
        from: SocketAddrV4,
        to: SocketAddrV4,
        payload: &[u8],
        map: Option<&str>,
        now_ns: u64,
    ) -> EngineOutput {
        let mut out = EngineOutput::default();
        let peer = *from.ip();
        let half_open = self.half_open;
        let from_peer = self.by_peer.get(&peer).map_or(0, |ats| {
            ats.iter()
                .filter(|&&at| self.sessions[at].half_open_until_ns.is_some())
                .count()
        });
        if half_open >= self.limits.max_half_open || self.sessions.len() >= self.limits.max_sessions
        {
            self.stats.half_open_refused += 1;
            return out;
        }
        // A request that returns our cookie comes from the address it claims (RFC 7296
        // section 2.6): the per-address bounds are for the others. Past any bound, an
        // unproven request gets a cookie request, never a silent drop, so that a spoofer
        // who fills a real peer's share cannot lock that peer out: it returns the cookie.
        let needs_cookie = if self.cookie_ok(payload, from) {
            false
        } else if half_open >= self.cookie_threshold() {
            true
        } else if from_peer >= self.limits.max_half_open_per_peer {
            self.stats.half_open_refused += 1;
            true
        } else if !self.init_allowed(peer, now_ns) {
            self.stats.rate_limited += 1;
            true
        } else {
            false
        };
        if needs_cookie {
            if let Some(answer) = self.cookie_answer(payload, from) {
                self.stats.cookies_sent += 1;
                out.transmit.push(Transmit {
                    from: to,
                    to: from,
                    payload: answer,
                });
            }
            return out;
        }
        let Some(ResponderMatch {
            map,
            seq,
            dynamic_seq,
            ike,
            psk,
        }) = map.and_then(|m| ikeconf::responder_match(&self.config, m, peer))
        else {
            // Counted, and logged with the other refusals by log_flood: one line per
            // datagram would let a flood fill the log.
            self.stats.no_matching_entry += 1;
            tracing::debug!(target: "rri::ike", %peer, "IKE_SA_INIT from a peer no crypto map entry accepts");
            return out;
        };
        let settings = self.settings(to, from, &ike, psk);
        match IkeSa::respond(settings, &self.rng, payload, now_ns) {
            Ok((sa, first)) => {
                self.stats.responded += 1;
                tracing::debug!(target: "rri::ike", %map, seq, %peer, "IKE_SA_INIT answered");
                let at = self.push_session(Session {
                    sa,
                    origin: Origin {
                        map,
                        seq,
                        dynamic_seq,
                    },
                    local: *to.ip(),
                    peer,
                    ike,
                    initiator: false,
                    children: Vec::new(),
                    reported_up: false,
                    closing: false,
                    gone: false,
                    next_dpd_ns: None,
                    dpd_traffic: (0, 0),
                    last_rx_ns: now_ns,
                    sent_since_rx: false,
                    ike_rekey_at_ns: None,
                    half_open_until_ns: Some(
                        now_ns.saturating_add(self.limits.half_open_timeout_ns),
                    ),
                });
                self.absorb(at, first, now_ns, &mut out);
            }
            Err(refusal) => {
                for payload in refusal.send {
                    out.transmit.push(Transmit {
                        from: to,
                        to: from,
                        payload,
                    });
                }
            }
        }
        out
    }

    /// Deletes the IKE SAs of `entry` with `peer` (INFORMATIONAL delete); their child SAs
    /// go at once.
    pub fn clear(&mut self, entry: &EntryKey, peer: Ipv4Addr, now_ns: u64) -> EngineOutput {
        self.close_where(now_ns, |s| s.origin.entry() == *entry && s.peer == peer)
    }

    /// Deletes every IKE SA made for one of `entries`, established or still negotiating
    /// (a reload changed or removed those entries: nothing made from their old settings
    /// may come up after it).
    pub fn clear_entries(
        &mut self,
        entries: &std::collections::BTreeSet<EntryKey>,
        now_ns: u64,
    ) -> EngineOutput {
        self.close_where(now_ns, |s| entries.contains(&s.origin.entry()))
    }

    /// Closes every live session `pick` chooses.
    fn close_where(&mut self, now_ns: u64, pick: impl Fn(&Session) -> bool) -> EngineOutput {
        let mut out = EngineOutput::default();
        for at in 0..self.sessions.len() {
            let s = &self.sessions[at];
            if s.gone || s.closing || !pick(s) {
                continue;
            }
            self.close(at, now_ns, &mut out);
        }
        self.sweep();
        out
    }

    /// Deletes the IKE SA that child SA `id` belongs to (INFORMATIONAL delete).
    pub fn clear_sa(&mut self, id: SaId, now_ns: u64) -> EngineOutput {
        let mut out = EngineOutput::default();
        if let Some(at) = self
            .sessions
            .iter()
            .position(|s| !s.gone && !s.closing && s.children.iter().any(|c| c.id == id))
        {
            self.close(at, now_ns, &mut out);
        }
        self.sweep();
        out
    }

    /// Deletes every IKE SA with `peer` (or all of them), as `clear crypto sa [peer X]`.
    pub fn clear_peer(&mut self, peer: Option<Ipv4Addr>, now_ns: u64) -> EngineOutput {
        let mut out = EngineOutput::default();
        for at in 0..self.sessions.len() {
            let s = &self.sessions[at];
            if s.gone || s.closing || peer.is_some_and(|p| p != s.peer) {
                continue;
            }
            let (entry, addr, up) = (s.origin.entry(), s.peer, s.reported_up);
            self.close(at, now_ns, &mut out);
            if up && self.sessions[at].origin.dynamic_seq.is_none() {
                out.outcomes.push((entry, addr, Outcome::Down));
            }
        }
        self.sweep();
        out
    }

    fn close(&mut self, at: usize, now_ns: u64, out: &mut EngineOutput) {
        let s = &mut self.sessions[at];
        for c in s.children.drain(..) {
            out.changes.push(Change::Down(c.id));
        }
        s.closing = true;
        let o = if s.sa.established() {
            s.sa.delete(now_ns)
        } else {
            s.gone = true;
            self.any_gone = true;
            Output::default()
        };
        self.absorb(at, o, now_ns, out);
    }

    /// Rekeys the child SA `id` now (its outbound SA reached a soft limit).
    pub fn rekey(&mut self, id: SaId, now_ns: u64) -> EngineOutput {
        let mut out = EngineOutput::default();
        if let Some(at) = self
            .sessions
            .iter()
            .position(|s| !s.gone && s.children.iter().any(|c| c.id == id))
        {
            let s = &mut self.sessions[at];
            let o = s.sa.rekey_child(&self.rng, now_ns);
            if o.send.is_empty() {
                // Another exchange is in flight: the timer tries again shortly.
                if let Some(c) = s.children.iter_mut().find(|c| c.id == id) {
                    c.rekey_at_ns = Some(now_ns + CHILD_REKEY_RETRY_NS);
                }
            }
            self.absorb(at, o, now_ns, &mut out);
        }
        out
    }

    /// Rekeys the IKE SAs with `peer` (or all of them) now; their child SAs carry over.
    pub fn rekey_ike(&mut self, peer: Option<Ipv4Addr>, now_ns: u64) -> EngineOutput {
        let mut out = EngineOutput::default();
        for at in 0..self.sessions.len() {
            let s = &mut self.sessions[at];
            if s.gone || s.closing || peer.is_some_and(|p| p != s.peer) {
                continue;
            }
            let o = s.sa.rekey_ike(&self.rng, now_ns);
            self.absorb(at, o, now_ns, &mut out);
        }
        out
    }

    /// Timers: retransmissions, timeouts, liveness checks, rekeying. `traffic` gives a child
    /// SA's packet counters.
    pub fn tick(&mut self, now_ns: u64, traffic: TrafficOf<'_>) -> EngineOutput {
        let mut out = EngineOutput::default();
        for at in 0..self.sessions.len() {
            if self.sessions[at].gone {
                continue;
            }
            if self.sessions[at]
                .half_open_until_ns
                .is_some_and(|t| now_ns >= t)
            {
                // No IKE_AUTH in time: forgotten without a word to the peer (it may not
                // exist: spoofed IKE_SA_INITs look just like this).
                self.stats.half_open_expired += 1;
                self.sessions[at].gone = true;
                self.any_gone = true;
                self.settle_half_open(at);
                continue;
            }
            let o = self.sessions[at].sa.tick(now_ns);
            self.absorb(at, o, now_ns, &mut out);
            let s = &mut self.sessions[at];
            if s.gone || s.closing || !s.sa.established() {
                continue;
            }
            if let (Some(due), Some(dpd)) = (s.next_dpd_ns, s.ike.dpd) {
                if now_ns >= due {
                    // Sampled once a second: when inbound traffic was last seen, and whether
                    // anything went out since.
                    let seen = s.children.iter().fold((0, 0), |acc, c| {
                        let (i, o) = traffic(c.id).unwrap_or((0, 0));
                        (acc.0 + i, acc.1 + o)
                    });
                    if seen.0 != s.dpd_traffic.0 {
                        s.last_rx_ns = now_ns;
                        s.sent_since_rx = false;
                    } else if seen.1 != s.dpd_traffic.1 {
                        s.sent_since_rx = true;
                    }
                    s.dpd_traffic = seen;
                    s.next_dpd_ns = Some(now_ns + DPD_SAMPLE_NS.min(dpd.interval_ns));
                    let quiet = now_ns.saturating_sub(s.last_rx_ns) >= dpd.interval_ns;
                    if quiet && (dpd.periodic || s.sent_since_rx) {
                        // The answer (or the death) comes back as an event; the next check
                        // is an interval after this one.
                        s.last_rx_ns = now_ns;
                        let o = s.sa.check_liveness(now_ns);
                        self.absorb(at, o, now_ns, &mut out);
                    }
                }
            }
            let s = &mut self.sessions[at];
            if let Some(c) = s
                .children
                .iter_mut()
                .find(|c| c.rekey_at_ns.is_some_and(|t| now_ns >= t))
            {
                // Not sent while another exchange is in flight: tried again shortly.
                c.rekey_at_ns = Some(now_ns + CHILD_REKEY_RETRY_NS);
                let o = s.sa.rekey_child(&self.rng, now_ns);
                if !o.send.is_empty() {
                    c.rekey_at_ns = None;
                }
                self.absorb(at, o, now_ns, &mut out);
            }
            let s = &mut self.sessions[at];
            if !s.gone && !s.closing && s.ike_rekey_at_ns.is_some_and(|t| now_ns >= t) {
                // Tried again in a minute if refused or busy; the IkeRekeyed event sets the
                // next one from the new SA's start.
                s.ike_rekey_at_ns = Some(now_ns + IKE_REKEY_RETRY_NS);
                let o = s.sa.rekey_ike(&self.rng, now_ns);
                self.absorb(at, o, now_ns, &mut out);
            }
        }
        self.sweep();
        out
    }

    /// When [`KeyEngine::tick`] next has something to do.
    pub fn next_timer(&self) -> Option<u64> {
        self.sessions
            .iter()
            .filter(|s| !s.gone)
            .flat_map(|s| {
                let rekey = s.children.iter().filter_map(|c| c.rekey_at_ns).min();
                let ike_rekey = s.ike_rekey_at_ns.filter(|_| !s.closing);
                [
                    s.sa.next_timer(),
                    s.next_dpd_ns,
                    rekey,
                    ike_rekey,
                    s.half_open_until_ns,
                ]
            })
            .flatten()
            .min()
    }

    fn rekey_at(&self, at: usize, now_ns: u64) -> u64 {
        let s = &self.sessions[at];
        let percent = if s.initiator { 85 } else { 95 };
        now_ns + s.ike.lifetime_s * 1_000_000_000 / 100 * percent
    }

    /// When the IKE SA of session `at` is rekeyed: 90 % of its lifetime for the side that
    /// started it, 95 % for the other, so that both rarely rekey at once.
    fn ike_rekey_at(&self, at: usize, now_ns: u64) -> u64 {
        let s = &self.sessions[at];
        let percent = if s.initiator { 90 } else { 95 };
        now_ns + s.ike.ike_lifetime_s * 1_000_000_000 / 100 * percent
    }

    fn installed(&mut self, at: usize, child: ChildSa) -> Installed {
        let id = SaId(self.next_sa);
        self.next_sa += 1;
        let s = &self.sessions[at];
        Installed {
            id,
            origin: s.origin.clone(),
            local: s.local,
            peer: s.peer,
            child,
            lifetime_s: s.ike.lifetime_s,
            lifetime_kb: s.ike.lifetime_kb,
            replay_window: s.ike.replay_window,
            anti_replay: s.ike.anti_replay,
        }
    }

    /// Sends what a session produced and turns its events into changes and outcomes.
    fn absorb(&mut self, at: usize, o: Output, now_ns: u64, out: &mut EngineOutput) {
        self.absorb_events(at, o, now_ns, out);
        self.settle_half_open(at);
    }

    fn absorb_events(&mut self, at: usize, o: Output, now_ns: u64, out: &mut EngineOutput) {
        let s = &self.sessions[at];
        let (local, peer, nat) = (s.local, s.peer, s.sa.nat_traversal());
        for payload in o.send {
            out.transmit.push(if nat {
                let mut framed = vec![0u8; 4];
                framed.extend_from_slice(&payload);
                Transmit {
                    from: SocketAddrV4::new(local, NAT_T_PORT),
                    to: SocketAddrV4::new(peer, NAT_T_PORT),
                    payload: framed,
                }
            } else {
                Transmit {
                    from: SocketAddrV4::new(local, IKE_PORT),
                    to: SocketAddrV4::new(peer, IKE_PORT),
                    payload,
                }
            });
        }
        for event in o.events {
            let s = &self.sessions[at];
            let entry = s.origin.entry();
            let reports = s.origin.dynamic_seq.is_none() && !s.closing;
            match event {
                Event::ChildUp(child) => {
                    let installed = self.installed(at, child);
                    let rekey_at = self.rekey_at(at, now_ns);
                    let ike_rekey_at = self.ike_rekey_at(at, now_ns);
                    let s = &mut self.sessions[at];
                    s.ike_rekey_at_ns.get_or_insert(ike_rekey_at);
                    tracing::info!(target: "rri::ike", map = %s.origin.map, seq = s.origin.seq, %peer, spi_in = installed.child.spi_in, spi_out = installed.child.spi_out, "child SA up");
                    s.children.push(Child {
                        id: installed.id,
                        spi_in: installed.child.spi_in,
                        spi_out: installed.child.spi_out,
                        rekey_at_ns: Some(rekey_at),
                    });
                    s.next_dpd_ns = s.ike.dpd.map(|_| now_ns + DPD_SAMPLE_NS);
                    s.last_rx_ns = now_ns;
                    if !s.reported_up && reports {
                        out.outcomes.push((entry, peer, Outcome::Up));
                    }
                    s.reported_up = true;
                    out.changes.push(Change::Up(installed));
                }
                Event::ChildRekeyed { old, new } => {
                    let position = self.sessions[at]
                        .children
                        .iter()
                        .position(|c| (c.spi_in, c.spi_out) == old);
                    let installed = self.installed(at, new);
                    let rekey_at = self.rekey_at(at, now_ns);
                    let s = &mut self.sessions[at];
                    let child = Child {
                        id: installed.id,
                        spi_in: installed.child.spi_in,
                        spi_out: installed.child.spi_out,
                        rekey_at_ns: Some(rekey_at),
                    };
                    tracing::info!(target: "rri::ike", %peer, spi_in = child.spi_in, spi_out = child.spi_out, "child SA rekeyed");
                    match position {
                        Some(p) => {
                            let old = std::mem::replace(&mut s.children[p], child);
                            out.changes.push(Change::Rekeyed {
                                old: old.id,
                                new: installed,
                            });
                        }
                        None => {
                            s.children.push(child);
                            out.changes.push(Change::Up(installed));
                        }
                    }
                }
                Event::ChildDeleted { spi_in, spi_out } => {
                    let s = &mut self.sessions[at];
                    if let Some(p) = s
                        .children
                        .iter()
                        .position(|c| (c.spi_in, c.spi_out) == (spi_in, spi_out))
                    {
                        out.changes.push(Change::Down(s.children.remove(p).id));
                    }
                    if s.children.is_empty() && !s.closing {
                        // The last child went: the IKE SA goes with it.
                        if reports && s.reported_up {
                            out.outcomes.push((entry, peer, Outcome::Down));
                        }
                        s.closing = true;
                        let o = s.sa.delete(now_ns);
                        self.absorb(at, o, now_ns, out);
                    }
                }
                Event::Alive => self.sessions[at].last_rx_ns = now_ns,
                Event::AuthFailed(why) => {
                    tracing::warn!(target: "rri::ike", %peer, %why, "authentication failed");
                    self.end(at, Some(Outcome::AuthFailure), out);
                }
                Event::NoProposal | Event::Refused(_) => {
                    tracing::warn!(target: "rri::ike", %peer, ?event, "negotiation refused");
                    self.end(at, Some(Outcome::AuthFailure), out);
                }
                Event::Timeout => {
                    tracing::warn!(target: "rri::ike", %peer, "no answer: connection timeout");
                    self.end(at, Some(Outcome::Timeout), out);
                }
                Event::Dead => {
                    tracing::warn!(target: "rri::ike", %peer, "peer dead (liveness checks unanswered)");
                    self.end(at, Some(Outcome::Dead), out);
                }
                Event::IkeRekeyed { spi_i, spi_r } => {
                    tracing::info!(target: "rri::ike", %peer, "IKE SA rekeyed: SPIs {spi_i:016x} {spi_r:016x}");
                    let next = self.ike_rekey_at(at, now_ns);
                    self.sessions[at].ike_rekey_at_ns = Some(next);
                }
                Event::IkeDeleted => {
                    tracing::info!(target: "rri::ike", %peer, "IKE SA deleted");
                    let up = self.sessions[at].reported_up;
                    self.end(at, up.then_some(Outcome::Down), out);
                }
            }
        }
    }

    fn end(&mut self, at: usize, outcome: Option<Outcome>, out: &mut EngineOutput) {
        let s = &mut self.sessions[at];
        if s.gone {
            return;
        }
        for c in s.children.drain(..) {
            out.changes.push(Change::Down(c.id));
        }
        if let Some(outcome) = outcome {
            if s.origin.dynamic_seq.is_none() && !s.closing {
                out.outcomes.push((s.origin.entry(), s.peer, outcome));
            }
        }
        s.gone = true;
        self.any_gone = true;
        self.settle_half_open(at);
    }

    /// Drops the sessions that are gone and re-indexes the rest (only when one went, so that
    /// a datagram's cost does not grow with the number of sessions).
    fn sweep(&mut self) {
        if !std::mem::take(&mut self.any_gone) {
            return;
        }
        for at in 0..self.sessions.len() {
            self.settle_half_open(at);
        }
        self.sessions.retain(|s| !s.gone);
        self.by_peer.clear();
        for (at, s) in self.sessions.iter().enumerate() {
            self.by_peer.entry(s.peer).or_default().push(at);
        }
    }

    /// Established IKE SAs and those being set up.
    pub fn session_count(&self) -> usize {
        self.sessions.iter().filter(|s| !s.gone).count()
    }

    /// `show crypto session`: one block per IKE SA.
    pub fn show_sessions(&self) -> String {
        let mut s = String::from("Crypto session current status\n");
        for x in self.sessions_view() {
            let _ = writeln!(
                s,
                "\nInterface: crypto map {} {}\nSession status: {}\nPeer: {} port {}\n  IKEv2 SA: local {}/{} remote {}/{} {} (SPIs {:016x} {:016x})",
                x.map,
                x.seq,
                x.status,
                x.peer,
                x.port,
                x.local,
                x.port,
                x.peer,
                x.port,
                if x.initiator { "initiator" } else { "responder" },
                x.ike_spi_initiator,
                x.ike_spi_responder,
            );
            for (spi_in, spi_out) in &x.child_spis {
                let _ = writeln!(
                    s,
                    "  IPSEC FLOW: inbound spi 0x{spi_in:08X} outbound spi 0x{spi_out:08X}"
                );
            }
        }
        s
    }

    /// The sessions as values (`show crypto session --json`).
    pub fn sessions_view(&self) -> Vec<SessionView> {
        self.sessions
            .iter()
            .filter(|x| !x.gone)
            .map(|x| {
                let (spi_i, spi_r) = x.sa.spis();
                SessionView {
                    map: x.origin.map.clone(),
                    seq: x.origin.seq,
                    dynamic_seq: x.origin.dynamic_seq,
                    status: if x.closing {
                        "DELETING"
                    } else if x.sa.established() {
                        "UP-ACTIVE"
                    } else {
                        "UP-NEGOTIATING"
                    },
                    peer: x.peer,
                    local: x.local,
                    port: if x.sa.nat_traversal() {
                        NAT_T_PORT
                    } else {
                        IKE_PORT
                    },
                    initiator: x.initiator,
                    ike_spi_initiator: spi_i,
                    ike_spi_responder: spi_r,
                    child_spis: x.children.iter().map(|c| (c.spi_in, c.spi_out)).collect(),
                }
            })
            .collect()
    }
}
