//! Per-packet decisions over any packet buffer, free of DPDK and of I/O: the workers run
//! them on mbufs, the control thread on what it originates, tests on plain buffers.
//!
//! Buffers arrive holding an Ethernet frame. A packet that is forwarded leaves holding the
//! new frame for the egress port; a punted packet leaves unchanged; a dropped packet's
//! content is unspecified.

#![forbid(unsafe_code)]

use acl::FlowKey;
use esp::Classified;
use pktbuf::PacketBuf;
use policy::{Event, Policy, PortPolicy, PuntReason, Reason, WorkerCountersSnapshot};
use std::cell::Cell;
use std::net::Ipv4Addr;
use wire::ether::{self, ETHERTYPE_ARP, ETHERTYPE_IPV4};
use wire::ipv4::{self, Ipv4Packet};
use wire::{icmp, WireError};

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Transmit on this port (the buffer holds the frame).
    Forward(u16),
    /// Hand the frame to the control thread.
    Punt(PuntReason),
    /// Free it; the reason has been counted.
    Drop(Reason),
    /// Too big for the path and fragmentable: hand it to [`Pipeline::fragment`] (the buffer
    /// holds the IPv4 packet without L2 header).
    Fragment(FragmentPlan),
    /// To be encapsulated with the SA of `Target::Sa` (only from a pipeline made with
    /// [`Pipeline::deferring_encapsulation`]): the buffer holds the inner IPv4 packet, TTL
    /// already decremented; hand a burst of them to [`Pipeline::encapsulate_burst`].
    Encapsulate(Target),
}

/// Where a packet that must be fragmented goes, decided once for the whole packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentPlan {
    pub target: Target,
    /// The largest fragment (IPv4 packet) before any encapsulation.
    pub mtu: u16,
}

/// A forwarding decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// In the clear out of `port` to `next_hop`.
    Clear { port: u16, next_hop: Ipv4Addr },
    /// Through the outbound SA of crypto map `map` entry `entry`, the outer packet leaving
    /// `port` toward `next_hop` (the route to the peer, looked up once per packet).
    Sa {
        map: u32,
        entry: u32,
        port: u16,
        next_hop: Ipv4Addr,
    },
}

/// The most extra fragments one packet may become (a 9000-byte packet into 576-byte pieces
/// needs 16).
pub const MAX_FRAGMENTS: usize = 16;

fn count_action(counters: &mut WorkerCountersSnapshot, action: Action) {
    match action {
        Action::Drop(reason) => counters.drops[reason as usize] += 1,
        Action::Punt(_) => counters.punted += 1,
        Action::Forward(_) | Action::Fragment(_) | Action::Encapsulate(_) => {}
    }
}

/// Writes total length, flags/offset and checksum of a fragment's header.
fn set_fragment_fields(header: &mut [u8], total: usize, offset: u16, more: bool) {
    header[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let flags = if more { ipv4::FLAG_MF } else { 0 } | (offset & 0x1fff);
    header[6..8].copy_from_slice(&flags.to_be_bytes());
    if let Ok(mut ip) = Ipv4Packet::new_checked(&mut header[..]) {
        ip.fill_checksum();
    }
}

/// The decisions for one burst: both snapshots, loaded once, and the time.
#[derive(Debug, Clone)]
pub struct Pipeline<'a> {
    pub policy: &'a Policy,
    pub fib: &'a fib::Snapshot,
    pub now_ns: u64,
    /// Whether packets for an SA come back as [`Action::Encapsulate`] (the worker seals them
    /// a burst per SA) rather than encapsulated one by one.
    pub defer_encapsulation: bool,
    /// The last SA's outer route: a burst's packets mostly go to one SA, whose peer's route
    /// cannot change while the snapshots are held.
    outer_route: Cell<Option<OuterRoute<'a>>>,
}

/// Where an SA's outer packets leave, as [`Pipeline::outer_route`] found it.
#[derive(Debug, Clone, Copy)]
struct OuterRoute<'a> {
    /// The SA's address: only compared, never dereferenced.
    sa: usize,
    port: u16,
    egress: &'a PortPolicy,
    next_hop: Ipv4Addr,
    /// The largest inner packet whose encapsulation fits the outer port's MTU.
    inner_mtu: usize,
}

