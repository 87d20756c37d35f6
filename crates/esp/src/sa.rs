//! SA parameters, lifetimes and the key setup shared by both directions.

use ring::aead::{self, LessSafeKey, UnboundKey};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU8, Ordering};

/// The AEAD transforms rri supports. All use a 4-byte salt, an 8-byte IV and a 16-byte ICV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// `esp-gcm 128` (RFC 4106).
    AesGcm128,
    /// `esp-gcm 256` (RFC 4106).
    AesGcm256,
    /// ChaCha20-Poly1305 (RFC 7634).
    ChaCha20Poly1305,
}

impl Transform {
    /// Cipher key length in bytes, salt excluded.
    pub fn key_len(self) -> usize {
        match self {
            Transform::AesGcm128 => 16,
            Transform::AesGcm256 | Transform::ChaCha20Poly1305 => 32,
        }
    }

    /// IKEv2 keying material length: key and 4-byte salt (RFC 4106 section 8.1, RFC 7634
    /// section 3).
    pub fn keymat_len(self) -> usize {
        self.key_len() + 4
    }

    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Transform::AesGcm128 => &aead::AES_128_GCM,
            Transform::AesGcm256 => &aead::AES_256_GCM,
            Transform::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }

    /// The name IOS shows for the transform.
    pub fn as_str(self) -> &'static str {
        match self {
            Transform::AesGcm128 => "esp-gcm 128",
            Transform::AesGcm256 => "esp-gcm 256",
            Transform::ChaCha20Poly1305 => "esp-chacha20-poly1305",
        }
    }
}

/// How the outer header's DF bit is set (IOS `crypto ipsec df-bit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DfPolicy {
    /// Copy the inner packet's DF bit (the IOS default).
    #[default]
    Copy,
    Set,
    Clear,
}

/// How the outer header's identification field is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdentPolicy {
    /// The low 16 bits of the ESP sequence number: distinct for 65536 consecutive packets of
    /// the SA without a shared counter (RFC 6864 asks uniqueness only within the reassembly
    /// lifetime, and only for fragmentable packets).
    #[default]
    FromSequence,
    /// Always this value (known-answer tests reproduce their vectors' identification).
    Fixed(u16),
}

/// UDP encapsulation ports (RFC 3948), usually 4500 on both sides unless a NAT rewrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpEncap {
    pub src_port: u16,
    pub dst_port: u16,
}

/// The tunnel's outer header: the template every outbound packet's header is built from. On
/// an inbound SA only the addresses matter, and only as information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelTemplate {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub df: DfPolicy,
    pub ident: IdentPolicy,
    /// `Some` for ESP in UDP.
    pub udp: Option<UdpEncap>,
}

impl TunnelTemplate {
    /// Plain ESP between two addresses with TTL 64, DF copied, identification from the
    /// sequence number.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        TunnelTemplate {
            src,
            dst,
            ttl: 64,
            df: DfPolicy::Copy,
            ident: IdentPolicy::FromSequence,
            udp: None,
        }
    }
}

/// How much padding encapsulation adds in front of the pad-length byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Padding {
    /// The least RFC 4303 allows: inner packet, pad length and next header together a
    /// multiple of 4 bytes (0 to 3 pad bytes). What the published vectors and the Linux
    /// kernel send.
    Minimal,
    /// To a multiple of 16 bytes (0 to 15 pad bytes, RFC 4303 section 2.4 allows up to 255):
    /// the AEAD then never handles a partial 16-byte block, which ring's AES-GCM does at a
    /// fixed extra cost of about 35 ns per packet on the development machine. Costs up to 12
    /// bytes more on the wire per packet.
    #[default]
    Align16,
}

impl Padding {
    /// The alignment of inner packet + padding + pad length + next header.
    pub fn alignment(self) -> usize {
        match self {
            Padding::Minimal => 4,
            Padding::Align16 => 16,
        }
    }
}

/// Lifetime limits of one kind (soft or hard). `None` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LifetimeLimits {
    pub seconds: Option<u64>,
    pub kilobytes: Option<u64>,
    pub packets: Option<u64>,
}

/// Soft limits raise a rekey request; hard limits stop the SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    pub soft: LifetimeLimits,
    pub hard: LifetimeLimits,
}

