//! One IKE SA and its first child SA: IKE_SA_INIT and IKE_AUTH with a pre-shared key, as
//! initiator or responder (RFC 7296 sections 1.2 and 2.15), sans-IO.
//!
//! The caller passes datagrams in (with the time) and sends what comes out; events say when
//! the child SA is up (with its keys, SPIs and narrowed traffic selectors) or why the
//! exchange failed. The initiator retransmits its request with exponential backoff and
//! gives up with [`Event::Timeout`] — the "connection timeout" the peer manager fails over
//! on. The responder answers a retransmitted request with the response it already sent.
//! Anything that does not belong to this SA or does not parse is ignored; nothing panics.
//!
//! Once up: INFORMATIONAL (deletes, liveness checks), CREATE_CHILD_SA rekeying of the child
//! SA by either side (simultaneous rekeys as section 2.8.1 says), and the peer's rekeying
//! of the IKE SA itself (section 1.3.2): the answer carries the new SA's SPI, nonce and KE,
//! and this object becomes the new SA (new SPIs, keys, message IDs from zero, the same
//! children) when the peer deletes the old one or first speaks on the new one; our own IKE
//! SA rekey ([`IkeSa::rekey_ike`]) deletes the old SA once the new one is agreed and becomes
//! the new one when that delete is answered.
//!
//! This module holds the SA's state, its message plumbing and the dispatch of what arrives;
//! each exchange has a module of its own: `establish` (IKE_SA_INIT, IKE_AUTH), `rekey`
//! (CREATE_CHILD_SA), `informational` (liveness, deletes) and `timers` (retransmission).

use crate::dh::{DhPrivate, Group};
use crate::keys::{child_keys, ike_keys, psk_auth, verify_auth, IkeKeys, Prf};
use crate::message::{
    exchange, flags, payload_type, protocol, transform_type, Header, Message, Payload, Proposal,
    TrafficSelector, Transform,
};
use crate::sk::{Aead, SkKey};
use ring::rand::SecureRandom;
pub use secret::SecretBytes;
use std::net::{Ipv4Addr, SocketAddrV4};

mod establish;
mod informational;
mod rekey;
mod timers;

/// Notify message types used here.
pub mod notify {
    pub const NAT_DETECTION_SOURCE_IP: u16 = 16388;
    pub const NAT_DETECTION_DESTINATION_IP: u16 = 16389;
    pub const INVALID_SYNTAX: u16 = 7;
    pub const NO_PROPOSAL_CHOSEN: u16 = 14;
    pub const INVALID_KE_PAYLOAD: u16 = 17;
    pub const AUTHENTICATION_FAILED: u16 = 24;
    pub const TS_UNACCEPTABLE: u16 = 38;
    pub const NO_ADDITIONAL_SAS: u16 = 35;
    pub const REKEY_SA: u16 = 16393;
    pub const TEMPORARY_FAILURE: u16 = 43;
    pub const COOKIE: u16 = 16390;
}

/// ID type of an IPv4 address.
pub const ID_IPV4_ADDR: u8 = 1;
/// AUTH method: shared key message integrity code.
pub const AUTH_SHARED_KEY: u8 = 2;

/// One IKE SA proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeProposal {
    pub aead: Aead,
    pub prf: Prf,
    pub group: Group,
}

/// What an IKE SA is set up with.
/// The pre-shared keys of an IKE SA (RFC 7296 section 2.15): each side signs its AUTH
/// payload with its own key and checks the other's with the other's, so the two may differ
/// (IOS's `pre-shared-key local` and `remote`). Wiped when dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Psk {
    /// Signs our AUTH.
    pub local: SecretBytes,
    /// Verifies the peer's AUTH.
    pub remote: SecretBytes,
}

impl Psk {
    /// One key for both directions.
    pub fn both(key: &[u8]) -> Psk {
        Psk {
            local: SecretBytes::copy_from(key),
            remote: SecretBytes::copy_from(key),
        }
    }
}

