//! Inbound SA: classification of received packets and tunnel-mode decapsulation.

use crate::counters::{BurstTally, SaCounters};
use crate::outbound::{join_4_8, AadBytes};
use crate::replay::{ReplayError, ReplayWindow};
use crate::sa::{LifetimeState, RekeyReason, SaError, SaParams, TunnelTemplate};
use crate::{DropReason, Transform, ICV_LEN, IV_LEN, MAX_BURST};
use pktbuf::PacketBuf;
use ring::aead::{Aad, LessSafeKey, Nonce};
use std::net::Ipv4Addr;
use std::sync::Arc;
use wire::esp::NatTPayload;
use wire::ipv4::{self, Ipv4Packet};
use wire::udp::{UdpPacket, NAT_T_PORT};

/// Where the ESP header of a received packet is, and what the outer headers said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspLocation {
    pub spi: u32,
    /// Offset of the ESP header from the start of the outer IPv4 header.
    pub esp_offset: usize,
    /// End of the outer packet by its IPv4 total length (Ethernet padding lies behind it).
    pub esp_end: usize,
    pub outer_src: Ipv4Addr,
    pub outer_dst: Ipv4Addr,
    /// UDP source and destination port for ESP in UDP.
    pub udp_ports: Option<(u16, u16)>,
}

/// What a received IPv4 packet addressed to the gateway is, as far as IPsec cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified {
    Esp(EspLocation),
    /// IKE on port 4500: the IKE message starts at `offset` (after the non-ESP marker).
    Ike {
        offset: usize,
    },
    /// A NAT-keepalive on port 4500, to be dropped silently.
    Keepalive,
    /// Neither ESP nor port-4500 traffic.
    Other,
}

/// Classifies `packet` (starting at the outer IPv4 header). A truncated packet is
/// `TooShort`, a malformed header or a wrong header checksum `BadOuterHeader` (the outer
/// header is not covered by the ICV, so this is its only protection); fragments of ESP are
/// `Fragment`.
pub fn classify(packet: &[u8]) -> Result<Classified, DropReason> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|e| match e {
        wire::WireError::Truncated => DropReason::TooShort,
        wire::WireError::Malformed => DropReason::BadOuterHeader,
    })?;
    if !ip.verify_checksum() {
        return Err(DropReason::BadOuterHeader);
    }
    let (esp_offset, udp_ports) = match ip.protocol() {
        ipv4::proto::ESP => (ip.header_len(), None),
        ipv4::proto::UDP => {
            let Ok(udp) = UdpPacket::new_checked(ip.payload()) else {
                return Ok(Classified::Other);
            };
            if udp.dst_port() != NAT_T_PORT {
                return Ok(Classified::Other);
            }
            // The UDP length must agree with IP's: ESP's end is taken from the IP header.
            if udp.len() != ip.payload().len() {
                return Err(DropReason::BadOuterHeader);
            }
            let offset = ip.header_len() + wire::udp::HEADER_LEN;
            match wire::esp::classify_nat_t(udp.payload()) {
                NatTPayload::Esp => (offset, Some((udp.src_port(), udp.dst_port()))),
                NatTPayload::Ike => return Ok(Classified::Ike { offset: offset + 4 }),
                NatTPayload::Keepalive => return Ok(Classified::Keepalive),
                NatTPayload::Invalid => return Err(DropReason::TooShort),
            }
        }
        _ => return Ok(Classified::Other),
    };
    if ip.is_fragment() {
        return Err(DropReason::Fragment);
    }
    let esp_end = ip.total_len();
    let Some(header) = packet.get(esp_offset..esp_offset + wire::esp::HEADER_LEN) else {
        return Err(DropReason::TooShort);
    };
    if esp_offset + wire::esp::HEADER_LEN > esp_end {
        return Err(DropReason::TooShort);
    }
    Ok(Classified::Esp(EspLocation {
        spi: u32::from_be_bytes([header[0], header[1], header[2], header[3]]),
        esp_offset,
        esp_end,
        outer_src: ip.src(),
        outer_dst: ip.dst(),
        udp_ports,
    }))
}

/// An AEAD that opens one packet, supplied from outside this crate (for the data plane: rri's
/// AES-GCM on VAES, faster than ring where the CPU has it). It must hold the SA's own key; the
/// SA checks the SPI and the replay window first and moves the window only after it returned
/// `true`.
pub trait PacketOpen: Send + Sync + std::fmt::Debug {
    /// Checks `icv` over `aad` and `ciphertext` under `nonce` and deciphers `ciphertext` in
    /// place; `false` when the ICV is wrong (the bytes are then to be dropped, whatever they
    /// hold).
    fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        ciphertext: &mut [u8],
        icv: &[u8; ICV_LEN],
    ) -> bool;
}