/// Default TTL of packets we originate (ICMP errors).
const OWN_TTL: u8 = 64;

impl<'a> Pipeline<'a> {
    pub fn new(policy: &'a Policy, fib: &'a fib::Snapshot, now_ns: u64) -> Self {
        Pipeline {
            policy,
            fib,
            now_ns,
            defer_encapsulation: false,
            outer_route: Cell::new(None),
        }
    }

    /// The same pipeline, returning [`Action::Encapsulate`] for packets to an SA: one
    /// sequence-number reservation, one counter update and (with a burst sealer) one sealing
    /// call per burst of an SA instead of per packet.
    pub fn deferring_encapsulation(mut self) -> Self {
        self.defer_encapsulation = true;
        self
    }

    /// Encapsulates a burst of packets that [`Action::Encapsulate`] sent to the SA of
    /// `target` and gives each one's final action to `out` (counted like
    /// [`Pipeline::process`]'s). `bufs` hold inner IPv4 packets.
    pub fn encapsulate_burst<B: PacketBuf>(
        &self,
        target: Target,
        bufs: &mut [B],
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
        out: &mut impl FnMut(usize, Action),
    ) {
        let Target::Sa {
            map,
            entry,
            port,
            next_hop,
        } = target
        else {
            for i in 0..bufs.len() {
                count_action(counters, Action::Drop(Reason::NoSa));
                out(i, Action::Drop(Reason::NoSa));
            }
            return;
        };
        let sa = self
            .policy
            .maps
            .get(map as usize)
            .and_then(|m| m.entries.get(entry as usize))
            .and_then(|e| e.outbound.as_deref());
        let (Some(sa), Some(egress)) = (sa, self.policy.port(port)) else {
            for i in 0..bufs.len() {
                count_action(counters, Action::Drop(Reason::NoSa));
                out(i, Action::Drop(Reason::NoSa));
            }
            return;
        };
        // One next hop for the whole burst: resolved once, and before sealing, so that
        // packets that cannot leave use no sequence numbers.
        let Some(mac) = self.policy.neighbour(port, next_hop) else {
            events(Event::Resolve {
                port,
                addr: next_hop,
            });
            for i in 0..bufs.len() {
                count_action(counters, Action::Drop(Reason::NoNeighbour));
                out(i, Action::Drop(Reason::NoNeighbour));
            }
            return;
        };
        // The Ethernet header goes on in the same pass as the outer IPv4 and ESP headers.
        let mut link = [0u8; esp::LINK_HEADER_LEN];
        ether::emit(&mut link, mac, egress.mac, ETHERTYPE_IPV4);
        let mut verdicts = [Ok(()); esp::MAX_BURST];
        for (chunk_at, chunk) in bufs.chunks_mut(esp::MAX_BURST).enumerate() {
            let verdicts = &mut verdicts[..chunk.len()];
            sa.encapsulate_burst_linked(chunk, self.now_ns, verdicts, Some(&link));
            for (i, verdict) in verdicts.iter().enumerate() {
                let action = match verdict {
                    Ok(()) => {
                        counters.encapsulated += 1;
                        Action::Forward(port)
                    }
                    Err(why) => {
                        let reason = encap_drop_reason(*why);
                        counters.drops[reason as usize] += 1;
                        Action::Drop(reason)
                    }
                };
                out(chunk_at * esp::MAX_BURST + i, action);
            }
        }
    }

    /// Decides what happens to the frame in `buf`, received on `in_port`; counts and reports
    /// events through `events`.
    #[inline]
    pub fn process<B: PacketBuf + ?Sized>(
        &self,
        in_port: u16,
        buf: &mut B,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) -> Action {
        let action = self.classify_and_run(in_port, buf, counters, events);
        count_action(counters, action);
        action
    }

