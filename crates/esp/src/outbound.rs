//! Outbound SA: tunnel-mode encapsulation.

use crate::counters::{BurstTally, SaCounters};
use crate::sa::{LifetimeState, RekeyReason, SaError, SaParams, TunnelTemplate};
use crate::{
    DfPolicy, DropReason, IdentPolicy, Transform, ICV_LEN, IV_LEN, LINK_HEADER_LEN, MAX_BURST,
};
use arrayvec::ArrayVec;
use pktbuf::PacketBuf;
use ring::aead::{Aad, LessSafeKey, Nonce};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wire::ipv4;

/// One outbound SA. Shared by reference between every core that sends on it.
#[derive(Debug)]
pub struct OutboundSa {
    spi: u32,
    transform: Transform,
    key: LessSafeKey,
    salt: [u8; 4],
    esn: bool,
    template: TunnelTemplate,
    /// Plaintext alignment (4 or 16).
    align: usize,
    /// One's-complement sum of `outer_header` (the words that never change), so each packet
    /// adds only its own words.
    outer_fixed_sum: u32,
    /// The outer IPv4 header with the fields that never change filled in (version, TTL,
    /// protocol, addresses) and zeros where each packet writes its own.
    outer_header: [u8; ipv4::HEADER_LEN],
    /// How many sequence numbers have been handed out; the next is `used + 1`. Only ever
    /// grows, by compare-and-swap, and never past `seq_limit`: this is what makes every
    /// nonce of the SA distinct (see the crate documentation).
    used: AtomicU64,
    /// The last sequence number this SA may use: the end of the sequence space
    /// (2^32 - 1, or 2^64 - 1 with ESN), or the hard packet lifetime if lower.
    seq_limit: u64,
    /// The last sequence number this SA may use for now, at most `seq_limit`: for SAs whose
    /// numbers must survive a restart (manual keys), the end of the block the control thread
    /// has persisted; past it packets are refused ([`DropReason::SequenceNotReserved`])
    /// until it persists the next block. `seq_limit` for every other SA.
    ceiling: AtomicU64,
    /// Whether reaching `seq_limit` is a lifetime expiry (packets) rather than exhaustion.
    limit_is_lifetime: bool,
    /// Reserving a number at or above this raises a rekey request.
    soft_seq: u64,
    soft_is_lifetime: bool,
    lifetime: LifetimeState,
    counters: SaCounters,
    /// Seals bursts instead of ring when present (see [`BurstSeal`]).
    burst_seal: Option<Arc<dyn BurstSeal>>,
    /// Names the nonce space: SHA-256 over a label, the transform, the key and the salt,
    /// cut to 16 bytes (see [`OutboundSa::nonce_space`]).
    nonce_space: [u8; 16],
}