impl Lifetime {
    /// Hard limits as given, soft limits at 90% of each hard limit (strongSwan's margin
    /// spirit; IKE adds its own jitter).
    pub fn with_hard(hard: LifetimeLimits) -> Self {
        let soft = |v: Option<u64>| v.map(|v| v - v / 10);
        Lifetime {
            soft: LifetimeLimits {
                seconds: soft(hard.seconds),
                kilobytes: soft(hard.kilobytes),
                packets: soft(hard.packets),
            },
            hard,
        }
    }
}

/// Everything that defines one SA in one direction.
#[derive(Clone, PartialEq, Eq)]
pub struct SaParams {
    pub spi: u32,
    pub transform: Transform,
    /// Cipher key, `transform.key_len()` bytes (wiped when dropped).
    pub key: secret::SecretBytes,
    pub salt: [u8; 4],
    /// Extended (64-bit) sequence numbers (RFC 4303 section 2.2.1).
    pub esn: bool,
    /// Anti-replay window in packets (inbound only): 32 to 65536.
    pub replay_window: u32,
    /// Whether replayed and too-old packets are dropped (inbound only; IOS's `set
    /// security-association replay disable` turns it off). Off, the window still tracks the
    /// highest sequence number (extended sequence numbers are inferred from it).
    pub anti_replay: bool,
    pub lifetime: Lifetime,
    pub tunnel: TunnelTemplate,
    /// Padding added by encapsulation (outbound only; any valid padding is accepted inbound).
    pub padding: Padding,
}

impl std::fmt::Debug for SaParams {
    // Keys stay out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaParams")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("transform", &self.transform)
            .field("esn", &self.esn)
            .field("replay_window", &self.replay_window)
            .field("anti_replay", &self.anti_replay)
            .field("lifetime", &self.lifetime)
            .field("tunnel", &self.tunnel)
            .field("padding", &self.padding)
            .finish_non_exhaustive()
    }
}

impl SaParams {
    /// Default replay window (RFC 4303 section 3.4.3's minimum, and the IOS default).
    pub const DEFAULT_REPLAY_WINDOW: u32 = 64;
    /// The largest replay window accepted.
    pub const MAX_REPLAY_WINDOW: u32 = 65536;

    /// Parameters from IKEv2 keying material (key followed by the 4-byte salt).
    pub fn from_keymat(
        spi: u32,
        transform: Transform,
        keymat: &[u8],
        tunnel: TunnelTemplate,
    ) -> Result<Self, SaError> {
        if keymat.len() != transform.keymat_len() {
            return Err(SaError::KeyLength {
                transform,
                expected: transform.keymat_len(),
                got: keymat.len(),
            });
        }
        let (key, salt) = keymat.split_at(transform.key_len());
        Ok(SaParams {
            spi,
            transform,
            key: secret::SecretBytes::copy_from(key),
            salt: [salt[0], salt[1], salt[2], salt[3]],
            esn: false,
            replay_window: Self::DEFAULT_REPLAY_WINDOW,
            anti_replay: true,
            lifetime: Lifetime::default(),
            tunnel,
            padding: Padding::default(),
        })
    }

    pub(crate) fn validate(&self) -> Result<LessSafeKey, SaError> {
        if self.spi < wire::esp::MIN_SPI {
            return Err(SaError::ReservedSpi(self.spi));
        }
        if !(32..=Self::MAX_REPLAY_WINDOW).contains(&self.replay_window) {
            return Err(SaError::ReplayWindow(self.replay_window));
        }
        let pairs = [
            (
                "seconds",
                self.lifetime.soft.seconds,
                self.lifetime.hard.seconds,
            ),
            (
                "kilobytes",
                self.lifetime.soft.kilobytes,
                self.lifetime.hard.kilobytes,
            ),
            (
                "packets",
                self.lifetime.soft.packets,
                self.lifetime.hard.packets,
            ),
        ];
        for (kind, soft, hard) in pairs {
            if let (Some(s), Some(h)) = (soft, hard) {
                if s > h {
                    return Err(SaError::SoftAboveHard {
                        kind,
                        soft: s,
                        hard: h,
                    });
                }
            }
        }
        if self.key.len() != self.transform.key_len() {
            return Err(SaError::KeyLength {
                transform: self.transform,
                expected: self.transform.key_len(),
                got: self.key.len(),
            });
        }
        let unbound = UnboundKey::new(self.transform.algorithm(), &self.key).map_err(|_| {
            SaError::KeyLength {
                transform: self.transform,
                expected: self.transform.key_len(),
                got: self.key.len(),
            }
        })?;
        Ok(LessSafeKey::new(unbound))
    }
}

