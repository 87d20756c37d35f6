//! The exception path: what the control thread does with punted frames and worker events
//! before anything protocol-specific (IKE) sees them.
//!
//! * ARP: requests for our addresses are answered in place; the sender of a request for us,
//!   and of any reply, is learned into the neighbour table (a new policy is published when
//!   an entry is new or changed). `Resolve` events from workers become ARP requests, at most
//!   one per neighbour per [`RESOLVE_INTERVAL_NS`].
//! * ICMP echo requests to our addresses get an echo reply; packets whose TTL ran out get an
//!   ICMP time exceeded. Both are routed like anything we originate (through the crypto map
//!   when the route says so).
//! * IKE and other local traffic, and `Acquire` events, are handed back to the caller.
//!
//! The frame handling is written against [`PacketBuf`] so that it is tested on plain
//! buffers; [`ExceptionPath`] drives it with whatever frames its [`FrameTx`] gives and sends
//! (DPDK mbufs and the control thread's own tx queues in the daemon, memory in tests).

use pipeline::{Action, Pipeline};
use pktbuf::PacketBuf;
use policy::{Event, FrameTx, Policy, PolicyHandle, PuntReason, WorkerCountersSnapshot};
use rustc_hash::FxHashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use wire::arp::{self, Arp};
use wire::ether::{self, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use wire::icmp;
use wire::ipv4::{self, Ipv4Packet};
use wire::udp;

/// The least time between two ARP requests for one neighbour.
pub const RESOLVE_INTERVAL_NS: u64 = 1_000_000_000;

/// What handling an ARP frame found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArpOutcome {
    /// The buffer now holds a reply to send back out of the port it came in on.
    pub reply: bool,
    /// A neighbour to learn (address, MAC).
    pub learn: Option<(Ipv4Addr, [u8; 6])>,
}

/// Handles an ARP frame received on `port`.
pub fn handle_arp<B: PacketBuf + ?Sized>(policy: &Policy, port: u16, buf: &mut B) -> ArpOutcome {
    let mut outcome = ArpOutcome::default();
    let Some(our) = policy.port(port) else {
        return outcome;
    };
    let Ok(eth) = ether::parse(buf.data()) else {
        return outcome;
    };
    if eth.ethertype != ETHERTYPE_ARP {
        return outcome;
    }
    let Ok(a) = Arp::parse(&buf.data()[eth.l3_offset..]) else {
        return outcome;
    };
    let for_us = our.addresses.iter().any(|(addr, _)| *addr == a.target_ip);
    let on_link = policy.address_on_subnet(port, a.sender_ip).is_some();
    if on_link && (for_us || a.op == arp::OP_REPLY) && !a.sender_ip.is_unspecified() {
        outcome.learn = Some((a.sender_ip, a.sender_mac));
    }
    if a.op == arp::OP_REQUEST && for_us {
        let reply = a.reply(our.mac);
        let l3 = eth.l3_offset;
        let data = buf.data_mut();
        // Keep any VLAN tag: rewrite the addresses only.
        data[..6].copy_from_slice(&a.sender_mac);
        data[6..12].copy_from_slice(&our.mac);
        reply.emit(&mut data[l3..]);
        outcome.reply = true;
    }
    outcome
}

/// Writes an ARP request for `addr` from `port` into the empty buffer `buf`.
pub fn arp_request<B: PacketBuf + ?Sized>(
    policy: &Policy,
    port: u16,
    addr: Ipv4Addr,
    buf: &mut B,
) -> bool {
    let Some(our) = policy.port(port) else {
        return false;
    };
    let source = policy
        .address_on_subnet(port, addr)
        .or_else(|| our.primary_address());
    let Some(source) = source else { return false };
    let Ok(frame) = buf.append(ether::HEADER_LEN + arp::LEN) else {
        return false;
    };
    ether::emit(frame, [0xff; 6], our.mac, ETHERTYPE_ARP);
    Arp {
        op: arp::OP_REQUEST,
        sender_mac: our.mac,
        sender_ip: source,
        target_mac: [0; 6],
        target_ip: addr,
    }
    .emit(&mut frame[ether::HEADER_LEN..]);
    true
}

