//! Frames for performance runs: Ethernet/IPv4/UDP of given frame sizes (without FCS), cycling
//! through a number of flows; the stamp each frame carries (a sequence number and the send
//! time, for loss and latency); what the receiving side makes of a frame (clear, or ESP that
//! it decrypts and verifies with a given SA); and a latency histogram.
//!
//! Sizes are Ethernet frame sizes as pktgen and testpmd count them minus the 4-byte FCS that a
//! virtual device never carries: "64" is a 60-byte frame holding a 46-byte IPv4 packet. IMIX
//! is 7:4:1 of 64, 570 and 1518 bytes, interleaved.

#![forbid(unsafe_code)]

use esp::{DropReason, InboundSa};
use pktbuf::PacketBuf;
use std::net::Ipv4Addr;
use wire::ipv4::{proto, Ipv4Packet, Ipv4Repr};

/// The UDP destination port of generated frames.
pub const UDP_PORT: u16 = 5001;
/// Marks a stamped payload.
const STAMP_MAGIC: [u8; 2] = *b"rP";
/// Bytes of a stamp: magic, 32-bit sequence number, 64-bit send time (ns).
pub const STAMP_LEN: usize = 14;
/// Where the stamp sits in a frame: right after the Ethernet, IPv4 and UDP headers.
pub const STAMP_OFFSET: usize = 42;

/// The frame sizes of one cycle of a named mix.
pub fn mix(name: &str) -> Option<Vec<usize>> {
    Some(match name {
        "imix" | "IMIX" => vec![64, 570, 64, 64, 1518, 64, 570, 64, 64, 570, 64, 570],
        // The same mix with the large frame cut to the largest whose ESP tunnel-mode
        // encapsulation (AES-GCM, 16-byte padding) still fits a 1500-byte MTU.
        "imix-esp" => vec![64, 570, 64, 64, 1456, 64, 570, 64, 64, 570, 64, 570],
        n => vec![n
            .parse::<usize>()
            .ok()
            .filter(|&n| (64..=1518).contains(&n))?],
    })
}

/// What the frames look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSpec {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    /// Destinations are `dst_base + (flow % flows)`.
    pub dst_base: Ipv4Addr,
    pub flows: u32,
    /// The IPv4 DF bit (off by default, as in most generators: routers may fragment).
    pub dont_fragment: bool,
}

/// One frame of `size` bytes (with FCS counted, as pktgen counts) for flow `flow`.
pub fn frame(spec: &FrameSpec, size: usize, flow: u32) -> Vec<u8> {
    let len = size - 4;
    let mut f = vec![0u8; len];
    wire::ether::emit(
        &mut f,
        spec.dst_mac,
        spec.src_mac,
        wire::ether::ETHERTYPE_IPV4,
    );
    let ip_len = len - 14;
    Ipv4Repr {
        src: spec.src_ip,
        dst: Ipv4Addr::from(u32::from(spec.dst_base).wrapping_add(flow % spec.flows.max(1))),
        protocol: proto::UDP,
        tos: 0,
        ident: flow as u16,
        dont_fragment: spec.dont_fragment,
        ttl: 64,
        payload_len: (ip_len - 20) as u16,
    }
    .emit(&mut f[14..]);
    wire::udp::emit_header(
        &mut f[34..],
        1024 + (flow % 1000) as u16,
        UDP_PORT,
        ip_len - 28,
    );
    for (i, b) in f[42..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f
}

/// The frames of a run: the mix's sizes over `count` frames, flows advancing per frame.
pub fn frames(spec: &FrameSpec, sizes: &[usize], count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| frame(spec, sizes[i % sizes.len()], i as u32))
        .collect()
}

/// Writes the stamp into a frame made by [`frame`] (the UDP checksum is zero, so nothing
/// else changes). Every frame size from 64 up has room for it.
pub fn stamp(frame: &mut [u8], seq: u32, sent_ns: u64) {
    let Some(room) = frame.get_mut(STAMP_OFFSET..STAMP_OFFSET + STAMP_LEN) else {
        return;
    };
    room[..2].copy_from_slice(&STAMP_MAGIC);
    room[2..6].copy_from_slice(&seq.to_be_bytes());
    room[6..14].copy_from_slice(&sent_ns.to_be_bytes());
}