/// An AEAD that seals a whole burst in one call, supplied from outside this crate (for the
/// data plane: intel-ipsec-mb through DPDK's CPU crypto API, about twice ring's speed here).
/// It must hold the SA's own key: the SA keeps the nonce discipline (each job's nonce is the
/// salt and a sequence number reserved for that packet alone) and checks nothing else.
pub trait BurstSeal: Send + Sync + std::fmt::Debug {
    /// Seals every job in place and writes its ICV; `ok[i]` says whether job `i` was sealed.
    /// A job left `false` is dropped and counted as [`DropReason::SealFailed`], never sent,
    /// whatever its buffer holds (it may still be cleartext).
    fn seal_burst(&self, jobs: &mut [SealJob<'_>], ok: &mut [bool]);
}

/// One packet of a [`BurstSeal`] call.
#[derive(Debug, Default)]
pub struct SealJob<'a> {
    /// The ESP payload, padding and trailer, sealed in place.
    pub plaintext: &'a mut [u8],
    /// Where the 16-byte ICV goes.
    pub icv: &'a mut [u8],
    /// Salt and explicit IV.
    pub nonce: [u8; 12],
    /// SPI and sequence number (RFC 4106 section 5); `aad_len` bytes of it.
    pub aad: [u8; 12],
    pub aad_len: usize,
}

/// The outcome of reserving sequence numbers for a burst.
struct Reservation {
    first: u64,
    granted: usize,
    /// Why packets past `granted` get no number, as the reservation saw it.
    short: DropReason,
}

impl OutboundSa {
    /// An outbound SA created at `now_ns`.
    pub fn new(params: &SaParams, now_ns: u64) -> Result<Self, SaError> {
        let key = params.validate()?;
        let header = outer_header(&params.tunnel);
        let space_end = if params.esn {
            u64::MAX
        } else {
            u64::from(u32::MAX)
        };
        let hard_packets = params.lifetime.hard.packets.unwrap_or(u64::MAX);
        let (seq_limit, limit_is_lifetime) = if hard_packets < space_end {
            (hard_packets, true)
        } else {
            (space_end, false)
        };
        // Ask for a new SA when 1/16 of the sequence space remains (at 10 Mpps that is
        // still 27 s of a 32-bit space), or at the soft packet lifetime if sooner.
        let space_soft = space_end - space_end / 16;
        let (soft_seq, soft_is_lifetime) = match params.lifetime.soft.packets {
            Some(p) if p < space_soft => (p, true),
            _ => (space_soft, false),
        };
        Ok(OutboundSa {
            spi: params.spi,
            transform: params.transform,
            key,
            salt: params.salt,
            esn: params.esn,
            template: params.tunnel,
            align: params.padding.alignment(),
            outer_fixed_sum: wire::checksum::sum(0, &header),
            outer_header: header,
            used: AtomicU64::new(0),
            seq_limit,
            ceiling: AtomicU64::new(seq_limit),
            limit_is_lifetime,
            soft_seq,
            soft_is_lifetime,
            lifetime: LifetimeState::new(params.lifetime, now_ns),
            counters: SaCounters::default(),
            burst_seal: None,
            nonce_space: nonce_space(params),
        })
    }

    /// Seals bursts ([`OutboundSa::encapsulate_burst`]) with `seal` instead of ring; single
    /// packets stay with ring. `seal` must hold this SA's key (see [`BurstSeal`]).
    pub fn with_burst_seal(mut self, seal: Arc<dyn BurstSeal>) -> Self {
        self.burst_seal = Some(seal);
        self
    }

    /// Whether bursts are sealed by a [`BurstSeal`].
    pub fn has_burst_seal(&self) -> bool {
        self.burst_seal.is_some()
    }

    pub fn spi(&self) -> u32 {
        self.spi
    }

    pub fn transform(&self) -> Transform {
        self.transform
    }

    pub fn esn(&self) -> bool {
        self.esn
    }