/// Turns an ICMP echo request frame to one of our addresses into the echo reply IPv4
/// packet (L2 header removed). False, buffer unspecified, if it is not one.
pub fn echo_reply<B: PacketBuf + ?Sized>(policy: &Policy, buf: &mut B) -> bool {
    let Ok(eth) = ether::parse(buf.data()) else {
        return false;
    };
    if eth.ethertype != ETHERTYPE_IPV4 || buf.adj(eth.l3_offset).is_err() {
        return false;
    }
    let (src, dst, header_len, total) = match Ipv4Packet::new_checked(buf.data()) {
        Ok(ip)
            if ip.protocol() == ipv4::proto::ICMP
                && !ip.is_fragment()
                && policy.is_local(ip.dst()) =>
        {
            (ip.src(), ip.dst(), ip.header_len(), ip.total_len())
        }
        _ => return false,
    };
    let excess = buf.len() - total;
    if buf.trim(excess).is_err() {
        return false;
    }
    let data = buf.data_mut();
    if data.len() < header_len + icmp::HEADER_LEN || data[header_len] != icmp::TYPE_ECHO_REQUEST {
        return false;
    }
    let mut rest = [0u8; 4];
    rest.copy_from_slice(&data[header_len + 4..header_len + 8]);
    icmp::emit(&mut data[header_len..], icmp::TYPE_ECHO_REPLY, 0, rest);
    ipv4::Ipv4Repr {
        src: dst,
        dst: src,
        protocol: ipv4::proto::ICMP,
        tos: 0,
        ident: 0,
        dont_fragment: false,
        ttl: 64,
        payload_len: (total - header_len) as u16,
    }
    .emit(&mut data[..]);
    if header_len > ipv4::HEADER_LEN {
        // Our reply carries no options: move the ICMP message up against the new header.
        data.copy_within(header_len..total, ipv4::HEADER_LEN);
        let shorter = header_len - ipv4::HEADER_LEN;
        let _ = buf.trim(shorter);
    }
    true
}

/// Turns a frame whose TTL ran out into an ICMP time exceeded packet from `source` (L2
/// header removed).
pub fn time_exceeded<B: PacketBuf + ?Sized>(source: Ipv4Addr, buf: &mut B) -> bool {
    let Ok(eth) = ether::parse(buf.data()) else {
        return false;
    };
    if buf.adj(eth.l3_offset).is_err() {
        return false;
    }
    let (src, quoted) = match Ipv4Packet::new_checked(buf.data()) {
        Ok(ip)
            if !(ip.protocol() == ipv4::proto::ICMP
                && ip.payload().first().is_some_and(|&t| {
                    t != icmp::TYPE_ECHO_REQUEST && t != icmp::TYPE_ECHO_REPLY
                })) =>
        {
            (ip.src(), (ip.header_len() + 8).min(ip.total_len()))
        }
        _ => return false,
    };
    if buf.trim(buf.len() - quoted).is_err()
        || buf.prepend(ipv4::HEADER_LEN + icmp::HEADER_LEN).is_err()
    {
        return false;
    }
    let data = buf.data_mut();
    icmp::emit(
        &mut data[ipv4::HEADER_LEN..],
        icmp::TYPE_TIME_EXCEEDED,
        0,
        [0; 4],
    );
    ipv4::Ipv4Repr {
        src: source,
        dst: src,
        protocol: ipv4::proto::ICMP,
        tos: 0xc0,
        ident: 0,
        dont_fragment: false,
        ttl: 64,
        payload_len: (icmp::HEADER_LEN + quoted) as u16,
    }
    .emit(data);
    true
}

/// Counts of what the exception path did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExceptionStats {
    pub arp_replies: u64,
    pub arp_requests: u64,
    pub neighbours_learned: u64,
    pub echo_replies: u64,
    pub time_exceeded: u64,
    /// Frames handed to a transmit queue.
    pub sent: u64,
    pub dropped: u64,
}

/// The control thread's side of the exception path, sending through `tx`.
pub struct ExceptionPath<T: FrameTx> {
    pub policy: PolicyHandle,
    pub fib: fib::FibReader,
    /// The control thread's way out to the ports.
    pub tx: T,
    pub stats: ExceptionStats,
    last_resolve: FxHashMap<(u16, u32), u64>,
}