#[derive(Clone)]
pub struct Settings {
    /// IKE proposals, preferred first (the initiator's first one's group goes in its KE).
    pub ike: Vec<IkeProposal>,
    /// ESP ciphers, preferred first.
    pub esp: Vec<Aead>,
    /// The pre-shared keys: ours signs our AUTH, the peer's verifies its AUTH.
    pub psk: Psk,
    /// Our identity (ID_IPV4_ADDR).
    pub local_id: Ipv4Addr,
    /// Our side's traffic (initiator: proposed TSi; responder: what TSr may be narrowed to).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side (initiator: proposed TSr; responder: what TSi may be narrowed to).
    pub remote_ts: Vec<TrafficSelector>,
    /// First retransmission after this long; doubles each time.
    pub retransmit_ns: u64,
    /// Retransmissions before giving up.
    pub retransmit_tries: u32,
    /// Our address and port (500) and the peer's, for NAT detection.
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// Use UDP encapsulation even without a NAT (announced with a source hash that cannot
    /// match, as strongSwan's `encap = yes` does).
    pub force_encap: bool,
    /// Liveness checks (dead peer detection) are retried at this fixed spacing, as IOS's
    /// `dpd INTERVAL RETRY` does, instead of the exponential backoff; `None` uses the backoff.
    pub liveness_retry_ns: Option<u64>,
    /// Liveness retries before the peer is declared dead (IOS sends five).
    pub liveness_tries: u32,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("ike", &self.ike)
            .field("esp", &self.esp)
            .field("local_id", &self.local_id)
            .finish_non_exhaustive()
    }
}

/// A child SA's parameters and keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildSa {
    pub aead: Aead,
    /// The SPI the peer sends to us with.
    pub spi_in: u32,
    /// The SPI we send with.
    pub spi_out: u32,
    /// Key material (cipher key and salt) of each direction, wiped when dropped.
    pub key_in: SecretBytes,
    pub key_out: SecretBytes,
    /// Narrowed traffic selectors: our side and the peer's.
    pub ts_local: Vec<TrafficSelector>,
    pub ts_remote: Vec<TrafficSelector>,
    /// ESP inside UDP 4500 (a NAT was detected or encapsulation forced).
    pub udp_encap: bool,
}

impl std::fmt::Debug for ChildSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSa")
            .field("aead", &self.aead)
            .field("spi_in", &format_args!("{:#010x}", self.spi_in))
            .field("spi_out", &format_args!("{:#010x}", self.spi_out))
            .field("ts_local", &self.ts_local)
            .field("ts_remote", &self.ts_remote)
            .finish_non_exhaustive()
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The IKE SA and its child SA are up.
    ChildUp(ChildSa),
    /// Authentication failed (ours was refused, or the peer's did not verify).
    AuthFailed(String),
    /// No proposal acceptable to both.
    NoProposal,
    /// The peer refused with a notify (type).
    Refused(u16),
    /// No answer after every retransmission.
    Timeout,
    /// The peer answered a liveness check.
    Alive,
    /// An established peer stopped answering (dead peer detection).
    Dead,
    /// The IKE SA (and its child) is deleted, by the peer or by us.
    IkeDeleted,
    /// The peer deleted the child SA: our SPIs of it.
    ChildDeleted { spi_in: u32, spi_out: u32 },
    /// A child SA was rekeyed (by either side): the old one's SPIs and the new one. The old
    /// inbound SA should stay a little while for packets in flight; the new outbound SA
    /// takes over at once.
    ChildRekeyed { old: (u32, u32), new: ChildSa },
    /// The peer rekeyed the IKE SA; this object now is the new one (new SPIs, keys and
    /// message IDs; the child SAs are unchanged).
    IkeRekeyed { spi_i: u64, spi_r: u64 },
}

/// Datagrams to send and events.
#[derive(Debug, Default)]
pub struct Output {
    pub send: Vec<Vec<u8>>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InitSent,
    AuthSent,
    InitAnswered,
    Established,
    Deleted,
    Failed,
}