    pub fn template(&self) -> &TunnelTemplate {
        &self.template
    }

    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    /// The last sequence number handed out (0 before the first packet).
    pub fn last_seq(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Why the SA asked to be rekeyed, once it has.
    pub fn rekey_requested(&self) -> Option<RekeyReason> {
        self.lifetime.rekey_reason()
    }

    /// Which hard limit stopped the SA, once one has.
    pub fn expired(&self) -> Option<RekeyReason> {
        self.lifetime.expired_reason()
    }

    /// Seconds left before the hard time lifetime.
    pub fn remaining_seconds(&self, now_ns: u64) -> Option<u64> {
        self.lifetime.remaining_seconds(now_ns)
    }

    /// Continues an SA whose numbers up to `last_used` were spent elsewhere (state handed
    /// over from a peer gateway or restored after a restart). Numbers only move forward: a
    /// value at or below the current one is ignored, so no nonce can be reused.
    pub fn resume_after(&self, last_used: u64) {
        self.used
            .fetch_max(last_used.min(self.seq_limit), Ordering::Relaxed);
    }

    /// What names this SA's nonce space, whatever its SPI or peer: two SAs with the same
    /// transform, key and salt share it (their sequence numbers must never meet), any other
    /// two do not. A one-way digest of the key: it can be stored and compared, not reversed.
    pub fn nonce_space(&self) -> [u8; 16] {
        self.nonce_space
    }

    /// Holds the SA's sequence numbers at or below `ceiling` (capped at the end of its
    /// space) until it is raised again: the control thread sets it to the end of the block
    /// of numbers it has written to stable storage, so that a restart resumes past every
    /// number this SA could have used. Set before the SA sends its first packet.
    pub fn set_sequence_ceiling(&self, ceiling: u64) {
        self.ceiling
            .store(ceiling.min(self.seq_limit), Ordering::Release);
    }

    /// The last sequence number the SA may use for now (see
    /// [`OutboundSa::set_sequence_ceiling`]).
    pub fn sequence_ceiling(&self) -> u64 {
        self.ceiling.load(Ordering::Acquire)
    }

    /// The last sequence number of the SA's whole space (or its hard packet lifetime).
    pub fn sequence_limit(&self) -> u64 {
        self.seq_limit
    }

    /// Bytes the encapsulation adds in front of an inner packet.
    pub fn front_overhead(&self) -> usize {
        crate::FRONT_OVERHEAD + self.template.udp.map_or(0, |_| wire::udp::HEADER_LEN)
    }

    /// What the encrypted part (inner packet, padding, pad length, next header) is rounded
    /// up to: 4 or 16 bytes.
    pub fn padding_alignment(&self) -> usize {
        self.align
    }

    /// Bytes of outer packet an inner packet of `inner_len` bytes becomes.
    pub fn outer_len(&self, inner_len: usize) -> usize {
        self.front_overhead() + padded_len(inner_len, self.align) + ICV_LEN
    }

    /// Reserves up to `wanted` consecutive sequence numbers, raising the rekey request and
    /// expiry as the limits are crossed.
    #[inline]
    fn reserve(&self, wanted: usize, now_ns: u64) -> Result<Reservation, DropReason> {
        if !self.lifetime.check(now_ns, self.counters.bytes()) {
            return Err(DropReason::LifetimeExpired);
        }
        let wanted = wanted as u64;
        // One load per burst: the ceiling a manual SA's persisted block sets.
        let ceiling = self.ceiling.load(Ordering::Acquire);
        let mut used = self.used.load(Ordering::Relaxed);
        let granted = loop {
            let left = ceiling.saturating_sub(used);
            if left == 0 {
                if ceiling < self.seq_limit {
                    return Err(DropReason::SequenceNotReserved);
                }
                return Err(self.exhausted());
            }
            let granted = wanted.min(left);
            match self.used.compare_exchange_weak(
                used,
                used + granted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break granted,
                Err(current) => used = current,
            }
        };
        if used + granted >= self.soft_seq {
            self.lifetime.request_rekey(if self.soft_is_lifetime {
                RekeyReason::Packets
            } else {
                RekeyReason::SequenceSpace
            });
        }
        if used + granted == self.seq_limit {
            // The last number is out; later packets will be refused.
            self.exhausted();
        }
        // Decided from the ceiling this reservation read: the control thread may raise it
        // at any moment, and a held SA must not be reported (or expired) as exhausted.
        let short = if ceiling < self.seq_limit {
            DropReason::SequenceNotReserved
        } else if self.limit_is_lifetime {
            DropReason::LifetimeExpired
        } else {
            DropReason::SequenceExhausted
        };
        Ok(Reservation {
            first: used + 1,
            granted: granted as usize,
            short,
        })
    }

    fn exhausted(&self) -> DropReason {
        if self.limit_is_lifetime {
            self.lifetime.expire(RekeyReason::Packets);
            DropReason::LifetimeExpired
        } else {
            DropReason::SequenceExhausted
        }
    }

    /// Encapsulates the inner IPv4 packet in `buf` (starting at its IP header) into an outer
    /// IPv4 packet, at `now_ns`. On error the packet is counted as dropped and the buffer is
    /// unchanged, except that bytes behind the inner packet's total length (Ethernet
    /// padding) may have been trimmed; after [`DropReason::SealFailed`] the buffer holds a
    /// half-built packet that must not be sent.
    pub fn encapsulate<B: PacketBuf + ?Sized>(
        &self,
        buf: &mut B,
        now_ns: u64,
    ) -> Result<(), DropReason> {
        let result = self.prepare(buf, 0).and_then(|()| {
            let inner_len = buf.len() as u64;
            let r = self.reserve(1, now_ns)?;
            if !self.seal(buf, r.first, r.first.to_be_bytes()) {
                return Err(DropReason::SealFailed);
            }
            Ok(inner_len)
        });
        match result {
            Ok(inner_len) => {
                self.counters.add_ok(1, inner_len);
                Ok(())
            }
            Err(reason) => {
                self.counters.add_drops(reason, 1);
                Err(reason)
            }
        }
    }

    /// Encapsulates every packet of a burst, writing each one's outcome into `verdicts`
    /// (which must be at least as long as `bufs`; extra packets are refused as `NoRoom`
    /// without being touched). Sequence numbers and counters are taken once per chunk of
    /// [`MAX_BURST`] packets. Returns how many packets were encapsulated.
    pub fn encapsulate_burst<B: PacketBuf>(
        &self,
        bufs: &mut [B],
        now_ns: u64,
        verdicts: &mut [Result<(), DropReason>],
    ) -> usize {
        self.encapsulate_burst_linked(bufs, now_ns, verdicts, None)
    }

    /// [`OutboundSa::encapsulate_burst`], with `link` (an Ethernet header, say) put in front
    /// of each outer packet in the same pass, when given: one adjustment of each buffer and
    /// one pass over the burst where a caller adding its own header needed another of each.
    pub fn encapsulate_burst_linked<B: PacketBuf>(
        &self,
        bufs: &mut [B],
        now_ns: u64,
        verdicts: &mut [Result<(), DropReason>],
        link: Option<&[u8; LINK_HEADER_LEN]>,
    ) -> usize {
        let mut done = 0;
        let n = bufs.len().min(verdicts.len());
        for (bufs, verdicts) in bufs[..n]
            .chunks_mut(MAX_BURST)
            .zip(verdicts.chunks_mut(MAX_BURST))
        {
            done += self.encapsulate_chunk(bufs, now_ns, verdicts, link);
        }
        done
    }

    fn encapsulate_chunk<B: PacketBuf>(
        &self,
        bufs: &mut [B],
        now_ns: u64,
        verdicts: &mut [Result<(), DropReason>],
        link: Option<&[u8; LINK_HEADER_LEN]>,
    ) -> usize {
        let link_len = link.map_or(0, |l| l.len());
        let mut ready = 0;
        for (buf, verdict) in bufs.iter_mut().zip(verdicts.iter_mut()) {
            *verdict = self.prepare(buf, link_len);
            ready += usize::from(verdict.is_ok());
        }
        let reservation = self.reserve(ready, now_ns);
        let tally = match &self.burst_seal {
            None => self.for_each_granted(bufs, verdicts, reservation, |_, buf, seq| {
                self.seal_linked(buf, seq, seq.to_be_bytes(), link)
            }),
            Some(sealer) => {
                // Every packet framed, then one sealing call for the chunk. The jobs go into
                // an ArrayVec: a whole array of default jobs, built and moved per chunk, was
                // 4 KB of stores and a 4 KB copy (3.5 % of a 64-byte packet's time).
                let mut jobs = ArrayVec::<SealJob<'_>, MAX_BURST>::new();
                // Which packet of the chunk each job is, and its inner length, so that a job
                // the sealer refuses becomes that packet's drop.
                let mut owners = [(0u8, 0u16); MAX_BURST];
                let mut tally =
                    self.for_each_granted(bufs, verdicts, reservation, |i, buf, seq| {
                        let inner_len = buf.len() as u16;
                        let iv = seq.to_be_bytes();
                        self.frame(buf, seq, iv, link, |plaintext, icv, nonce, aad| {
                            owners[jobs.len() % MAX_BURST] = (i as u8, inner_len);
                            // A chunk is at most MAX_BURST packets, so there is room.
                            jobs.try_push(SealJob {
                                plaintext,
                                icv,
                                nonce,
                                aad: aad.bytes,
                                aad_len: aad.len,
                            })
                            .is_ok()
                        })
                    });
                let n_jobs = jobs.len();
                let mut ok = [false; MAX_BURST];
                sealer.seal_burst(&mut jobs, &mut ok[..n_jobs]);
                drop(jobs);
                for (&(i, inner_len), _) in owners[..n_jobs].iter().zip(ok).filter(|(_, ok)| !ok) {
                    tally.unseal(inner_len);
                    verdicts[usize::from(i)] = Err(DropReason::SealFailed);
                }
                tally
            }
        };
        tally.flush(&self.counters);
        tally.packets as usize
    }

    /// Calls `each` with every prepared packet of a chunk that the reservation covers, its
    /// index and its sequence number, in order; the prepared packets past it are refused with
    /// the reservation's reason, and a packet `each` could not seal (it returns `false`) with
    /// [`DropReason::SealFailed`]. Returns the chunk's tally.
    #[inline(always)]
    fn for_each_granted<'a, B: PacketBuf>(
        &self,
        bufs: &'a mut [B],
        verdicts: &mut [Result<(), DropReason>],
        reservation: Result<Reservation, DropReason>,
        mut each: impl FnMut(usize, &'a mut B, u64) -> bool,
    ) -> BurstTally {
        let mut tally = BurstTally::default();
        let (mut seq, mut granted) = match &reservation {
            Ok(r) => (r.first, r.granted),
            Err(_) => (0, 0),
        };
        for (i, (buf, verdict)) in bufs.iter_mut().zip(verdicts.iter_mut()).enumerate() {
            if verdict.is_ok() {
                if granted == 0 {
                    *verdict = Err(match &reservation {
                        Err(reason) => *reason,
                        Ok(r) => r.short,
                    });
                } else {
                    let inner_len = buf.len() as u64;
                    if each(i, buf, seq) {
                        tally.packets += 1;
                        tally.bytes += inner_len;
                    } else {
                        *verdict = Err(DropReason::SealFailed);
                    }
                    // Spent either way: a number that reached a sealer is never reused.
                    seq += 1;
                    granted -= 1;
                }
            }
            if let Err(reason) = verdict {
                tally.drop(*reason);
            }
        }
        tally
    }

    /// Checks that the packet can be encapsulated and trims Ethernet padding behind the inner
    /// packet; changes nothing else.
    #[inline]
    fn prepare<B: PacketBuf + ?Sized>(
        &self,
        buf: &mut B,
        link_len: usize,
    ) -> Result<(), DropReason> {
        // Only what encapsulation relies on: an IPv4 header whose total length the buffer
        // holds (the forwarding path has checked the rest, and the peer checks it again).
        // The header length too: an inner header the receiver cannot parse (IHL under 5, or
        // longer than the packet) would be sealed only to be dropped at the far end.
        let (total, header_len) = match buf.data().first_chunk::<{ ipv4::HEADER_LEN }>() {
            Some(h) if h[0] >> 4 == 4 => (
                usize::from(u16::from_be_bytes([h[2], h[3]])),
                usize::from(h[0] & 0x0f) * 4,
            ),
            _ => return Err(DropReason::MalformedInner),
        };
        if header_len < ipv4::HEADER_LEN || total < header_len || total > buf.len() {
            return Err(DropReason::MalformedInner);
        }
        let excess = buf.len() - total;
        let trailer = padded_len(total, self.align) - total + ICV_LEN;
        if buf.headroom() < self.front_overhead() + link_len || buf.tailroom() + excess < trailer {
            return Err(DropReason::NoRoom);
        }
        if self.outer_len(total) > usize::from(u16::MAX) {
            return Err(DropReason::TooBig);
        }
        if excess != 0 {
            buf.trim(excess).map_err(|_| DropReason::NoRoom)?;
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn prepare_for_test<B: PacketBuf + ?Sized>(
        &self,
        buf: &mut B,
    ) -> Result<(), DropReason> {
        self.prepare(buf, 0)
    }

    /// Builds the ESP packet around a prepared inner packet with sequence number `seq` and
    /// explicit IV `iv` (the sequence number, except in known-answer tests), sealed by ring.
    ///
    /// Invariant: `seq` was reserved for this packet alone, so (key, salt || iv) is fresh.
    /// Returns whether the packet was sealed; when not, it must be dropped.
    #[inline]
    #[must_use]
    pub(crate) fn seal<B: PacketBuf + ?Sized>(
        &self,
        buf: &mut B,
        seq: u64,
        iv: [u8; IV_LEN],
    ) -> bool {
        self.seal_linked(buf, seq, iv, None)
    }

    /// [`OutboundSa::seal`] with a link-layer header in front.
    #[inline]
    #[must_use]
    fn seal_linked<B: PacketBuf + ?Sized>(
        &self,
        buf: &mut B,
        seq: u64,
        iv: [u8; IV_LEN],
        link: Option<&[u8; LINK_HEADER_LEN]>,
    ) -> bool {
        self.frame(buf, seq, iv, link, |plain, icv, nonce, aad| {
            // ring refuses only lengths past 2^32 bytes, which prepare() rules out; if it
            // ever refused, the caller drops the packet.
            match self.key.seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                plain,
            ) {
                Ok(tag) if icv.len() == ICV_LEN => {
                    icv.copy_from_slice(tag.as_ref());
                    true
                }
                _ => false,
            }
        })
    }

    /// Everything of [`OutboundSa::seal`] but the AEAD: outer header, ESP header and IV in
    /// front, padding, pad length and next header behind; then `aead` gets the plaintext and
    /// ICV slices and the nonce and AAD that seal them (ring right away, or a job for a
    /// [`BurstSeal`]). Returns `false` when the packet could not be framed or `aead` says it
    /// was not sealed: the buffer then holds a half-built packet, which the caller drops.
    /// Inlined into each caller so that ring's path costs what it did as one function.
    #[inline(always)]
    fn frame<'b, B, F>(
        &self,
        buf: &'b mut B,
        seq: u64,
        iv: [u8; IV_LEN],
        link: Option<&[u8; LINK_HEADER_LEN]>,
        aead: F,
    ) -> bool
    where
        B: PacketBuf + ?Sized,
        F: FnOnce(&'b mut [u8], &'b mut [u8], [u8; 12], AadBytes) -> bool,
    {
        let inner_len = buf.len();
        let (tos, inner_df) = match buf.data().first_chunk::<8>() {
            Some(b) => (b[1], b[6] & 0x40 != 0),
            None => return false,
        };
        let plain_len = padded_len(inner_len, self.align);
        let pad_len = plain_len - 2 - inner_len;
        let front = self.front_overhead();
        let outer_len = front + plain_len + ICV_LEN;

        // prepare() checked the room; these cannot fail.
        let Ok(tail) = buf.append(pad_len + 2 + ICV_LEN) else {
            return false;
        };
        // Padding is at most 15 bytes (alignment at most 16) and the tail at least 18 (pad
        // length, next header, ICV), so a fixed 16-byte copy, one store where a variable
        // length is a call, covers it; what it writes past the padding is overwritten next
        // or by the ICV.
        debug_assert!(pad_len < 16);
        if let Some(fixed) = tail.first_chunk_mut::<16>() {
            fixed.copy_from_slice(&crate::PAD_PATTERN[..16]);
        }
        if let Some(trailer) = tail.get_mut(pad_len..pad_len + 2) {
            trailer.copy_from_slice(&[pad_len as u8, ipv4::proto::IPV4]);
        }
        if buf.prepend(front + link.map_or(0, |l| l.len())).is_err() {
            return false;
        }

        let t = &self.template;
        let ident = match t.ident {
            IdentPolicy::FromSequence => seq as u16,
            IdentPolicy::Fixed(v) => v,
        };
        let df = match t.df {
            DfPolicy::Copy => inner_df,
            DfPolicy::Set => true,
            DfPolicy::Clear => false,
        };
        let flags = if df { ipv4::FLAG_DF } else { 0 };
        // The fixed words were summed once when the SA was made; add this packet's own.
        let sum = self.outer_fixed_sum
            + u32::from(tos)
            + outer_len as u32
            + u32::from(ident)
            + u32::from(flags);
        // The header is the SA's prebuilt one with this packet's five fields written in,
        // stored whole; fixed-size chunks so that no field needs its own bounds check.
        let mut header = self.outer_header;
        header[1] = tos;
        header[2..4].copy_from_slice(&(outer_len as u16).to_be_bytes());
        header[4..6].copy_from_slice(&ident.to_be_bytes());
        header[6..8].copy_from_slice(&flags.to_be_bytes());
        header[10..12].copy_from_slice(&wire::checksum::fold(sum).to_be_bytes());
        let mut data = buf.data_mut();
        if let Some(link) = link {
            let Some((l, rest)) = data.split_first_chunk_mut::<LINK_HEADER_LEN>() else {
                return false;
            };
            *l = *link;
            data = rest;
        }
        let Some((h, rest)) = data.split_first_chunk_mut::<{ ipv4::HEADER_LEN }>() else {
            return false;
        };
        *h = header;
        let rest = match t.udp {
            Some(udp) => {
                let Some((u, rest)) = rest.split_first_chunk_mut::<{ wire::udp::HEADER_LEN }>()
                else {
                    return false;
                };
                let payload_len = outer_len - ipv4::HEADER_LEN - wire::udp::HEADER_LEN;
                wire::udp::emit_header(u, udp.src_port, udp.dst_port, payload_len);
                rest
            }
            None => rest,
        };
        let Some((esp, rest)) = rest.split_first_chunk_mut::<16>() else {
            return false;
        };
        wire::esp::emit_header(esp, self.spi, seq as u32);
        esp[8..].copy_from_slice(&iv);

        let nonce = join_4_8(self.salt, iv);
        let aad = AadBytes::new(self.spi, seq, self.esn);

        let (plain, icv) = rest.split_at_mut(plain_len.min(rest.len()));
        aead(plain, icv, nonce, aad)
    }
}

/// See [`OutboundSa::nonce_space`].
fn nonce_space(params: &SaParams) -> [u8; 16] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"rri ESP nonce space v1");
    ctx.update(&[params.transform as u8]);
    ctx.update(&params.key);
    ctx.update(&params.salt);
    let digest = ctx.finish();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest.as_ref()[..16]);
    out
}

