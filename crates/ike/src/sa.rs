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
    /// Starts an IKE SA as initiator: the IKE_SA_INIT request to send.
    pub fn initiate(
        settings: Settings,
        rng: &dyn SecureRandom,
        now_ns: u64,
    ) -> Option<(IkeSa, Output)> {
        let first = *settings.ike.first()?;
        let dh = DhPrivate::generate(first.group, rng)?;
        let spi_i = random_nonzero_u64(rng)?;
        let nonce_i = random_bytes(rng, 32)?;
        let proposals = settings
            .ike
            .iter()
            .enumerate()
            .map(|(i, p)| Proposal {
                number: (i + 1) as u8,
                protocol: protocol::IKE,
                spi: Vec::new(),
                transforms: ike_transforms(p),
            })
            .collect();
        let request = Message {
            header: Header {
                spi_i,
                spi_r: 0,
                next_payload: 0,
                exchange: exchange::IKE_SA_INIT,
                flags: flags::INITIATOR,
                message_id: 0,
            },
            payloads: vec![
                Payload::Sa(proposals),
                Payload::Ke {
                    group: first.group.id(),
                    data: dh.public().to_vec(),
                },
                Payload::Nonce(nonce_i.clone()),
            ]
            .into_iter()
            .chain(nat_notifies(
                spi_i,
                0,
                settings.local,
                settings.remote,
                settings.force_encap,
            ))
            .collect(),
        }
        .emit();
        let sa = IkeSa {
            next_request_id: 2,
            peer_next_id: 0,
            pending: None,
            children: Vec::new(),
            child_template: None,
            cookie_rounds: 0,
            collision: None,
            rekeyed_to: None,
            delete_queued: false,
            nat: false,
            initiator: true,
            state: State::InitSent,
            settings,
            spi_i,
            spi_r: 0,
            chosen: None,
            nonce_i,
            nonce_r: Vec::new(),
            dh: Some(dh),
            keys: None,
            sk_in: None,
            sk_out: None,
            init_request: request.clone(),
            init_response: Vec::new(),
            child_spi_in: random_spi(rng)?,
            last_sent: request.clone(),
            sent_at_ns: now_ns,
            tries: 0,
            iv_counter: 0,
            cached_response: None,
        };
        Some((
            sa,
            Output {
                send: vec![request],
                events: Vec::new(),
            },
        ))
    }

    /// Answers an IKE_SA_INIT request as responder. `Err` carries what to send back (a
    /// refusal, or nothing for a datagram that is not a valid request).
    pub fn respond(
        settings: Settings,
        rng: &dyn SecureRandom,
        datagram: &[u8],
        now_ns: u64,
    ) -> Result<(IkeSa, Output), Output> {
        let refuse = |h: &Header, kind: u16, data: Vec<u8>| Output {
            send: vec![Message {
                header: Header {
                    spi_r: 0,
                    flags: flags::RESPONSE,
                    ..*h
                },
                payloads: vec![notify(kind, data)],
            }
            .emit()],
            events: vec![if kind == notify::NO_PROPOSAL_CHOSEN {
                Event::NoProposal
            } else {
                Event::Refused(kind)
            }],
        };
        let Ok(m) = Message::parse(datagram) else {
            return Err(Output::default());
        };
        let h = m.header;
        if h.exchange != exchange::IKE_SA_INIT
            || h.flags & flags::RESPONSE != 0
            || h.flags & flags::INITIATOR == 0
            || h.message_id != 0
            || h.spi_r != 0
            || h.spi_i == 0
        {
            return Err(Output::default());
        }
        let (
            Some(Payload::Sa(proposals)),
            Some(Payload::Ke { group, data }),
            Some(Payload::Nonce(nonce_i)),
        ) = (
            m.find(payload_type::SA),
            m.find(payload_type::KE),
            m.find(payload_type::NONCE),
        )
        else {
            return Err(refuse(&h, notify::INVALID_SYNTAX, Vec::new()));
        };
        if !(16..=256).contains(&nonce_i.len()) {
            return Err(refuse(&h, notify::INVALID_SYNTAX, Vec::new()));
        }
        let Some((number, chosen)) = proposals
            .iter()
            .find_map(|p| as_ike_proposal(p, &settings.ike).map(|c| (p.number, c)))
        else {
            return Err(refuse(&h, notify::NO_PROPOSAL_CHOSEN, Vec::new()));
        };
        if *group != chosen.group.id() {
            return Err(refuse(
                &h,
                notify::INVALID_KE_PAYLOAD,
                chosen.group.id().to_be_bytes().to_vec(),
            ));
        }
        let fail = || Err(Output::default());
        let Some(dh) = DhPrivate::generate(chosen.group, rng) else {
            return fail();
        };
        let public = dh.public().to_vec();
        let Some(shared) = dh.agree(data) else {
            return Err(refuse(&h, notify::INVALID_SYNTAX, Vec::new()));
        };
        let (Some(spi_r), Some(nonce_r), Some(child_spi_in)) = (
            random_nonzero_u64(rng),
            random_bytes(rng, 32),
            random_spi(rng),
        ) else {
            return fail();
        };
        let peer_nat = nat_between(&m.payloads, h.spi_i, 0, settings.local, settings.remote);
        let mut payloads = vec![
            Payload::Sa(vec![Proposal {
                number,
                protocol: protocol::IKE,
                spi: Vec::new(),
                transforms: ike_transforms(&chosen),
            }]),
            Payload::Ke {
                group: chosen.group.id(),
                data: public,
            },
            Payload::Nonce(nonce_r.clone()),
        ];
        if peer_nat.is_some() {
            // The hashes of a response are over SPIi and SPIr as sent (section 2.23).
            payloads.extend(nat_notifies(
                h.spi_i,
                spi_r,
                settings.local,
                settings.remote,
                settings.force_encap,
            ));
        }
        let nat = peer_nat.unwrap_or(false) || (peer_nat.is_some() && settings.force_encap);
        let response = Message {
            header: Header {
                spi_r,
                flags: flags::RESPONSE,
                ..h
            },
            payloads,
        }
        .emit();
        let keys = ike_keys(
            chosen.prf,
            nonce_i,
            &nonce_r,
            &shared,
            h.spi_i,
            spi_r,
            chosen.aead.keymat_len(),
        );
        let sa = IkeSa {
            next_request_id: 0,
            peer_next_id: 2,
            pending: None,
            children: Vec::new(),
            child_template: None,
            cookie_rounds: 0,
            collision: None,
            rekeyed_to: None,
            delete_queued: false,
            nat,
            initiator: false,
            state: State::InitAnswered,
            sk_in: SkKey::new(chosen.aead, &keys.sk_ei),
            sk_out: SkKey::new(chosen.aead, &keys.sk_er),
            keys: Some(keys),
            settings,
            spi_i: h.spi_i,
            spi_r,
            chosen: Some(chosen),
            nonce_i: nonce_i.clone(),
            nonce_r,
            dh: None,
            init_request: datagram.to_vec(),
            init_response: response.clone(),
            child_spi_in,
            last_sent: response.clone(),
            sent_at_ns: now_ns,
            tries: 0,
            iv_counter: 0,
            cached_response: Some((0, response.clone())),
        };
        Ok((
            sa,
            Output {
                send: vec![response],
                events: Vec::new(),
            },
        ))
    }

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

    /// Becomes the IKE SA this one was rekeyed into.
    fn become_rekeyed(&mut self) -> Option<Event> {
        let n = self.rekeyed_to.take()?;
        self.initiator = n.initiator;
        self.spi_i = n.spi_i;
        self.spi_r = n.spi_r;
        let (inbound, outbound) = if n.initiator {
            (&n.keys.sk_er, &n.keys.sk_ei)
        } else {
            (&n.keys.sk_ei, &n.keys.sk_er)
        };
        self.sk_in = SkKey::new(n.chosen.aead, inbound);
        self.sk_out = SkKey::new(n.chosen.aead, outbound);
        self.chosen = Some(n.chosen);
        self.keys = Some(n.keys);
        self.nonce_i = n.nonce_i;
        self.nonce_r = n.nonce_r;
        // A new SA counts its messages from zero (section 2.18) and has no request of ours
        // in flight.
        self.next_request_id = 0;
        self.peer_next_id = 0;
        self.cached_response = None;
        self.pending = None;
        self.tries = 0;
        self.iv_counter = 0;
        Some(Event::IkeRekeyed {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
        })
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

    fn on_init_response(&mut self, datagram: &[u8], now_ns: u64) -> Output {
        let Ok(m) = Message::parse(datagram) else {
            return Output::default();
        };
        if let Some(cookie) = m.payloads.iter().find_map(|p| match p {
            Payload::Notify { kind, data, .. } if *kind == notify::COOKIE => Some(data.clone()),
            _ => None,
        }) {
            return self.retry_with_cookie(cookie, now_ns);
        }
        if let Some(kind) = find_notify(&m.payloads) {
            return self.fail(if kind == notify::NO_PROPOSAL_CHOSEN {
                Event::NoProposal
            } else {
                Event::Refused(kind)
            });
        }
        let (
            Some(Payload::Sa(proposals)),
            Some(Payload::Ke { group, data }),
            Some(Payload::Nonce(nonce_r)),
        ) = (
            m.find(payload_type::SA),
            m.find(payload_type::KE),
            m.find(payload_type::NONCE),
        )
        else {
            return Output::default();
        };
        let Some(chosen) = (proposals.len() == 1)
            .then(|| as_ike_proposal(&proposals[0], &self.settings.ike))
            .flatten()
        else {
            return self.fail(Event::NoProposal);
        };
        let Some(dh) = self.dh.take() else {
            return Output::default();
        };
        if dh.group().id() != *group || chosen.group != dh.group() || m.header.spi_r == 0 {
            return self.fail(Event::Refused(notify::INVALID_KE_PAYLOAD));
        }
        let Some(shared) = dh.agree(data) else {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        };
        self.spi_r = m.header.spi_r;
        self.nat = match nat_between(
            &m.payloads,
            self.spi_i,
            self.spi_r,
            self.settings.local,
            self.settings.remote,
        ) {
            Some(nat) => nat || self.settings.force_encap,
            None => false,
        };
        self.nonce_r = nonce_r.clone();
        self.init_response = datagram.to_vec();
        let keys = ike_keys(
            chosen.prf,
            &self.nonce_i,
            &self.nonce_r,
            &shared,
            self.spi_i,
            self.spi_r,
            chosen.aead.keymat_len(),
        );
        self.sk_out = SkKey::new(chosen.aead, &keys.sk_ei);
        self.sk_in = SkKey::new(chosen.aead, &keys.sk_er);
        self.chosen = Some(chosen);
        let id = Payload::IdI {
            kind: ID_IPV4_ADDR,
            data: self.settings.local_id.octets().to_vec(),
        };
        let auth = psk_auth(
            chosen.prf,
            &self.settings.psk.local,
            &self.init_request,
            &self.nonce_r,
            &keys.sk_pi,
            &id_body(ID_IPV4_ADDR, &self.settings.local_id.octets()),
        );
        self.keys = Some(keys);
        let spi = self.child_spi_in.to_be_bytes().to_vec();
        let esp = self
            .settings
            .esp
            .iter()
            .enumerate()
            .map(|(i, a)| Proposal {
                number: (i + 1) as u8,
                protocol: protocol::ESP,
                spi: spi.clone(),
                transforms: esp_transforms(*a),
            })
            .collect();
        let inner = vec![
            id,
            Payload::Auth {
                method: AUTH_SHARED_KEY,
                data: auth,
            },
            Payload::Sa(esp),
            Payload::TsI(self.settings.local_ts.clone()),
            Payload::TsR(self.settings.remote_ts.clone()),
        ];
        let header = self.header(exchange::IKE_AUTH, 1, false);
        let Some(request) = self.seal(header, &inner) else {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        };
        self.state = State::AuthSent;
        self.last_sent = request.clone();
        self.sent_at_ns = now_ns;
        self.tries = 0;
        Output {
            send: vec![request],
            events: Vec::new(),
        }
    }

    fn on_auth_response(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((_, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        if let Some(kind) = find_notify(&inner) {
            return self.fail(match kind {
                notify::AUTHENTICATION_FAILED => {
                    Event::AuthFailed("the peer refused our authentication".into())
                }
                notify::NO_PROPOSAL_CHOSEN => Event::NoProposal,
                k => Event::Refused(k),
            });
        }
        let (Some(chosen), Some(keys)) = (self.chosen, self.keys.as_ref()) else {
            return Output::default();
        };
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let (Some(Payload::IdR { kind, data }), Some(Payload::Auth { data: auth, .. })) =
            (find(payload_type::IDR), find(payload_type::AUTH))
        else {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        };
        let expected = psk_auth(
            chosen.prf,
            &self.settings.psk.remote,
            &self.init_response,
            &self.nonce_i,
            &keys.sk_pr,
            &id_body(*kind, data),
        );
        if !verify_auth(&expected, auth) {
            return self.fail(Event::AuthFailed(
                "the responder's AUTH does not verify with our pre-shared key".into(),
            ));
        }
        let child = match (
            find(payload_type::SA),
            find(payload_type::TSI),
            find(payload_type::TSR),
        ) {
            (Some(Payload::Sa(p)), Some(Payload::TsI(tsi)), Some(Payload::TsR(tsr)))
                if p.len() == 1 =>
            {
                let Some((aead, spi_out)) = as_esp_proposal(&p[0], &self.settings.esp) else {
                    return self.fail(Event::NoProposal);
                };
                let (i_to_r, r_to_i) = child_keys(
                    chosen.prf,
                    &keys.sk_d,
                    None,
                    &self.nonce_i,
                    &self.nonce_r,
                    aead.keymat_len(),
                );
                ChildSa {
                    aead,
                    spi_in: self.child_spi_in,
                    spi_out,
                    key_in: r_to_i,
                    key_out: i_to_r,
                    ts_local: tsi.clone(),
                    ts_remote: tsr.clone(),
                    udp_encap: self.nat,
                }
            }
            _ => return self.fail(Event::Refused(notify::INVALID_SYNTAX)),
        };
        self.state = State::Established;
        self.children.push((child.spi_in, child.spi_out));
        self.child_template = Some(child.clone());
        Output {
            send: Vec::new(),
            events: vec![Event::ChildUp(child)],
        }
    }

    fn on_auth_request(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((header, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let (Some(chosen), Some(keys)) = (self.chosen, self.keys.as_ref()) else {
            return Output::default();
        };
        let (sk_pi, sk_pr, sk_d) = (keys.sk_pi.clone(), keys.sk_pr.clone(), keys.sk_d.clone());
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let respond = |sa: &mut IkeSa, payloads: Vec<Payload>, event: Event, state: State| {
            let h = sa.header(exchange::IKE_AUTH, header.message_id, true);
            let Some(response) = sa.seal(h, &payloads) else {
                return Output::default();
            };
            sa.cached_response = Some((header.message_id, response.clone()));
            sa.state = state;
            Output {
                send: vec![response],
                events: vec![event],
            }
        };
        let (Some(Payload::IdI { kind, data }), Some(Payload::Auth { data: auth, .. })) =
            (find(payload_type::IDI), find(payload_type::AUTH))
        else {
            return respond(
                self,
                vec![notify(notify::INVALID_SYNTAX, Vec::new())],
                Event::Refused(notify::INVALID_SYNTAX),
                State::Failed,
            );
        };
        let expected = psk_auth(
            chosen.prf,
            &self.settings.psk.remote,
            &self.init_request,
            &self.nonce_r,
            &sk_pi,
            &id_body(*kind, data),
        );
        if !verify_auth(&expected, auth) {
            return respond(
                self,
                vec![notify(notify::AUTHENTICATION_FAILED, Vec::new())],
                Event::AuthFailed(
                    "the initiator's AUTH does not verify with our pre-shared key".into(),
                ),
                State::Failed,
            );
        }
        let (Some(Payload::Sa(proposals)), Some(Payload::TsI(tsi)), Some(Payload::TsR(tsr))) = (
            find(payload_type::SA),
            find(payload_type::TSI),
            find(payload_type::TSR),
        ) else {
            return respond(
                self,
                vec![notify(notify::INVALID_SYNTAX, Vec::new())],
                Event::Refused(notify::INVALID_SYNTAX),
                State::Failed,
            );
        };
        let Some((number, (aead, spi_out))) = proposals
            .iter()
            .find_map(|p| as_esp_proposal(p, &self.settings.esp).map(|c| (p.number, c)))
        else {
            return respond(
                self,
                vec![notify(notify::NO_PROPOSAL_CHOSEN, Vec::new())],
                Event::NoProposal,
                State::Failed,
            );
        };
        let ts_i = narrow(tsi, &self.settings.remote_ts);
        let ts_r = narrow(tsr, &self.settings.local_ts);
        if ts_i.is_empty() || ts_r.is_empty() {
            return respond(
                self,
                vec![notify(notify::TS_UNACCEPTABLE, Vec::new())],
                Event::Refused(notify::TS_UNACCEPTABLE),
                State::Failed,
            );
        }
        let id = self.settings.local_id.octets();
        let our_auth = psk_auth(
            chosen.prf,
            &self.settings.psk.local,
            &self.init_response,
            &self.nonce_i,
            &sk_pr,
            &id_body(ID_IPV4_ADDR, &id),
        );
        let (i_to_r, r_to_i) = child_keys(
            chosen.prf,
            &sk_d,
            None,
            &self.nonce_i,
            &self.nonce_r,
            aead.keymat_len(),
        );
        let child = ChildSa {
            aead,
            spi_in: self.child_spi_in,
            spi_out,
            key_in: i_to_r,
            key_out: r_to_i,
            ts_local: ts_r.clone(),
            ts_remote: ts_i.clone(),
            udp_encap: self.nat,
        };
        let payloads = vec![
            Payload::IdR {
                kind: ID_IPV4_ADDR,
                data: id.to_vec(),
            },
            Payload::Auth {
                method: AUTH_SHARED_KEY,
                data: our_auth,
            },
            Payload::Sa(vec![Proposal {
                number,
                protocol: protocol::ESP,
                spi: self.child_spi_in.to_be_bytes().to_vec(),
                transforms: esp_transforms(aead),
            }]),
            Payload::TsI(ts_i),
            Payload::TsR(ts_r),
        ];
        self.children.push((child.spi_in, child.spi_out));
        self.child_template = Some(child.clone());
        respond(self, payloads, Event::ChildUp(child), State::Established)
    }

    /// Timers: retransmission of our request in flight (IKE_SA_INIT and IKE_AUTH as
    /// initiator, INFORMATIONAL once up) and the final timeout: [`Event::Timeout`] while
    /// connecting, [`Event::Dead`] for an established peer.
    pub fn tick(&mut self, now_ns: u64) -> Output {
        let mut queued = Output::default();
        self.flush_queued_delete(now_ns, &mut queued);
        if !queued.send.is_empty() {
            return queued;
        }
        if self.delete_queued && self.pending.is_none() {
            // Still held back by the peer's rekey: nothing of ours to retransmit; tried again
            // a retransmission interval from now.
            self.sent_at_ns = now_ns;
            return queued;
        }
        let Some(at) = self.next_timer() else {
            return Output::default();
        };
        if now_ns < at {
            return Output::default();
        }
        if self.tries >= self.retry_limit() {
            return match self.pending.take() {
                Some((_, Pending::Delete)) => {
                    self.state = State::Deleted;
                    Output {
                        send: Vec::new(),
                        events: vec![Event::IkeDeleted],
                    }
                }
                // The new IKE SA was agreed before this delete of the old one: a peer that
                // took the delete and switched no longer answers on the old SA, so an answer
                // lost on the way makes our retransmissions go unanswered. Go on as the new
                // SA; if the peer is gone, its liveness checks will say so.
                Some((_, Pending::DeleteOldIke)) => Output {
                    send: Vec::new(),
                    events: self.become_rekeyed().into_iter().collect(),
                },
                Some((
                    _,
                    Pending::Liveness
                    | Pending::RekeyChild { .. }
                    | Pending::DeleteChild
                    | Pending::RekeyIke { .. },
                )) => self.fail(Event::Dead),
                None => self.fail(Event::Timeout),
            };
        }
        self.tries += 1;
        self.sent_at_ns = now_ns;
        Output {
            send: vec![self.last_sent.clone()],
            events: Vec::new(),
        }
    }

    fn liveness_pending(&self) -> bool {
        matches!(self.pending, Some((_, Pending::Liveness)))
    }

    fn retry_limit(&self) -> u32 {
        match self.settings.liveness_retry_ns {
            Some(_) if self.liveness_pending() => self.settings.liveness_tries,
            _ => self.settings.retransmit_tries,
        }
    }

    /// The responder asked for a cookie (RFC 7296 section 2.6): the same IKE_SA_INIT again
    /// with the cookie as its first payload. A responder that keeps asking is refused after
    /// [`MAX_COOKIE_ROUNDS`].
    fn retry_with_cookie(&mut self, cookie: Vec<u8>, now_ns: u64) -> Output {
        self.cookie_rounds += 1;
        if cookie.is_empty() || cookie.len() > 64 || self.cookie_rounds > MAX_COOKIE_ROUNDS {
            return self.fail(Event::Refused(notify::INVALID_SYNTAX));
        }
        let Ok(mut m) = Message::parse(&self.init_request) else {
            return Output::default();
        };
        m.payloads
            .retain(|p| !matches!(p, Payload::Notify { kind, .. } if *kind == notify::COOKIE));
        m.payloads.insert(0, notify(notify::COOKIE, cookie));
        let request = m.emit();
        self.init_request = request.clone();
        self.last_sent = request.clone();
        self.sent_at_ns = now_ns;
        self.tries = 0;
        Output {
            send: vec![request],
            events: Vec::new(),
        }
    }

    /// When [`IkeSa::tick`] next has something to do.
    pub fn next_timer(&self) -> Option<u64> {
        if self.delete_queued && self.pending.is_none() && self.state == State::Established {
            // A delete held back by the peer's rekey of this SA: tried again now and then.
            return Some(self.sent_at_ns.saturating_add(self.settings.retransmit_ns));
        }
        let waiting = (self.initiator && matches!(self.state, State::InitSent | State::AuthSent))
            || (self.state == State::Established && self.pending.is_some());
        if let (true, Some(spacing)) = (self.liveness_pending(), self.settings.liveness_retry_ns) {
            return Some(self.sent_at_ns.saturating_add(spacing));
        }
        waiting.then(|| {
            self.sent_at_ns.saturating_add(
                self.settings
                    .retransmit_ns
                    .saturating_mul(1u64 << self.tries.min(20)),
            )
        })
    }

    fn request(&mut self, kind: Pending, payloads: Vec<Payload>, now_ns: u64) -> Output {
        if self.state != State::Established || self.pending.is_some() {
            return Output::default();
        }
        // Once the IKE SA is rekeyed, the old one starts no new exchange (RFC 7296 section
        // 2.8): ours waits until this object is the new SA. Our own rekey's delete of the
        // old SA is the one request that belongs there.
        if self.rekeyed_to.is_some() && !matches!(kind, Pending::DeleteOldIke) {
            return Output::default();
        }
        let id = self.next_request_id;
        let exchange = if matches!(kind, Pending::RekeyChild { .. } | Pending::RekeyIke { .. }) {
            exchange::CREATE_CHILD_SA
        } else {
            exchange::INFORMATIONAL
        };
        let h = self.header(exchange, id, false);
        let Some(request) = self.seal(h, &payloads) else {
            return Output::default();
        };
        self.next_request_id = self.next_request_id.wrapping_add(1);
        self.pending = Some((id, kind));
        self.last_sent = request.clone();
        self.sent_at_ns = now_ns;
        self.tries = 0;
        Output {
            send: vec![request],
            events: Vec::new(),
        }
    }

    /// Sends a liveness check (an empty INFORMATIONAL request): [`Event::Alive`] when it is
    /// answered, [`Event::Dead`] when every retransmission goes unanswered. Nothing while
    /// another request is in flight.
    pub fn check_liveness(&mut self, now_ns: u64) -> Output {
        self.request(Pending::Liveness, Vec::new(), now_ns)
    }

    /// Deletes the IKE SA (and with it the child): [`Event::IkeDeleted`] when the peer
    /// answers or gives up answering. While another request of ours is in flight (one
    /// exchange at a time) the delete waits for its answer, or its timeout, and goes then.
    pub fn delete(&mut self, now_ns: u64) -> Output {
        let out = self.request(
            Pending::Delete,
            vec![Payload::Delete {
                protocol: protocol::IKE,
                spi_size: 0,
                spis: Vec::new(),
            }],
            now_ns,
        );
        self.delete_queued = out.send.is_empty() && self.state == State::Established;
        out
    }

    /// Sends a delete that had to wait, once nothing is in flight.
    fn flush_queued_delete(&mut self, now_ns: u64, out: &mut Output) {
        if self.delete_queued && self.pending.is_none() && self.state == State::Established {
            let mut o = self.delete(now_ns);
            out.send.append(&mut o.send);
            out.events.append(&mut o.events);
        }
    }

    /// Whether a delete waits for the request in flight.
    pub fn delete_queued(&self) -> bool {
        self.delete_queued
    }

    fn on_informational_request(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((header, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let mut events = Vec::new();
        let mut answer = Vec::new();
        for p in &inner {
            if let Payload::Delete {
                protocol: proto,
                spis,
                ..
            } = p
            {
                if *proto == protocol::IKE {
                    events.push(Event::IkeDeleted);
                } else if *proto == protocol::ESP {
                    // The peer names its inbound SPIs, which are our outbound ones.
                    let gone: Vec<(u32, u32)> = self
                        .children
                        .iter()
                        .copied()
                        .filter(|(_, out)| spis.iter().any(|s| s.as_slice() == out.to_be_bytes()))
                        .collect();
                    if !gone.is_empty() {
                        self.children.retain(|c| !gone.contains(c));
                        answer.push(Payload::Delete {
                            protocol: protocol::ESP,
                            spi_size: 4,
                            spis: gone.iter().map(|(i, _)| i.to_be_bytes().to_vec()).collect(),
                        });
                        events.extend(
                            gone.into_iter()
                                .map(|(spi_in, spi_out)| Event::ChildDeleted { spi_in, spi_out }),
                        );
                    }
                }
            }
        }
        let old_replaced = events.contains(&Event::IkeDeleted) && self.rekeyed_to.is_some();
        if events.contains(&Event::IkeDeleted) {
            answer.clear();
            if !old_replaced {
                self.state = State::Deleted;
            }
        }
        let h = self.header(exchange::INFORMATIONAL, header.message_id, true);
        let Some(response) = self.seal(h, &answer) else {
            return Output::default();
        };
        self.cached_response = Some((header.message_id, response.clone()));
        self.peer_next_id = self.peer_next_id.wrapping_add(1);
        if old_replaced {
            // The peer deleted the SA it rekeyed: answered with the old keys, we go on as
            // the new one.
            events.retain(|e| *e != Event::IkeDeleted);
            events.extend(self.become_rekeyed());
        }
        Output {
            send: vec![response],
            events,
        }
    }

    fn on_informational_response(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok(_)) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let event = match self.pending.take() {
            Some((_, Pending::Delete)) => {
                self.state = State::Deleted;
                Event::IkeDeleted
            }
            Some((_, Pending::DeleteChild)) => return Output::default(),
            Some((_, Pending::DeleteOldIke)) => match self.become_rekeyed() {
                Some(e) => e,
                None => return Output::default(),
            },
            _ => Event::Alive,
        };
        Output {
            send: Vec::new(),
            events: vec![event],
        }
    }

    /// Rekeys the IKE SA (CREATE_CHILD_SA with an IKE proposal of the algorithms in use, a
    /// new SPI, nonce and KE; RFC 7296 section 1.3.2). On the answer the old SA is deleted,
    /// and when that is answered this object is the new SA ([`Event::IkeRekeyed`]), with the
    /// same child SAs. A refusal leaves the SA as it was. Nothing while another request is
    /// in flight.
    pub fn rekey_ike(&mut self, rng: &dyn SecureRandom, now_ns: u64) -> Output {
        let Some(chosen) = self.chosen else {
            return Output::default();
        };
        if self.rekeyed_to.is_some() {
            return Output::default();
        }
        let (Some(spi_i), Some(nonce), Some(dh)) = (
            random_nonzero_u64(rng),
            random_bytes(rng, 32),
            DhPrivate::generate(chosen.group, rng),
        ) else {
            return Output::default();
        };
        let payloads = vec![
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: protocol::IKE,
                spi: spi_i.to_be_bytes().to_vec(),
                transforms: ike_transforms(&chosen),
            }]),
            Payload::Nonce(nonce.clone()),
            Payload::Ke {
                group: chosen.group.id(),
                data: dh.public().to_vec(),
            },
        ];
        self.request(
            Pending::RekeyIke {
                chosen,
                spi_i,
                nonce,
                dh,
            },
            payloads,
            now_ns,
        )
    }

    fn on_ike_rekey_response(
        &mut self,
        inner: &[Payload],
        chosen: IkeProposal,
        spi_i: u64,
        nonce_i: Vec<u8>,
        dh: DhPrivate,
        now_ns: u64,
    ) -> Output {
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let (Some(old), Some(old_keys)) = (self.chosen, self.keys.as_ref()) else {
            return Output::default();
        };
        let (
            Some(Payload::Sa(proposals)),
            Some(Payload::Nonce(nonce_r)),
            Some(Payload::Ke { group, data }),
        ) = (
            find(payload_type::SA),
            find(payload_type::NONCE),
            find(payload_type::KE),
        )
        else {
            // Refused (a notify) or malformed: the IKE SA stays as it is.
            return Output::default();
        };
        let Some(spi_r) = proposals.iter().find_map(|p| {
            let spi: [u8; 8] = p.spi.as_slice().try_into().ok()?;
            (p.protocol == protocol::IKE && as_ike_proposal(p, &[chosen]).is_some())
                .then(|| u64::from_be_bytes(spi))
        }) else {
            return Output::default();
        };
        if *group != chosen.group.id() || spi_r == 0 || !(16..=256).contains(&nonce_r.len()) {
            return Output::default();
        }
        let Some(shared) = dh.agree(data) else {
            return Output::default();
        };
        let keys = crate::keys::rekeyed_ike_keys(
            old.prf,
            &old_keys.sk_d,
            chosen.prf,
            &nonce_i,
            nonce_r,
            &shared,
            spi_i,
            spi_r,
            chosen.aead.keymat_len(),
        );
        self.rekeyed_to = Some(NextIke {
            initiator: true,
            spi_i,
            spi_r,
            chosen,
            keys,
            nonce_i,
            nonce_r: nonce_r.clone(),
        });
        let delete = Payload::Delete {
            protocol: protocol::IKE,
            spi_size: 0,
            spis: Vec::new(),
        };
        self.request(Pending::DeleteOldIke, vec![delete], now_ns)
    }

    /// Rekeys the newest child SA (CREATE_CHILD_SA with REKEY_SA, no PFS): on the answer,
    /// [`Event::ChildRekeyed`], and the old child is deleted. `rng` draws the new SPI and
    /// nonce.
    pub fn rekey_child(&mut self, rng: &dyn SecureRandom, now_ns: u64) -> Output {
        let (Some(&old), Some(t)) = (self.children.last(), self.child_template.clone()) else {
            return Output::default();
        };
        let (Some(spi_in), Some(nonce)) = (random_spi(rng), random_bytes(rng, 32)) else {
            return Output::default();
        };
        let (ts_i, ts_r) = if self.initiator {
            (t.ts_local.clone(), t.ts_remote.clone())
        } else {
            (t.ts_remote.clone(), t.ts_local.clone())
        };
        let payloads = vec![
            Payload::Notify {
                protocol: protocol::ESP,
                spi: old.0.to_be_bytes().to_vec(),
                kind: notify::REKEY_SA,
                data: Vec::new(),
            },
            Payload::Sa(vec![Proposal {
                number: 1,
                protocol: protocol::ESP,
                spi: spi_in.to_be_bytes().to_vec(),
                transforms: esp_transforms(t.aead),
            }]),
            Payload::Nonce(nonce.clone()),
            Payload::TsI(ts_i),
            Payload::TsR(ts_r),
        ];
        self.request(Pending::RekeyChild { old, spi_in, nonce }, payloads, now_ns)
    }

    fn on_create_child_response(&mut self, datagram: &[u8], now_ns: u64) -> Output {
        let Some(Ok((_, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let pending = self.pending.take();
        if let Some((
            _,
            Pending::RekeyIke {
                chosen,
                spi_i,
                nonce,
                dh,
            },
        )) = pending
        {
            return self.on_ike_rekey_response(&inner, chosen, spi_i, nonce, dh, now_ns);
        }
        let Some((_, Pending::RekeyChild { old, spi_in, nonce })) = pending else {
            return Output::default();
        };
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let (Some(chosen), Some(keys), Some(t)) =
            (self.chosen, self.keys.as_ref(), self.child_template.clone())
        else {
            return Output::default();
        };
        let parsed = match (find(payload_type::SA), find(payload_type::NONCE)) {
            (Some(Payload::Sa(p)), Some(Payload::Nonce(nr)))
                if p.len() == 1 && find_notify(&inner).is_none() =>
            {
                as_esp_proposal(&p[0], &[t.aead]).map(|(aead, spi_out)| (aead, spi_out, nr.clone()))
            }
            _ => None,
        };
        let Some((aead, spi_out, nonce_r)) = parsed else {
            // Refused (NO_ADDITIONAL_SAS, TEMPORARY_FAILURE...): the old child stays.
            return Output::default();
        };
        // We started this exchange: our nonce is Ni and our outbound key comes first.
        let (i_to_r, r_to_i) = child_keys(
            chosen.prf,
            &keys.sk_d,
            None,
            &nonce,
            &nonce_r,
            aead.keymat_len(),
        );
        let new = ChildSa {
            aead,
            spi_in,
            spi_out,
            key_in: r_to_i,
            key_out: i_to_r,
            udp_encap: self.nat,
            ..t
        };
        self.children.push((spi_in, spi_out));
        // What goes: the old child, and in a simultaneous rekey (RFC 7296 section 2.8.1)
        // the redundant one, made with the lowest of the four nonces and deleted by whoever
        // started its exchange. What replaces what: ours replaces the old child, or the
        // peer's child where that one was installed first and ours survives.
        let mut gone = vec![old];
        let mut replaced = Some(old);
        if let Some(c) = self.collision.take().filter(|c| c.old == old) {
            if nonce.min(nonce_r.clone()) < c.nonces.0.clone().min(c.nonces.1) {
                gone.push((spi_in, spi_out));
                replaced = None;
            } else {
                replaced = Some(c.theirs);
            }
        }
        let mut out = self.request(
            Pending::DeleteChild,
            vec![Payload::Delete {
                protocol: protocol::ESP,
                spi_size: 4,
                spis: gone.iter().map(|c| c.0.to_be_bytes().to_vec()).collect(),
            }],
            now_ns,
        );
        self.children.retain(|c| !gone.contains(c));
        if let Some(old) = replaced {
            self.child_template = Some(new.clone());
            out.events.push(Event::ChildRekeyed { old, new });
        }
        out
    }

    /// The peer rekeys the IKE SA (CREATE_CHILD_SA with an IKE proposal, a KE and a nonce;
    /// RFC 7296 section 1.3.2): picks a proposal, makes the new SA's keys and keeps them
    /// until the peer deletes this SA. Returns the answer's payloads.
    fn answer_ike_rekey(
        &mut self,
        proposals: Vec<Proposal>,
        ke: Option<Payload>,
        nonce_i: Vec<u8>,
    ) -> (Vec<Payload>, Vec<Event>) {
        let refuse = |kind: u16, data: Vec<u8>| (vec![notify(kind, data)], Vec::new());
        let (Some(old), Some(old_keys)) = (self.chosen, self.keys.as_ref()) else {
            return refuse(notify::NO_ADDITIONAL_SAS, Vec::new());
        };
        if self.rekeyed_to.is_some() || !(16..=256).contains(&nonce_i.len()) {
            return refuse(notify::NO_ADDITIONAL_SAS, Vec::new());
        }
        // Not while an exchange of ours is in flight on this SA: our own rekey of the IKE SA
        // (section 2.8.2's simultaneous rekeys: both sides refuse and try again later, so
        // no nonce comparison is needed to agree on which SA survives), a child's rekey or
        // delete (section 2.25.2), a liveness check or a delete. Switching to the new SA
        // would drop that request.
        if self.pending.is_some() || self.delete_queued {
            return refuse(notify::TEMPORARY_FAILURE, Vec::new());
        }
        let Some((number, chosen, peer_spi)) = proposals.iter().find_map(|p| {
            let spi: [u8; 8] = p.spi.as_slice().try_into().ok()?;
            let c = as_ike_proposal(p, &self.settings.ike)?;
            Some((p.number, c, u64::from_be_bytes(spi)))
        }) else {
            return refuse(notify::NO_PROPOSAL_CHOSEN, Vec::new());
        };
        let Some(Payload::Ke { group, data }) = ke else {
            return refuse(notify::INVALID_SYNTAX, Vec::new());
        };
        if group != chosen.group.id() {
            return refuse(
                notify::INVALID_KE_PAYLOAD,
                chosen.group.id().to_be_bytes().to_vec(),
            );
        }
        let rng = ring::rand::SystemRandom::new();
        let (Some(dh), Some(spi_r), Some(nonce_r)) = (
            DhPrivate::generate(chosen.group, &rng),
            random_nonzero_u64(&rng),
            random_bytes(&rng, 32),
        ) else {
            return refuse(notify::TEMPORARY_FAILURE, Vec::new());
        };
        if peer_spi == 0 {
            return refuse(notify::INVALID_SYNTAX, Vec::new());
        }
        let public = dh.public().to_vec();
        let Some(shared) = dh.agree(&data) else {
            return refuse(notify::INVALID_SYNTAX, Vec::new());
        };
        let keys = crate::keys::rekeyed_ike_keys(
            old.prf,
            &old_keys.sk_d,
            chosen.prf,
            &nonce_i,
            &nonce_r,
            &shared,
            peer_spi,
            spi_r,
            chosen.aead.keymat_len(),
        );
        self.rekeyed_to = Some(NextIke {
            initiator: false,
            spi_i: peer_spi,
            spi_r,
            chosen,
            keys,
            nonce_i,
            nonce_r: nonce_r.clone(),
        });
        (
            vec![
                Payload::Sa(vec![Proposal {
                    number,
                    protocol: protocol::IKE,
                    spi: spi_r.to_be_bytes().to_vec(),
                    transforms: ike_transforms(&chosen),
                }]),
                Payload::Nonce(nonce_r),
                Payload::Ke {
                    group: chosen.group.id(),
                    data: public,
                },
            ],
            Vec::new(),
        )
    }

    fn on_create_child_request(&mut self, datagram: &[u8]) -> Output {
        let Some(Ok((header, inner))) = self.sk_in.as_ref().map(|k| k.open(datagram)) else {
            return Output::default();
        };
        let (Some(chosen), Some(keys), Some(t)) =
            (self.chosen, self.keys.as_ref(), self.child_template.clone())
        else {
            return Output::default();
        };
        let sk_d = keys.sk_d.clone();
        let find = |kind: u8| inner.iter().find(|p| p.kind() == kind);
        let rekeyed = inner.iter().find_map(|p| match p {
            Payload::Notify { kind, spi, .. } if *kind == notify::REKEY_SA && spi.len() == 4 => {
                let peer_in = u32::from_be_bytes([spi[0], spi[1], spi[2], spi[3]]);
                self.children
                    .iter()
                    .copied()
                    .find(|(_, out)| *out == peer_in)
            }
            _ => None,
        });
        let answer = |sa: &mut IkeSa, payloads: Vec<Payload>, events: Vec<Event>| {
            let h = sa.header(exchange::CREATE_CHILD_SA, header.message_id, true);
            let Some(response) = sa.seal(h, &payloads) else {
                return Output::default();
            };
            sa.cached_response = Some((header.message_id, response.clone()));
            sa.peer_next_id = sa.peer_next_id.wrapping_add(1);
            Output {
                send: vec![response],
                events,
            }
        };
        if let (None, Some(Payload::Sa(proposals)), Some(Payload::Nonce(nonce_i))) =
            (rekeyed, find(payload_type::SA), find(payload_type::NONCE))
        {
            if proposals.iter().any(|p| p.protocol == protocol::IKE) {
                let ke = find(payload_type::KE).cloned();
                let (payloads, events) =
                    self.answer_ike_rekey(proposals.clone(), ke, nonce_i.clone());
                return answer(self, payloads, events);
            }
        }
        let (Some(old), Some(Payload::Sa(proposals)), Some(Payload::Nonce(nonce_i)), None) = (
            rekeyed,
            find(payload_type::SA),
            find(payload_type::NONCE),
            find(payload_type::KE),
        ) else {
            // New child SAs beyond the first and PFS are not offered yet.
            return answer(
                self,
                vec![notify(notify::NO_ADDITIONAL_SAS, Vec::new())],
                Vec::new(),
            );
        };
        let Some((number, (aead, spi_out))) = proposals
            .iter()
            .find_map(|p| as_esp_proposal(p, &self.settings.esp).map(|c| (p.number, c)))
        else {
            return answer(
                self,
                vec![notify(notify::NO_PROPOSAL_CHOSEN, Vec::new())],
                Vec::new(),
            );
        };
        let mut nonce_r = vec![0u8; 32];
        let mut spi_bytes = [0u8; 4];
        let rng = ring::rand::SystemRandom::new();
        if rng.fill(&mut nonce_r).is_err() || rng.fill(&mut spi_bytes).is_err() {
            return Output::default();
        }
        let spi_in = u32::from_be_bytes(spi_bytes).max(256);
        // The peer started this exchange: its nonce is Ni and its outbound key comes first.
        let (i_to_r, r_to_i) = child_keys(
            chosen.prf,
            &sk_d,
            None,
            nonce_i,
            &nonce_r,
            aead.keymat_len(),
        );
        let new = ChildSa {
            aead,
            spi_in,
            spi_out,
            key_in: i_to_r,
            key_out: r_to_i,
            udp_encap: self.nat,
            ..t.clone()
        };
        let (ts_i, ts_r) = match (find(payload_type::TSI), find(payload_type::TSR)) {
            (Some(Payload::TsI(a)), Some(Payload::TsR(b))) => (a.clone(), b.clone()),
            _ => {
                return answer(
                    self,
                    vec![notify(notify::INVALID_SYNTAX, Vec::new())],
                    Vec::new(),
                )
            }
        };
        if matches!(&self.pending, Some((_, Pending::RekeyChild { old: ours, .. })) if *ours == old)
        {
            // Both sides are rekeying this child (RFC 7296 section 2.8.1): settled when the
            // answer to ours arrives.
            self.collision = Some(Collision {
                old,
                theirs: (spi_in, spi_out),
                nonces: (nonce_i.clone(), nonce_r.clone()),
            });
        }
        self.children.push((spi_in, spi_out));
        self.child_template = Some(new.clone());
        let payloads = vec![
            Payload::Sa(vec![Proposal {
                number,
                protocol: protocol::ESP,
                spi: spi_in.to_be_bytes().to_vec(),
                transforms: esp_transforms(aead),
            }]),
            Payload::Nonce(nonce_r),
            Payload::TsI(ts_i),
            Payload::TsR(ts_r),
        ];
        answer(self, payloads, vec![Event::ChildRekeyed { old, new }])
    }
}