/// A request of ours in flight after the SA is up.
#[derive(Debug)]
enum Pending {
    Liveness,
    Delete,
    /// Deleting our old child SA after a rekey.
    DeleteChild,
    /// Rekeying the child `old` (our SPIs in, out): our new inbound SPI and nonce.
    RekeyChild {
        old: (u32, u32),
        spi_in: u32,
        nonce: Vec<u8>,
    },
    /// Rekeying the IKE SA: the new SA's proposal, our SPI, nonce and DH key.
    RekeyIke {
        chosen: IkeProposal,
        spi_i: u64,
        nonce: Vec<u8>,
        dh: DhPrivate,
    },
    /// Deleting the old IKE SA after our rekey; the new one takes over on the answer.
    DeleteOldIke,
}

/// One IKE SA.
#[derive(Debug)]
pub struct IkeSa {
    initiator: bool,
    state: State,
    settings: Settings,
    spi_i: u64,
    spi_r: u64,
    chosen: Option<IkeProposal>,
    nonce_i: Vec<u8>,
    nonce_r: Vec<u8>,
    dh: Option<DhPrivate>,
    keys: Option<IkeKeys>,
    sk_in: Option<SkKey>,
    sk_out: Option<SkKey>,
    init_request: Vec<u8>,
    init_response: Vec<u8>,
    child_spi_in: u32,
    last_sent: Vec<u8>,
    sent_at_ns: u64,
    tries: u32,
    iv_counter: u64,
    /// The responder's last response and its message ID, for retransmitted requests.
    cached_response: Option<(u32, Vec<u8>)>,
    /// NAT detected (or encapsulation forced): IKE from IKE_AUTH on and ESP use port 4500.
    nat: bool,
    /// Message ID of our next request, and of the peer's next one.
    next_request_id: u32,
    peer_next_id: u32,
    /// Our request in flight after the SA is up (retransmitted from `last_sent`).
    pending: Option<(u32, Pending)>,
    /// The child SAs' SPIs (ours in, ours out), newest last.
    children: Vec<(u32, u32)>,
    /// The child SA's cipher and selectors, for rekeying.
    child_template: Option<ChildSa>,
    /// Cookies the responder asked for so far.
    cookie_rounds: u32,
    /// The peer's rekey of a child we are rekeying too, until our answer arrives.
    collision: Option<Collision>,
    /// The IKE SA the peer rekeyed this one into, until it deletes this one (or speaks on
    /// the new one): then this object becomes the new SA, children and all.
    rekeyed_to: Option<NextIke>,
    /// A delete asked for while another request of ours was in flight (or while the peer's
    /// rekey of this SA waited for its delete of the old one): sent as soon as it can be.
    delete_queued: bool,
}

/// A new IKE SA made by the peer's rekey (RFC 7296 section 2.8): its SPIs, algorithms,
/// keys and nonces. The peer started the exchange, so it is the new SA's initiator.
#[derive(Debug)]
struct NextIke {
    /// Whether we started the rekey (and so are the new SA's initiator).
    initiator: bool,
    spi_i: u64,
    spi_r: u64,
    chosen: IkeProposal,
    keys: IkeKeys,
    nonce_i: Vec<u8>,
    nonce_r: Vec<u8>,
}

/// A simultaneous rekey (RFC 7296 section 2.8.1), as seen when the peer's request came.
#[derive(Debug)]
struct Collision {
    /// The child both are rekeying (our SPIs in, out).
    old: (u32, u32),
    /// The child the peer's exchange made (our SPIs in, out).
    theirs: (u32, u32),
    /// That exchange's nonces (the peer's Ni, our Nr).
    nonces: (Vec<u8>, Vec<u8>),
}

/// Cookie requests an initiator follows before giving up on a responder.
pub const MAX_COOKIE_ROUNDS: u32 = 3;

/// SHA-1(SPIi | SPIr | IP | port): the NAT detection hash (RFC 7296 section 2.23).
pub fn nat_hash(spi_i: u64, spi_r: u64, addr: SocketAddrV4) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(&spi_r.to_be_bytes());
    ctx.update(&addr.ip().octets());
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}