/// Inner length plus padding, pad length and next header, rounded up to `align` bytes
/// (RFC 4303 section 2.4 asks for 4; the AEAD transforms have a block size of 1). `align`
/// is a power of two (4 or 16), so this is a mask, not a division.
#[inline]
pub(crate) fn padded_len(inner_len: usize, align: usize) -> usize {
    debug_assert!(align.is_power_of_two());
    (inner_len + 2 + align - 1) & !(align - 1)
}

/// The outer header's bytes that are the same for every packet; the others zero.
fn outer_header(t: &TunnelTemplate) -> [u8; ipv4::HEADER_LEN] {
    let mut h = [0u8; ipv4::HEADER_LEN];
    h[0] = 0x45;
    h[8] = t.ttl;
    h[9] = if t.udp.is_some() {
        ipv4::proto::UDP
    } else {
        ipv4::proto::ESP
    };
    h[12..16].copy_from_slice(&t.src.octets());
    h[16..20].copy_from_slice(&t.dst.octets());
    h
}

/// The AAD of RFC 4106 section 5 / RFC 7634 section 2.1: SPI and the 32-bit sequence number,
/// or SPI and both halves of the 64-bit one with ESN.
///
/// The 12 bytes are built in a register and stored whole (bytes past the AAD are zero):
/// written piecewise and then copied whole into a sealing job, they made the copy wait for
/// two stores to retire (a failed store-to-load forward on every packet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AadBytes {
    pub bytes: [u8; 12],
    pub len: usize,
}