/// Why SA parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaError {
    #[error("SPI {0:#x} is reserved (SPIs below 256 are never assigned)")]
    ReservedSpi(u32),
    #[error("{} needs {expected} bytes of key, got {got}", transform.as_str())]
    KeyLength {
        transform: Transform,
        expected: usize,
        got: usize,
    },
    #[error("replay window {0} is outside 32..=65536")]
    ReplayWindow(u32),
    #[error("soft lifetime of {soft} {kind} is above the hard lifetime of {hard}")]
    SoftAboveHard {
        kind: &'static str,
        soft: u64,
        hard: u64,
    },
}

/// Why an SA asks to be rekeyed. The first reason raised is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RekeyReason {
    Seconds = 1,
    Kilobytes = 2,
    Packets = 3,
    /// The sequence number passed the soft margin before the end of its space.
    SequenceSpace = 4,
}

impl RekeyReason {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => RekeyReason::Seconds,
            2 => RekeyReason::Kilobytes,
            3 => RekeyReason::Packets,
            4 => RekeyReason::SequenceSpace,
            _ => return None,
        })
    }
}

/// Lifetime bookkeeping shared by both directions: when the SA was made, its limits, and the
/// sticky "rekey requested" and "expired" flags.
#[derive(Debug)]
pub(crate) struct LifetimeState {
    created_ns: u64,
    limits: Lifetime,
    rekey: AtomicU8,
    expired: AtomicU8,
}

const NS_PER_SEC: u64 = 1_000_000_000;

impl LifetimeState {
    pub fn new(limits: Lifetime, created_ns: u64) -> Self {
        LifetimeState {
            created_ns,
            limits,
            rekey: AtomicU8::new(0),
            expired: AtomicU8::new(0),
        }
    }

    pub fn limits(&self) -> &Lifetime {
        &self.limits
    }

    pub fn request_rekey(&self, reason: RekeyReason) {
        let _ = self
            .rekey
            .compare_exchange(0, reason as u8, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn expire(&self, reason: RekeyReason) {
        let _ =
            self.expired
                .compare_exchange(0, reason as u8, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn rekey_reason(&self) -> Option<RekeyReason> {
        RekeyReason::from_u8(self.rekey.load(Ordering::Relaxed))
    }

    pub fn expired_reason(&self) -> Option<RekeyReason> {
        RekeyReason::from_u8(self.expired.load(Ordering::Relaxed))
    }

    /// Checks the time and byte limits once per burst (packet limits are checked where
    /// packets are counted). Returns false once a hard limit is reached.
    #[inline]
    pub fn check(&self, now_ns: u64, bytes: u64) -> bool {
        if self.expired.load(Ordering::Relaxed) != 0 {
            return false;
        }
        let age_s = now_ns.saturating_sub(self.created_ns) / NS_PER_SEC;
        let kb = bytes / 1024;
        let hard = &self.limits.hard;
        if hard.seconds.is_some_and(|h| age_s >= h) {
            self.expire(RekeyReason::Seconds);
            return false;
        }
        if hard.kilobytes.is_some_and(|h| kb >= h) {
            self.expire(RekeyReason::Kilobytes);
            return false;
        }
        let soft = &self.limits.soft;
        if soft.seconds.is_some_and(|s| age_s >= s) {
            self.request_rekey(RekeyReason::Seconds);
        }
        if soft.kilobytes.is_some_and(|s| kb >= s) {
            self.request_rekey(RekeyReason::Kilobytes);
        }
        true
    }

    /// Seconds the SA has left before its hard time limit, for `show` output.
    pub fn remaining_seconds(&self, now_ns: u64) -> Option<u64> {
        let age_s = now_ns.saturating_sub(self.created_ns) / NS_PER_SEC;
        self.limits.hard.seconds.map(|h| h.saturating_sub(age_s))
    }
}