/// What decapsulation found out about an accepted packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decapsulated {
    /// The full (ESN-inferred) sequence number.
    pub seq: u64,
    /// Length of the inner packet now in the buffer.
    pub inner_len: usize,
}

/// One inbound SA. Shared by reference between every core that receives on it.
#[derive(Debug)]
pub struct InboundSa {
    spi: u32,
    transform: Transform,
    key: LessSafeKey,
    /// Opens packets instead of ring's `key`, when set.
    opener: Option<Arc<dyn PacketOpen>>,
    salt: [u8; 4],
    esn: bool,
    tunnel: TunnelTemplate,
    window: ReplayWindow,
    /// Whether the window refuses replays (see [`SaParams::anti_replay`]).
    anti_replay: bool,
    lifetime: LifetimeState,
    counters: SaCounters,
}

/// The least an ESP packet can hold: header, IV, pad length, next header, ICV.
const MIN_ESP_LEN: usize = wire::esp::HEADER_LEN + IV_LEN + 2 + ICV_LEN;

impl InboundSa {
    /// An inbound SA created at `now_ns`.
    pub fn new(params: &SaParams, now_ns: u64) -> Result<Self, SaError> {
        let key = params.validate()?;
        Ok(InboundSa {
            spi: params.spi,
            transform: params.transform,
            key,
            opener: None,
            salt: params.salt,
            esn: params.esn,
            tunnel: params.tunnel,
            window: ReplayWindow::new(params.replay_window),
            anti_replay: params.anti_replay,
            lifetime: LifetimeState::new(params.lifetime, now_ns),
            counters: SaCounters::default(),
        })
    }

    /// The same SA opening its packets with `opener` (which must hold this SA's key) instead
    /// of ring.
    pub fn with_packet_open(mut self, opener: Arc<dyn PacketOpen>) -> Self {
        self.opener = Some(opener);
        self
    }