/// Our two NAT detection notifies; with `force`, a source hash that matches no address.
fn nat_notifies(
    spi_i: u64,
    spi_r: u64,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    force: bool,
) -> [Payload; 2] {
    let mut source = nat_hash(spi_i, spi_r, local);
    if force {
        source.iter_mut().for_each(|b| *b = !*b);
    }
    [
        notify(notify::NAT_DETECTION_SOURCE_IP, source),
        notify(
            notify::NAT_DETECTION_DESTINATION_IP,
            nat_hash(spi_i, spi_r, remote),
        ),
    ]
}

/// Whether the peer's NAT detection notifies show a NAT between us: its source hash does
/// not match its address as we see it, or its destination hash does not match ours. `None`
/// when it sent none (it does not support NAT traversal).
fn nat_between(
    payloads: &[Payload],
    spi_i: u64,
    spi_r: u64,
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> Option<bool> {
    let mut seen = false;
    let mut source_match = false;
    let mut dest_match = true;
    for p in payloads {
        if let Payload::Notify { kind, data, .. } = p {
            if *kind == notify::NAT_DETECTION_SOURCE_IP {
                seen = true;
                source_match |= *data == nat_hash(spi_i, spi_r, remote);
            } else if *kind == notify::NAT_DETECTION_DESTINATION_IP {
                seen = true;
                dest_match = *data == nat_hash(spi_i, spi_r, local);
            }
        }
    }
    seen.then_some(!source_match || !dest_match)
}

fn random_bytes(rng: &dyn SecureRandom, n: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; n];
    rng.fill(&mut b).ok()?;
    Some(b)
}

fn random_nonzero_u64(rng: &dyn SecureRandom) -> Option<u64> {
    loop {
        let b = random_bytes(rng, 8)?;
        let v = u64::from_be_bytes(b.try_into().ok()?);
        if v != 0 {
            return Some(v);
        }
    }
}

fn random_spi(rng: &dyn SecureRandom) -> Option<u32> {
    loop {
        let b = random_bytes(rng, 4)?;
        let v = u32::from_be_bytes(b.try_into().ok()?);
        // SPIs 1-255 are reserved (RFC 4303).
        if v > 255 {
            return Some(v);
        }
    }
}

fn ike_transforms(p: &IkeProposal) -> Vec<Transform> {
    let (id, key_len) = p.aead.transform();
    vec![
        Transform {
            kind: transform_type::ENCR,
            id,
            key_len,
        },
        Transform {
            kind: transform_type::PRF,
            id: p.prf.id(),
            key_len: None,
        },
        Transform {
            kind: transform_type::DH,
            id: p.group.id(),
            key_len: None,
        },
    ]
}

fn esp_transforms(aead: Aead) -> Vec<Transform> {
    let (id, key_len) = aead.transform();
    vec![
        Transform {
            kind: transform_type::ENCR,
            id,
            key_len,
        },
        Transform {
            kind: transform_type::ESN,
            id: 0,
            key_len: None,
        },
    ]
}

/// Reads an IKE proposal as one of ours, if every transform type has exactly one of ours.
fn as_ike_proposal(p: &Proposal, ours: &[IkeProposal]) -> Option<IkeProposal> {
    if p.protocol != protocol::IKE {
        return None;
    }
    let of = |kind| p.transforms.iter().filter(move |t| t.kind == kind);
    // A proposal may list alternatives per type: take the first combination we also offer.
    for o in ours {
        let (id, kl) = o.aead.transform();
        let encr = of(transform_type::ENCR).any(|t| t.id == id && t.key_len == kl);
        let prf = of(transform_type::PRF).any(|t| t.id == o.prf.id());
        let dh = of(transform_type::DH).any(|t| t.id == o.group.id());
        let no_integ = of(transform_type::INTEG).all(|t| t.id == 0);
        if encr && prf && dh && no_integ {
            return Some(*o);
        }
    }
    None
}