    fn classify_and_run<B: PacketBuf + ?Sized>(
        &self,
        in_port: u16,
        buf: &mut B,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) -> Action {
        let Some(port) = self.policy.port(in_port) else {
            return Action::Drop(Reason::UnknownPort);
        };
        let eth = match ether::parse(buf.data()) {
            Ok(e) => e,
            Err(_) => return Action::Drop(Reason::L2Malformed),
        };
        match eth.ethertype {
            ETHERTYPE_IPV4 => {}
            ETHERTYPE_ARP => return Action::Punt(PuntReason::Arp),
            _ => return Action::Drop(Reason::NotIpv4),
        }
        let l3 = eth.l3_offset;
        let (dst, total, protocol) = {
            let ip = match Ipv4Packet::new_checked(&buf.data()[l3..]) {
                Ok(ip) => ip,
                Err(WireError::Truncated) => return Action::Drop(Reason::IpTruncated),
                Err(WireError::Malformed) => return Action::Drop(Reason::IpMalformed),
            };
            if !ip.verify_checksum() {
                return Action::Drop(Reason::IpChecksum);
            }
            (ip.dst(), ip.total_len(), ip.protocol())
        };
        if self.policy.is_local(dst) {
            return self.local(port, buf, l3, protocol, counters, events);
        }
        // Forwarded packets lose their L2 header and any Ethernet padding.
        let excess = buf.len() - l3 - total;
        if (excess != 0 && buf.trim(excess).is_err()) || buf.adj(l3).is_err() {
            return Action::Drop(Reason::IpTruncated);
        }
        if buf.data()[8] <= 1 {
            // Put the L2 header back so that the control thread gets the frame as received.
            if buf.prepend(l3).is_ok() {
                return Action::Punt(PuntReason::TtlExceeded);
            }
            return Action::Drop(Reason::TtlExpired);
        }
        self.forward(port.vrf, buf, true, counters, events)
    }

    /// A packet addressed to one of our addresses (still with its L2 header).
    fn local<B: PacketBuf + ?Sized>(
        &self,
        port: &PortPolicy,
        buf: &mut B,
        l3: usize,
        protocol: u8,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) -> Action {
        let _ = port;
        let at = match esp::classify(&buf.data()[l3..]) {
            Ok(Classified::Esp(at)) => at,
            Ok(Classified::Ike { .. }) => return Action::Punt(PuntReason::Ike),
            Ok(Classified::Keepalive) => return Action::Drop(Reason::NatKeepalive),
            Ok(Classified::Other) => {
                return match protocol {
                    ipv4::proto::ICMP => Action::Punt(PuntReason::Icmp),
                    ipv4::proto::UDP if is_ike_500(&buf.data()[l3..]) => {
                        Action::Punt(PuntReason::Ike)
                    }
                    _ => Action::Punt(PuntReason::Local),
                };
            }
            Err(esp::DropReason::Fragment) => return Action::Punt(PuntReason::Local),
            Err(_) => return Action::Drop(Reason::NatKeepalive),
        };
        let Some(binding) = self.policy.inbound.get(&at.spi) else {
            return Action::Drop(Reason::BadSpi);
        };
        if buf.adj(l3).is_err() {
            return Action::Drop(Reason::IpTruncated);
        }
        if binding.sa.decapsulate(buf, &at, self.now_ns).is_err() {
            return Action::Drop(Reason::EspRejected);
        }
        counters.decapsulated += 1;
        let key = match Ipv4Packet::new_checked(buf.data()) {
            Ok(inner) => FlowKey::from_ipv4(&inner),
            Err(_) => return Action::Drop(Reason::IpMalformed),
        };
        if !binding.selectors.classify(&key).is_some_and(|v| v.permit) {
            // Counted on the SA too, so that `show crypto ipsec sa` says which tunnel
            // carries traffic its selectors refuse (a drop path: one atomic add is fine).
            binding
                .sa
                .counters()
                .add_drops(esp::DropReason::SelectorMismatch, 1);
            return Action::Drop(Reason::PolicyViolation);
        }
        if buf.data()[8] <= 1 {
            return Action::Drop(Reason::TtlExpired);
        }
        self.forward(binding.vrf, buf, true, counters, events)
    }