impl AadBytes {
    #[inline(always)]
    pub(crate) fn new(spi: u32, seq: u64, esn: bool) -> Self {
        let (sequence, len) = if esn {
            (seq.to_be_bytes(), 12)
        } else {
            let mut low = [0u8; 8];
            low[..4].copy_from_slice(&(seq as u32).to_be_bytes());
            (low, 8)
        };
        AadBytes {
            bytes: join_4_8(spi.to_be_bytes(), sequence),
            len,
        }
    }

    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// `a` then `b` as one 12-byte value, assembled in a register (see [`AadBytes`]).
#[inline(always)]
pub(crate) fn join_4_8(a: [u8; 4], b: [u8; 8]) -> [u8; 12] {
    let joined = u128::from(u32::from_le_bytes(a)) | u128::from(u64::from_le_bytes(b)) << 32;
    let bytes = joined.to_le_bytes();
    let mut out = [0u8; 12];
    out.copy_from_slice(&bytes[..12]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The register-built AAD and nonce are the byte strings RFC 4106 section 5 spells
        /// out: SPI then the 32-bit sequence number, or SPI then the 64-bit one with ESN;
        /// salt then explicit IV.
        #[test]
        fn aad_and_nonce_bytes_match_their_definition(
            spi: u32, seq: u64, esn: bool, salt: [u8; 4], iv: [u8; 8]
        ) {
            let mut expected = spi.to_be_bytes().to_vec();
            if esn {
                expected.extend_from_slice(&seq.to_be_bytes());
            } else {
                expected.extend_from_slice(&(seq as u32).to_be_bytes());
            }
            let aad = AadBytes::new(spi, seq, esn);
            prop_assert_eq!(aad.as_slice(), expected.as_slice());
            prop_assert!(aad.bytes[aad.len..].iter().all(|&b| b == 0));
            let mut nonce = salt.to_vec();
            nonce.extend_from_slice(&iv);
            let joined = join_4_8(salt, iv);
            prop_assert_eq!(joined.as_slice(), nonce.as_slice());
        }
    }
}