fn as_esp_proposal(p: &Proposal, ours: &[Aead]) -> Option<(Aead, u32)> {
    if p.protocol != protocol::ESP || p.spi.len() != 4 {
        return None;
    }
    let spi = u32::from_be_bytes(p.spi.clone().try_into().ok()?);
    let esn_ok = p
        .transforms
        .iter()
        .filter(|t| t.kind == transform_type::ESN)
        .all(|t| t.id == 0)
        || p.transforms
            .iter()
            .any(|t| t.kind == transform_type::ESN && t.id == 0);
    if !esn_ok {
        return None;
    }
    ours.iter()
        .find(|a| {
            let (id, kl) = a.transform();
            p.transforms
                .iter()
                .any(|t| t.kind == transform_type::ENCR && t.id == id && t.key_len == kl)
        })
        .map(|a| (*a, spi))
}

/// The part of `offered` inside `allowed` (IPv4 ranges: protocol, ports and addresses
/// intersected pairwise).
pub fn narrow(offered: &[TrafficSelector], allowed: &[TrafficSelector]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for o in offered {
        for a in allowed {
            if let (
                TrafficSelector::Ipv4 {
                    protocol: po,
                    start_port: so,
                    end_port: eo,
                    start: ao,
                    end: bo,
                },
                TrafficSelector::Ipv4 {
                    protocol: pa,
                    start_port: sa,
                    end_port: ea,
                    start: aa,
                    end: ba,
                },
            ) = (o, a)
            {
                let protocol = match (*po, *pa) {
                    (0, p) | (p, 0) => p,
                    (x, y) if x == y => x,
                    _ => continue,
                };
                let (sp, ep) = ((*so).max(*sa), (*eo).min(*ea));
                let (s, e) = (
                    u32::from(*ao).max(u32::from(*aa)),
                    u32::from(*bo).min(u32::from(*ba)),
                );
                if sp <= ep && s <= e {
                    out.push(TrafficSelector::Ipv4 {
                        protocol,
                        start_port: sp,
                        end_port: ep,
                        start: Ipv4Addr::from(s),
                        end: Ipv4Addr::from(e),
                    });
                }
            }
        }
    }
    out
}

fn id_body(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut b = vec![kind, 0, 0, 0];
    b.extend_from_slice(data);
    b
}

fn notify(kind: u16, data: Vec<u8>) -> Payload {
    Payload::Notify {
        protocol: 0,
        spi: Vec::new(),
        kind,
        data,
    }
}

fn find_notify(payloads: &[Payload]) -> Option<u16> {
    payloads.iter().find_map(|p| match p {
        // Error notifies are below 16384 (status types are above).
        Payload::Notify { kind, .. } if *kind < 16384 => Some(*kind),
        _ => None,
    })
}

impl IkeSa {
    /// The SPIs (initiator's, responder's).
    pub fn spis(&self) -> (u64, u64) {
        (self.spi_i, self.spi_r)
    }

    /// Whether IKE from IKE_AUTH on, and the child's ESP, go over UDP 4500 (with the 4-byte
    /// non-ESP marker in front of IKE messages there).
    pub fn nat_traversal(&self) -> bool {
        self.nat
    }

    /// The live child SAs (our SPIs in, out), oldest first.
    pub fn children(&self) -> &[(u32, u32)] {
        &self.children
    }

    /// Whether the IKE SA is up.
    pub fn established(&self) -> bool {
        self.state == State::Established
    }

    /// Whether the exchange failed for good.
    pub fn failed(&self) -> bool {
        self.state == State::Failed
    }

    fn next_iv(&mut self) -> [u8; 8] {
        self.iv_counter += 1;
        self.iv_counter.to_be_bytes()
    }