    /// Routes a packet we originate (ICMP errors and replies, in `buf` without L2 header) in
    /// `vrf`, with the same crypto map and MTU handling as transit traffic but no TTL
    /// decrement.
    pub fn originate<B: PacketBuf + ?Sized>(
        &self,
        vrf: u16,
        buf: &mut B,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) -> Action {
        let action = self.forward(vrf, buf, false, counters, events);
        count_action(counters, action);
        action
    }

    /// Routes the IPv4 packet in `buf` (no L2 header) in `vrf`: FIB, crypto map, MTU, then
    /// [`Pipeline::deliver`]. `transit` packets have their TTL decremented; ones we
    /// originate not.
    fn forward<B: PacketBuf + ?Sized>(
        &self,
        vrf: u16,
        buf: &mut B,
        transit: bool,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) -> Action {
        let Ok(ip) = Ipv4Packet::new_checked(buf.data()) else {
            return Action::Drop(Reason::IpMalformed);
        };
        let dst = ip.dst();
        let Some((_, adjacency)) = self.fib.lookup(vrf, dst) else {
            return Action::Drop(Reason::NoRoute);
        };
        let Some(out_port) = self.policy.interface_port(adjacency.interface) else {
            return Action::Drop(Reason::NoRoute);
        };
        let Some(egress) = self.policy.port(out_port) else {
            return Action::Drop(Reason::NoRoute);
        };
        let next_hop = if adjacency.gateway.is_unspecified() {
            dst
        } else {
            adjacency.gateway
        };
        let mut target = Target::Clear {
            port: out_port,
            next_hop,
        };
        let mut mtu = usize::from(egress.mtu);

        // Crypto map on the egress interface: the first matching entry decides; `deny`
        // and no match leave the packet in the clear.
        if let Some(map_index) = egress.crypto_map {
            let map = &self.policy.maps[map_index as usize];
            let key = map.classifier.key_for(&ip);
            if let Some(verdict) = map.classifier.classify(&key).filter(|v| v.permit) {
                let entry = &map.entries[verdict.tag as usize];
                let Some(sa) = entry.outbound.as_deref() else {
                    if entry.claim_acquire(self.now_ns) {
                        events(Event::Acquire {
                            map: map_index,
                            entry: verdict.tag,
                            peer: entry.peer,
                        });
                    }
                    return Action::Drop(Reason::NoSa);
                };
                let Some(outer) = self.outer_route(sa) else {
                    return Action::Drop(Reason::NoRoute);
                };
                // The outer port's limit was worked out once; a smaller MTU on the port the
                // route names (whose crypto map this is) still applies.
                mtu = if egress.mtu >= outer.egress.mtu {
                    outer.inner_mtu
                } else {
                    largest_inner(sa, usize::from(egress.mtu))
                };
                let (outer_port, outer_next_hop) = (outer.port, outer.next_hop);
                target = Target::Sa {
                    map: map_index,
                    entry: verdict.tag,
                    port: outer_port,
                    next_hop: outer_next_hop,
                };
            }
        }
        if buf.len() > mtu {
            return self.too_big(vrf, buf, mtu as u16, target, transit, counters, events);
        }
        self.deliver(target, buf, transit, counters, events)
    }