impl<T: FrameTx> std::fmt::Debug for ExceptionPath<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExceptionPath")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<T: FrameTx> ExceptionPath<T> {
    pub fn new(policy: PolicyHandle, fib: fib::FibReader, tx: T) -> Self {
        ExceptionPath {
            policy,
            fib,
            tx,
            stats: ExceptionStats::default(),
            last_resolve: FxHashMap::default(),
        }
    }

    /// Handles a punted frame. IKE and other local traffic is returned for the caller.
    pub fn handle_punt(
        &mut self,
        port: u16,
        reason: PuntReason,
        mut mbuf: T::Frame,
        now_ns: u64,
    ) -> Option<(u16, PuntReason, T::Frame)> {
        let policy = self.policy.load_full();
        match reason {
            PuntReason::Arp => {
                let outcome = handle_arp(&policy, port, &mut mbuf);
                if let Some((ip, mac)) = outcome.learn {
                    self.learn(port, ip, mac);
                }
                if outcome.reply {
                    self.stats.arp_replies += 1;
                    self.send(port, mbuf);
                }
                None
            }
            PuntReason::Icmp => {
                if echo_reply(&policy, &mut mbuf) {
                    self.stats.echo_replies += 1;
                    self.route_and_send(&policy, port, mbuf, now_ns);
                } else {
                    self.stats.dropped += 1;
                }
                None
            }
            PuntReason::TtlExceeded => {
                let source = policy.port(port).and_then(|p| p.primary_address());
                if source.is_some_and(|s| time_exceeded(s, &mut mbuf)) {
                    self.stats.time_exceeded += 1;
                    self.route_and_send(&policy, port, mbuf, now_ns);
                } else {
                    self.stats.dropped += 1;
                }
                None
            }
            PuntReason::Ike | PuntReason::Local => Some((port, reason, mbuf)),
        }
    }

    /// Handles a worker event; `Acquire` is returned for the key engine.
    pub fn handle_event(&mut self, event: Event, now_ns: u64) -> Option<Event> {
        match event {
            Event::Resolve { port, addr } => {
                let key = (port, u32::from(addr));
                let last = self.last_resolve.get(&key).copied();
                if last.is_some_and(|t| now_ns.saturating_sub(t) < RESOLVE_INTERVAL_NS) {
                    return None;
                }
                self.last_resolve.insert(key, now_ns);
                self.resolve(port, addr);
                None
            }
            acquire @ Event::Acquire { .. } => Some(acquire),
        }
    }

    /// Sends an ARP request for `addr` out of `port`.
    pub fn resolve(&mut self, port: u16, addr: Ipv4Addr) {
        let policy = self.policy.load_full();
        let Some(mut mbuf) = self.tx.alloc() else {
            self.stats.dropped += 1;
            return;
        };
        if arp_request(&policy, port, addr, &mut mbuf) {
            self.stats.arp_requests += 1;
            self.send(port, mbuf);
        }
    }

    /// Records a neighbour, publishing a new policy if it is new or moved.
    pub fn learn(&mut self, port: u16, ip: Ipv4Addr, mac: [u8; 6]) {
        let current = self.policy.load();
        if current.neighbour(port, ip) == Some(mac) {
            return;
        }
        let mut next: Policy = (**current).clone();
        next.neighbours.insert((port, u32::from(ip)), mac);
        next.generation += 1;
        self.policy.store(Arc::new(next));
        self.stats.neighbours_learned += 1;
    }

    /// Sends a UDP datagram we originate (IKE) from `src` to `dst`, routed like any packet
    /// of ours in the VRF of the port that owns `src`. False when it could not be sent (no
    /// mbuf, too large, no route, no port).
    pub fn send_datagram(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        payload: &[u8],
        now_ns: u64,
    ) -> bool {
        let policy = self.policy.load_full();
        let Some(in_port) = policy.ports.iter().enumerate().find_map(|(i, p)| {
            let owns = p.as_ref()?.addresses.iter().any(|(a, _)| *a == *src.ip());
            owns.then_some(i as u16)
        }) else {
            self.stats.dropped += 1;
            return false;
        };
        let Some(mut mbuf) = self.tx.alloc() else {
            self.stats.dropped += 1;
            return false;
        };
        let udp_len = udp::HEADER_LEN + payload.len();
        let Ok(payload_len) = u16::try_from(udp_len) else {
            self.stats.dropped += 1;
            return false;
        };
        let Ok(out) = mbuf.append(ipv4::HEADER_LEN + udp_len) else {
            self.stats.dropped += 1;
            return false;
        };
        ipv4::Ipv4Repr {
            src: *src.ip(),
            dst: *dst.ip(),
            protocol: ipv4::proto::UDP,
            tos: 0,
            ident: 0,
            dont_fragment: false,
            ttl: 64,
            payload_len,
        }
        .emit(&mut out[..]);
        let at = ipv4::HEADER_LEN;
        udp::emit_header(&mut out[at..], src.port(), dst.port(), payload.len());
        out[at + udp::HEADER_LEN..].copy_from_slice(payload);
        let before = self.stats.dropped;
        self.route_and_send(&policy, in_port, mbuf, now_ns);
        self.stats.dropped == before
    }

    fn route_and_send(&mut self, policy: &Policy, in_port: u16, mut mbuf: T::Frame, now_ns: u64) {
        let fib = self.fib.load();
        let vrf = policy.port(in_port).map_or(0, |p| p.vrf);
        let pipeline = Pipeline::new(policy, &fib, now_ns);
        let mut counters = WorkerCountersSnapshot::default();
        let mut resolve = None;
        let action = pipeline.originate(vrf, &mut mbuf, &mut counters, &mut |e| {
            if let Event::Resolve { port, addr } = e {
                resolve = Some((port, addr));
            }
        });
        drop(fib);
        if let Some((port, addr)) = resolve {
            self.handle_event(Event::Resolve { port, addr }, now_ns);
        }
        match action {
            Action::Forward(port) => self.send(port, mbuf),
            _ => self.stats.dropped += 1,
        }
    }

    fn send(&mut self, port: u16, frame: T::Frame) {
        if self.tx.send(port, frame) {
            self.stats.sent += 1;
        } else {
            self.stats.dropped += 1;
        }
    }
}