    /// Whether packets are opened by a [`PacketOpen`] rather than ring.
    pub fn has_packet_open(&self) -> bool {
        self.opener.is_some()
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

    pub fn tunnel(&self) -> &TunnelTemplate {
        &self.tunnel
    }

    pub fn counters(&self) -> &SaCounters {
        &self.counters
    }

    pub fn window(&self) -> &ReplayWindow {
        &self.window
    }

    /// Whether replayed packets are dropped (`replay disable` turns it off).
    pub fn anti_replay(&self) -> bool {
        self.anti_replay
    }

    pub fn rekey_requested(&self) -> Option<RekeyReason> {
        self.lifetime.rekey_reason()
    }

    pub fn expired(&self) -> Option<RekeyReason> {
        self.lifetime.expired_reason()
    }

    pub fn remaining_seconds(&self, now_ns: u64) -> Option<u64> {
        self.lifetime.remaining_seconds(now_ns)
    }

    /// Checks the lifetimes once per burst; false when a hard limit is reached.
    #[inline]
    fn alive(&self, now_ns: u64) -> bool {
        if !self.lifetime.check(now_ns, self.counters.bytes()) {
            return false;
        }
        let packets = self.counters.packets();
        let limits = self.lifetime.limits();
        if limits.hard.packets.is_some_and(|h| packets >= h) {
            self.lifetime.expire(RekeyReason::Packets);
            return false;
        }
        if limits.soft.packets.is_some_and(|s| packets >= s) {
            self.lifetime.request_rekey(RekeyReason::Packets);
        }
        true
    }

    /// Decapsulates the packet in `buf` (starting at the outer IPv4 header, as located by
    /// [`classify`]) at `now_ns`. On success the buffer holds the inner IPv4 packet. On error
    /// the drop is counted and the buffer's content is unspecified (it may be partly
    /// decrypted); the caller frees it.
    pub fn decapsulate<B: PacketBuf + ?Sized>(
        &self,
        buf: &mut B,
        at: &EspLocation,
        now_ns: u64,
    ) -> Result<Decapsulated, DropReason> {
        let result = if self.alive(now_ns) {
            self.open(buf, at)
        } else {
            Err(DropReason::LifetimeExpired)
        };
        match result {
            Ok(d) => self.counters.add_ok(1, d.inner_len as u64),
            Err(reason) => self.counters.add_drops(reason, 1),
        }
        result
    }

    /// Decapsulates a burst of packets of this SA; `at[i]` locates the ESP header of
    /// `bufs[i]`, and `verdicts[i]` receives its outcome. Slices are processed up to the
    /// shortest one's length. Returns how many packets were accepted.
    pub fn decapsulate_burst<B: PacketBuf>(
        &self,
        bufs: &mut [B],
        at: &[EspLocation],
        now_ns: u64,
        verdicts: &mut [Result<Decapsulated, DropReason>],
    ) -> usize {
        let n = bufs.len().min(at.len()).min(verdicts.len());
        let mut accepted = 0;
        for start in (0..n).step_by(MAX_BURST) {
            let end = (start + MAX_BURST).min(n);
            let mut tally = BurstTally::default();
            let alive = self.alive(now_ns);
            for i in start..end {
                let v = if alive {
                    self.open(&mut bufs[i], &at[i])
                } else {
                    Err(DropReason::LifetimeExpired)
                };
                match v {
                    Ok(d) => {
                        tally.packets += 1;
                        tally.bytes += d.inner_len as u64;
                    }
                    Err(reason) => tally.drop(reason),
                }
                verdicts[i] = v;
            }
            tally.flush(&self.counters);
            accepted += tally.packets as usize;
        }
        accepted
    }

    /// The per-packet work of RFC 4303 section 3.4: SPI, replay filter, ICV and decryption,
    /// window commit, trailer, inner packet.
    #[inline]
    fn open<B: PacketBuf + ?Sized>(
        &self,
        buf: &mut B,
        at: &EspLocation,
    ) -> Result<Decapsulated, DropReason> {
        let esp_at = at.esp_offset;
        // The location came from the caller: trust nothing in it beyond what is re-checked.
        if at.esp_end > buf.len() || esp_at > at.esp_end || at.esp_end - esp_at < MIN_ESP_LEN {
            return Err(DropReason::TooShort);
        }
        let data = &mut buf.data_mut()[..at.esp_end];
        let spi = u32::from_be_bytes([
            data[esp_at],
            data[esp_at + 1],
            data[esp_at + 2],
            data[esp_at + 3],
        ]);
        if spi != self.spi {
            return Err(DropReason::BadSpi);
        }
        let seq_low = u32::from_be_bytes([
            data[esp_at + 4],
            data[esp_at + 5],
            data[esp_at + 6],
            data[esp_at + 7],
        ]);
        let seq = self
            .window
            .infer(seq_low, self.esn)
            .ok_or(DropReason::OutsideWindow)?;
        if self.anti_replay {
            self.window.check(seq).map_err(replay_reason)?;
        }

        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&data[esp_at + 8..esp_at + 16]);
        let nonce = join_4_8(self.salt, iv);
        let aad = AadBytes::new(spi, seq, self.esn);
        let sealed = &mut data[esp_at + 16..];
        let plain_len = match &self.opener {
            Some(opener) => {
                // MIN_ESP_LEN above leaves at least the ICV behind the IV.
                let (ciphertext, icv) = sealed.split_at_mut(sealed.len() - ICV_LEN);
                let Ok(icv) = <&[u8; ICV_LEN]>::try_from(&*icv) else {
                    return Err(DropReason::TooShort);
                };
                if !opener.open_in_place(&nonce, aad.as_slice(), ciphertext, icv) {
                    return Err(DropReason::AuthFailed);
                }
                ciphertext.len()
            }
            None => self
                .key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad.as_slice()),
                    sealed,
                )
                .map_err(|_| DropReason::AuthFailed)?
                .len(),
        };
        // Authentic: only now may the window move (RFC 4303 section 3.4.3). Without
        // anti-replay a replay moves nothing and passes.
        match self.window.commit(seq) {
            Err(e) if self.anti_replay => return Err(replay_reason(e)),
            _ => {}
        }

        let plain = &sealed[..plain_len];
        let next_header = plain[plain_len - 1];
        let pad_len = usize::from(plain[plain_len - 2]);
        if pad_len + 2 > plain_len {
            return Err(DropReason::BadPadding);
        }
        let body_len = plain_len - 2 - pad_len;
        let pad = &plain[body_len..plain_len - 2];
        if pad != &crate::PAD_PATTERN[..pad_len] {
            return Err(DropReason::BadPadding);
        }
        if next_header != ipv4::proto::IPV4 {
            return Err(DropReason::BadNextHeader);
        }
        // Tunnel mode carries one IPv4 packet; anything between its end and the padding is
        // traffic-flow-confidentiality padding (RFC 4303 section 2.7) and is dropped.
        let inner_len = match Ipv4Packet::new_checked(&plain[..body_len]) {
            Ok(inner) => inner.total_len(),
            Err(_) => return Err(DropReason::MalformedInner),
        };
        let front = esp_at + 16;
        let behind = buf.len() - front - inner_len;
        if buf.trim(behind).is_err() || buf.adj(front).is_err() {
            return Err(DropReason::TooShort);
        }
        Ok(Decapsulated { seq, inner_len })
    }
}

fn replay_reason(e: ReplayError) -> DropReason {
    match e {
        ReplayError::Replay => DropReason::Replay,
        ReplayError::OutsideWindow => DropReason::OutsideWindow,
    }
}