    /// Where the outer packets of `sa` leave: port, its policy, next hop, and the largest
    /// inner packet that port takes.
    #[inline]
    fn outer_route(&self, sa: &esp::OutboundSa) -> Option<OuterRoute<'a>> {
        let key = std::ptr::from_ref(sa) as usize;
        if let Some(known) = self.outer_route.get().filter(|r| r.sa == key) {
            return Some(known);
        }
        self.find_outer_route(sa, key)
    }

    #[cold]
    fn find_outer_route(&self, sa: &esp::OutboundSa, key: usize) -> Option<OuterRoute<'a>> {
        let peer = sa.template().dst;
        let (_, adj) = self.fib.lookup(0, peer)?;
        let port = self.policy.interface_port(adj.interface)?;
        let egress = self.policy.port(port)?;
        let next_hop = if adj.gateway.is_unspecified() {
            peer
        } else {
            adj.gateway
        };
        let route = OuterRoute {
            sa: key,
            port,
            egress,
            next_hop,
            inner_mtu: largest_inner(sa, usize::from(egress.mtu)),
        };
        self.outer_route.set(Some(route));
        Some(route)
    }

    /// Sends a packet that fits toward a decided target: TTL, encapsulation, L2. `buf` holds
    /// an IPv4 packet its caller checked.
    #[inline(always)]
    fn deliver<B: PacketBuf + ?Sized>(
        &self,
        target: Target,
        buf: &mut B,
        transit: bool,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) -> Action {
        // forward() and fragment() checked the header; the TTL check is deliver's own.
        if transit && ipv4::decrement_ttl(buf.data_mut()).is_none() {
            return Action::Drop(Reason::TtlExpired);
        }
        match target {
            Target::Clear { port, next_hop } => {
                let Some(egress) = self.policy.port(port) else {
                    return Action::Drop(Reason::NoRoute);
                };
                self.rewrite_l2(port, egress, next_hop, buf, events)
            }
            // The SA and its port are looked up again where the burst is sealed
            // (`encapsulate_burst`), which drops the packets if either is gone.
            Target::Sa { .. } if self.defer_encapsulation => Action::Encapsulate(target),
            Target::Sa {
                map,
                entry,
                port,
                next_hop,
            } => {
                let Some(sa) = self
                    .policy
                    .maps
                    .get(map as usize)
                    .and_then(|m| m.entries.get(entry as usize))
                    .and_then(|e| e.outbound.as_deref())
                else {
                    return Action::Drop(Reason::NoSa);
                };
                let Some(egress) = self.policy.port(port) else {
                    return Action::Drop(Reason::NoRoute);
                };
                if let Err(why) = sa.encapsulate(buf, self.now_ns) {
                    return Action::Drop(encap_drop_reason(why));
                }
                counters.encapsulated += 1;
                self.rewrite_l2(port, egress, next_hop, buf, events)
            }
        }
    }

    /// The packet does not fit (`mtu` is what the packet may be before any encapsulation).
    /// With DF set, it becomes an ICMP fragmentation-needed to its sender, routed like any
    /// packet we originate; without DF it is to be fragmented ([`Action::Fragment`]).
    #[allow(clippy::too_many_arguments)]
    fn too_big<B: PacketBuf + ?Sized>(
        &self,
        vrf: u16,
        buf: &mut B,
        mtu: u16,
        target: Target,
        transit: bool,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
    ) -> Action {
        let (df, src, header_len, is_icmp_error) = {
            let Ok(ip) = Ipv4Packet::new_checked(buf.data()) else {
                return Action::Drop(Reason::IpMalformed);
            };
            let l4 = ip.payload();
            let icmp_error = ip.protocol() == ipv4::proto::ICMP
                && l4.first().is_some_and(|&t| {
                    !matches!(t, icmp::TYPE_ECHO_REQUEST | icmp::TYPE_ECHO_REPLY)
                });
            (ip.dont_fragment(), ip.src(), ip.header_len(), icmp_error)
        };
        if !df {
            if usize::from(mtu) < header_len + 8 {
                return Action::Drop(Reason::NeedsFragmentation);
            }
            return Action::Fragment(FragmentPlan { target, mtu });
        }
        // Never answer an ICMP error with one (RFC 1122 3.2.2), nor a packet we made.
        if is_icmp_error || !transit {
            return Action::Drop(Reason::FragNeededSent);
        }
        let Some(own) = self.source_toward(vrf, src) else {
            return Action::Drop(Reason::NoRoute);
        };
        // Keep the original header and 8 bytes of its payload; put ICMP and a new IP header
        // in front, in the same buffer.
        let quoted = (header_len + 8).min(buf.len());
        if buf.trim(buf.len() - quoted).is_err()
            || buf.prepend(ipv4::HEADER_LEN + icmp::HEADER_LEN).is_err()
        {
            return Action::Drop(Reason::NeedsFragmentation);
        }
        let data = buf.data_mut();
        let mut rest = [0u8; 4];
        rest[2..].copy_from_slice(&mtu.to_be_bytes());
        icmp::emit(
            &mut data[ipv4::HEADER_LEN..],
            icmp::TYPE_DEST_UNREACHABLE,
            icmp::CODE_FRAG_NEEDED,
            rest,
        );
        ipv4::Ipv4Repr {
            src: own,
            dst: src,
            protocol: ipv4::proto::ICMP,
            tos: 0xc0,
            ident: 0,
            dont_fragment: false,
            ttl: OWN_TTL,
            payload_len: (icmp::HEADER_LEN + quoted) as u16,
        }
        .emit(data);
        counters.drops[Reason::FragNeededSent as usize] += 1;
        self.forward(vrf, buf, false, counters, events)
    }

    /// Carries out an [`Action::Fragment`]: splits the packet in `buf` (no L2 header, TTL
    /// not yet decremented) into fragments of at most `plan.mtu` bytes, taking buffers for
    /// all but the first from `alloc`, and delivers each to the target decided for the
    /// whole packet (so that fragments without ports are never classified differently).
    /// `out` receives every fragment with its action. Without buffers the packet is
    /// dropped whole.
    pub fn fragment<B: PacketBuf>(
        &self,
        plan: FragmentPlan,
        mut buf: B,
        alloc: &mut impl FnMut() -> Option<B>,
        counters: &mut WorkerCountersSnapshot,
        events: &mut impl FnMut(Event),
        out: &mut impl FnMut(B, Action),
    ) {
        let (header_len, total, base_offset, more) = match Ipv4Packet::new_checked(buf.data()) {
            Ok(ip) => (
                ip.header_len(),
                ip.total_len(),
                ip.flags_frag() & 0x1fff,
                ip.flags_frag() & ipv4::FLAG_MF != 0,
            ),
            Err(_) => {
                counters.drops[Reason::IpMalformed as usize] += 1;
                return out(buf, Action::Drop(Reason::IpMalformed));
            }
        };
        let chunk = (usize::from(plan.mtu) - header_len) & !7;
        let payload = total - header_len;
        let pieces = payload.div_ceil(chunk);
        let mut rest: [Option<B>; MAX_FRAGMENTS] = std::array::from_fn(|_| None);
        if pieces > MAX_FRAGMENTS + 1 {
            counters.drops[Reason::NeedsFragmentation as usize] += 1;
            return out(buf, Action::Drop(Reason::NeedsFragmentation));
        }
        for slot in rest.iter_mut().take(pieces - 1) {
            match alloc() {
                Some(b) => *slot = Some(b),
                None => {
                    counters.drops[Reason::NeedsFragmentation as usize] += 1;
                    return out(buf, Action::Drop(Reason::NeedsFragmentation));
                }
            }
        }
        // Later fragments first, copied out of the original before it is cut.
        for (k, slot) in rest.iter_mut().take(pieces - 1).enumerate() {
            let Some(mut frag) = slot.take() else {
                continue;
            };
            let start = header_len + (k + 1) * chunk;
            let end = (start + chunk).min(total);
            let last = k + 2 == pieces;
            let ok = frag.append(header_len + end - start).is_ok();
            if !ok {
                counters.drops[Reason::NeedsFragmentation as usize] += 1;
                out(frag, Action::Drop(Reason::NeedsFragmentation));
                continue;
            }
            let data = buf.data();
            let f = frag.data_mut();
            f[..header_len].copy_from_slice(&data[..header_len]);
            f[header_len..].copy_from_slice(&data[start..end]);
            let offset = base_offset + ((k + 1) * chunk / 8) as u16;
            set_fragment_fields(f, header_len + end - start, offset, !last || more);
            let action = self.deliver(plan.target, &mut frag, true, counters, events);
            count_action(counters, action);
            out(frag, action);
        }
        // The first fragment stays in the original buffer.
        if buf.trim(total - header_len - chunk).is_err() {
            counters.drops[Reason::NeedsFragmentation as usize] += 1;
            return out(buf, Action::Drop(Reason::NeedsFragmentation));
        }
        set_fragment_fields(buf.data_mut(), header_len + chunk, base_offset, true);
        let action = self.deliver(plan.target, &mut buf, true, counters, events);
        count_action(counters, action);
        out(buf, action);
    }

    /// Our address on the interface that leads to `addr`.
    fn source_toward(&self, vrf: u16, addr: Ipv4Addr) -> Option<Ipv4Addr> {
        let (_, adj) = self.fib.lookup(vrf, addr)?;
        let port = self.policy.interface_port(adj.interface)?;
        self.policy.port(port)?.primary_address()
    }

    fn rewrite_l2<B: PacketBuf + ?Sized>(
        &self,
        out_port: u16,
        egress: &PortPolicy,
        next_hop: Ipv4Addr,
        buf: &mut B,
        events: &mut impl FnMut(Event),
    ) -> Action {
        let Some(mac) = self.policy.neighbour(out_port, next_hop) else {
            events(Event::Resolve {
                port: out_port,
                addr: next_hop,
            });
            return Action::Drop(Reason::NoNeighbour);
        };
        push_l2(out_port, egress, mac, buf)
    }
}