/// The stamp of an IPv4 packet (from its header on), if it is one of ours.
pub fn read_stamp(ip_packet: &[u8]) -> Option<(u32, u64)> {
    let ip = Ipv4Packet::new_checked(ip_packet).ok()?;
    if ip.protocol() != proto::UDP || ip.is_fragment() {
        return None;
    }
    let udp = ip.payload();
    if udp.len() < 8 + STAMP_LEN || u16::from_be_bytes([udp[2], udp[3]]) != UDP_PORT {
        return None;
    }
    let st = &udp[8..8 + STAMP_LEN];
    if st[..2] != STAMP_MAGIC {
        return None;
    }
    let seq = u32::from_be_bytes(st[2..6].try_into().ok()?);
    let sent = u64::from_be_bytes(st[6..14].try_into().ok()?);
    Some((seq, sent))
}

/// What a received frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// One of our frames (in the clear, or inside ESP that verified).
    Stamped { seq: u32, sent_ns: u64, esp: bool },
    /// Anything else that is not ESP (ARP, IKE, others' traffic).
    Other,
    /// ESP for the SA that did not verify or decrypt.
    EspRejected(DropReason),
    /// ESP for another SPI, or ESP with no SA given.
    EspUnknown,
}

/// Looks at a received Ethernet frame in `buf`. With `sa`, ESP (plain or in UDP 4500) for
/// its SPI is decrypted in place, its tag and replay window checked, and the stamp read
/// from the inner packet.
pub fn receive<B: PacketBuf + ?Sized>(
    buf: &mut B,
    sa: Option<&InboundSa>,
    now_ns: u64,
) -> Received {
    let Ok(eth) = wire::ether::parse(buf.data()) else {
        return Received::Other;
    };
    if eth.ethertype != wire::ether::ETHERTYPE_IPV4 {
        return Received::Other;
    }
    let l3 = eth.l3_offset;
    let at = match esp::classify(&buf.data()[l3..]) {
        Ok(esp::Classified::Esp(at)) => at,
        _ => {
            return match read_stamp(&buf.data()[l3..]) {
                Some((seq, sent_ns)) => Received::Stamped {
                    seq,
                    sent_ns,
                    esp: false,
                },
                None => Received::Other,
            }
        }
    };
    let Some(sa) = sa.filter(|sa| sa.spi() == at.spi) else {
        return Received::EspUnknown;
    };
    if buf.adj(l3).is_err() {
        return Received::Other;
    }
    match sa.decapsulate(buf, &at, now_ns) {
        Ok(d) => match read_stamp(&buf.data()[..d.inner_len.min(buf.len())]) {
            Some((seq, sent_ns)) => Received::Stamped {
                seq,
                sent_ns,
                esp: true,
            },
            None => Received::Other,
        },
        Err(why) => Received::EspRejected(why),
    }
}

/// Latencies in nanoseconds: exact minimum, maximum and mean, and percentiles from
/// buckets 1/16 of a power of two wide (under 6.25 % error).
#[derive(Debug, Clone)]
pub struct Latency {
    buckets: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

const SUB_BUCKETS: u64 = 16;

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: vec![0; 64 * SUB_BUCKETS as usize],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB_BUCKETS {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros() as u64; // >= 4
    let sub = (ns >> (exp - 4)) & (SUB_BUCKETS - 1);
    ((exp - 3) * SUB_BUCKETS + sub) as usize
}

/// The smallest value of a bucket.
fn bucket_floor(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB_BUCKETS {
        return b;
    }
    let exp = b / SUB_BUCKETS + 3;
    let sub = b % SUB_BUCKETS;
    (SUB_BUCKETS + sub) << (exp - 4)
}

impl Latency {
    pub fn record(&mut self, ns: u64) {
        self.buckets[bucket_of(ns)] += 1;
        self.count += 1;
        self.sum += u128::from(ns);
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<u64> {
        (self.count > 0).then(|| (self.sum / u128::from(self.count)) as u64)
    }

    /// The value at quantile `q` (0..=1): the floor of the bucket holding it, clamped to
    /// the exact extremes.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_floor(b).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_headers() {
        let spec = FrameSpec {
            dst_mac: [2; 6],
            src_mac: [4; 6],
            src_ip: Ipv4Addr::new(10, 1, 0, 5),
            dst_base: Ipv4Addr::new(10, 2, 0, 0),
            flows: 16,
            dont_fragment: false,
        };
        assert_eq!(mix("imix").unwrap().len(), 12);
        assert_eq!(mix("1400"), Some(vec![1400]));
        assert_eq!(mix("20"), None);
        for (i, f) in frames(&spec, &mix("imix").unwrap(), 24).iter().enumerate() {
            assert_eq!(f.len() + 4, mix("imix").unwrap()[i % 12]);
            let ip = wire::ipv4::Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert!(ip.verify_checksum());
            assert_eq!(ip.total_len(), f.len() - 14);
            assert_eq!(ip.dst(), Ipv4Addr::new(10, 2, 0, (i % 16) as u8));
        }
    }