    fn header(&self, exchange: u8, message_id: u32, response: bool) -> Header {
        let mut f = if self.initiator { flags::INITIATOR } else { 0 };
        if response {
            f |= flags::RESPONSE;
        }
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: 0,
            exchange,
            flags: f,
            message_id,
        }
    }

    fn seal(&mut self, header: Header, inner: &[Payload]) -> Option<Vec<u8>> {
        let iv = self.next_iv();
        Some(self.sk_out.as_ref()?.seal(&header, inner, iv))
    }

    /// For fuzzing only: `inner` sealed as this SA would seal its own message (its SPIs,
    /// role and outbound key), with the exchange type, message id and response flag given,
    /// so that a fuzzer can hand its peer messages that pass the ICV. `None` before the SA
    /// has keys.
    #[cfg(feature = "fuzzing")]
    pub fn seal_for_fuzzing(
        &mut self,
        exchange: u8,
        message_id: u32,
        response: bool,
        inner: &[Payload],
    ) -> Option<Vec<u8>> {
        let header = self.header(exchange, message_id, response);
        self.seal(header, inner)
    }

    /// A datagram for this SA (already matched by SPI by the caller, or not: it is checked).
    pub fn handle(&mut self, datagram: &[u8], now_ns: u64) -> Output {
        let Ok(header) = crate::message::parse_header(datagram) else {
            return Output::default();
        };
        let mut switched = Vec::new();
        if self
            .rekeyed_to
            .as_ref()
            .is_some_and(|n| n.spi_i == header.spi_i && n.spi_r == header.spi_r)
        {
            // The peer speaks on the new IKE SA before deleting the old one.
            switched.extend(self.become_rekeyed());
        }
        if header.spi_i != self.spi_i
            || (self.spi_r != 0 && header.spi_r != self.spi_r && header.spi_r != 0)
        {
            return Output::default();
        }
        let mut out = self.dispatch(&header, datagram, now_ns);
        switched.append(&mut out.events);
        out.events = switched;
        self.flush_queued_delete(now_ns, &mut out);
        out
    }

    /// Whether a datagram with this initiator SPI belongs to this SA (or to the SA the peer
    /// rekeyed it into).
    pub fn answers_to(&self, spi_i: u64) -> bool {
        self.spi_i == spi_i || self.rekeyed_to.as_ref().is_some_and(|n| n.spi_i == spi_i)
    }

    fn dispatch(&mut self, header: &Header, datagram: &[u8], now_ns: u64) -> Output {
        let is_response = header.flags & flags::RESPONSE != 0;
        let answers_pending = self
            .pending
            .as_ref()
            .is_some_and(|(id, _)| *id == header.message_id);
        match (self.state, is_response) {
            (State::InitSent, true)
                if header.exchange == exchange::IKE_SA_INIT && header.message_id == 0 =>
            {
                self.on_init_response(datagram, now_ns)
            }
            (State::AuthSent, true)
                if header.exchange == exchange::IKE_AUTH && header.message_id == 1 =>
            {
                self.on_auth_response(datagram)
            }
            (State::InitAnswered, false)
                if header.exchange == exchange::IKE_AUTH && header.message_id == 1 =>
            {
                self.on_auth_request(datagram)
            }
            (State::Established, false) if header.message_id == self.peer_next_id => {
                match header.exchange {
                    exchange::INFORMATIONAL => self.on_informational_request(datagram),
                    exchange::CREATE_CHILD_SA => self.on_create_child_request(datagram),
                    _ => Output::default(),
                }
            }
            (State::Established, true) if answers_pending => match header.exchange {
                exchange::INFORMATIONAL => self.on_informational_response(datagram),
                exchange::CREATE_CHILD_SA => self.on_create_child_response(datagram, now_ns),
                _ => Output::default(),
            },
            (_, false) => match &self.cached_response {
                // A retransmitted request: the same answer again.
                Some((id, response)) if *id == header.message_id => Output {
                    send: vec![response.clone()],
                    events: Vec::new(),
                },
                _ => Output::default(),
            },
            _ => Output::default(),
        }
    }

    fn fail(&mut self, event: Event) -> Output {
        self.state = State::Failed;
        Output {
            send: Vec::new(),
            events: vec![event],
        }
    }
}