/// The worker's reason for a packet its outbound SA refused: a seal failure has its own
/// counter, as it is the one refusal that says something is wrong with the crypto itself.
#[inline]
fn encap_drop_reason(why: esp::DropReason) -> Reason {
    match why {
        esp::DropReason::SealFailed => Reason::SealFailed,
        _ => Reason::EspEncapFailed,
    }
}

/// Puts the Ethernet header toward `mac` in front of the IPv4 packet in `buf`.
fn push_l2<B: PacketBuf + ?Sized>(
    out_port: u16,
    egress: &PortPolicy,
    mac: [u8; 6],
    buf: &mut B,
) -> Action {
    match buf.prepend(ether::HEADER_LEN) {
        Ok(l2) => {
            ether::emit(l2, mac, egress.mac, ETHERTYPE_IPV4);
            Action::Forward(out_port)
        }
        Err(_) => Action::Drop(Reason::EspEncapFailed),
    }
}

/// Whether an IPv4 packet is UDP to port 500 (IKE without NAT traversal).
fn is_ike_500(packet: &[u8]) -> bool {
    let Ok(ip) = Ipv4Packet::new_checked(packet) else {
        return false;
    };
    wire::udp::UdpPacket::new_checked(ip.payload())
        .is_ok_and(|u| u.dst_port() == wire::udp::IKE_PORT)
}