    fn spec() -> FrameSpec {
        FrameSpec {
            dst_mac: [2; 6],
            src_mac: [4; 6],
            src_ip: Ipv4Addr::new(10, 1, 0, 5),
            dst_base: Ipv4Addr::new(10, 2, 0, 0),
            flows: 16,
            dont_fragment: false,
        }
    }

    #[test]
    fn stamps_fit_every_size_and_read_back() {
        for size in [64, 65, 128, 570, 1518] {
            let mut f = frame(&spec(), size, 3);
            stamp(&mut f, 0xdead_beef, 123_456_789);
            assert_eq!(
                read_stamp(&f[14..]),
                Some((0xdead_beef, 123_456_789)),
                "{size}"
            );
            let mut buf = pktbuf::TestBuf::like_mbuf(&f);
            assert_eq!(
                receive(&mut buf, None, 0),
                Received::Stamped {
                    seq: 0xdead_beef,
                    sent_ns: 123_456_789,
                    esp: false
                }
            );
        }
        // An unstamped frame, and a truncated one.
        let f = frame(&spec(), 64, 1);
        assert_eq!(read_stamp(&f[14..]), None);
        assert_eq!(read_stamp(&f[14..30]), None);
    }

    /// ESP made by the esp crate's encapsulation is decrypted, verified and its stamp read;
    /// a flipped byte is refused; a replayed packet is refused; another SPI is unknown.
    #[test]
    fn esp_is_verified_and_decrypted() {
        let key: Vec<u8> = (0..20).collect();
        let tunnel =
            esp::TunnelTemplate::new(Ipv4Addr::new(192, 0, 2, 2), Ipv4Addr::new(192, 0, 2, 1));
        let params =
            esp::SaParams::from_keymat(0x1234, esp::Transform::AesGcm128, &key, tunnel).unwrap();
        let out = esp::OutboundSa::new(&params, 0).unwrap();
        let inb = InboundSa::new(&params, 0).unwrap();
        let mut f = frame(&spec(), 570, 7);
        stamp(&mut f, 42, 1000);
        let mut buf = pktbuf::TestBuf::like_mbuf(&f[14..]);
        out.encapsulate(&mut buf, 0).unwrap();
        let mut framed = f[..14].to_vec();
        framed.extend_from_slice(buf.data());
        let mut rx = pktbuf::TestBuf::like_mbuf(&framed);
        assert_eq!(
            receive(&mut rx, Some(&inb), 0),
            Received::Stamped {
                seq: 42,
                sent_ns: 1000,
                esp: true
            }
        );
        let mut again = pktbuf::TestBuf::like_mbuf(&framed);
        assert!(matches!(
            receive(&mut again, Some(&inb), 0),
            Received::EspRejected(_)
        ));
        let mut tampered = framed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let mut t = pktbuf::TestBuf::like_mbuf(&tampered);
        assert!(matches!(
            receive(&mut t, Some(&inb), 0),
            Received::EspRejected(_)
        ));
        let mut none = pktbuf::TestBuf::like_mbuf(&framed);
        assert_eq!(receive(&mut none, None, 0), Received::EspUnknown);
    }

    #[test]
    fn latency_quantiles_within_a_bucket() {
        let mut l = Latency::default();
        assert_eq!(l.quantile(0.5), None);
        for ns in 1..=100_000u64 {
            l.record(ns);
        }
        assert_eq!(l.min(), Some(1));
        assert_eq!(l.max(), Some(100_000));
        assert_eq!(l.mean(), Some(50_000));
        for (q, exact) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.01, 1_000.0)] {
            let got = l.quantile(q).unwrap() as f64;
            assert!(
                (got - exact).abs() / exact < 0.0625,
                "q{q}: {got} vs {exact}"
            );
        }
        // Bucket bounds are monotonic and every value falls in the bucket whose floor is
        // at or below it.
        for ns in [0u64, 15, 16, 17, 1000, 1 << 40, u64::MAX] {
            assert!(bucket_floor(bucket_of(ns)) <= ns);
        }
    }
}