/// The largest inner packet whose encapsulation fits `mtu`: the padded part (inner, pad
/// length and next header, rounded up to the SA's alignment) may fill what the headers and
/// the ICV leave, rounded down to that alignment.
fn largest_inner(sa: &esp::OutboundSa, mtu: usize) -> usize {
    let align = sa.padding_alignment();
    let room = mtu.saturating_sub(sa.front_overhead() + esp::ICV_LEN);
    // A power of two (4 or 16): a mask, where a division was the costliest instruction of
    // a packet's crypto map path.
    debug_assert!(align.is_power_of_two());
    (room & !(align - 1)).saturating_sub(2)
}

#[cfg(test)]
mod tests {
    use super::largest_inner;
    use esp::{OutboundSa, Padding, SaParams, Transform, TunnelTemplate};
    use std::net::Ipv4Addr;

    #[test]
    fn largest_inner_is_the_largest_that_fits() {
        for padding in [Padding::Align16, Padding::Minimal] {
            for udp in [false, true] {
                let mut tunnel =
                    TunnelTemplate::new(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
                if udp {
                    tunnel.udp = Some(esp::UdpEncap {
                        src_port: 4500,
                        dst_port: 4500,
                    });
                }
                let keymat = [7u8; 20];
                let mut p =
                    SaParams::from_keymat(0x1000, Transform::AesGcm128, &keymat, tunnel).unwrap();
                p.padding = padding;
                let sa = OutboundSa::new(&p, 0).unwrap();
                for mtu in 60..1600 {
                    let inner = largest_inner(&sa, mtu);
                    if inner > 0 {
                        assert!(sa.outer_len(inner) <= mtu, "{padding:?} {udp} {mtu}");
                    }
                    assert!(sa.outer_len(inner + 1) > mtu, "{padding:?} {udp} {mtu}");
                }
            }
        }
    }
}
