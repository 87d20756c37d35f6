//! Frames for performance runs: Ethernet/IPv4/UDP of given frame sizes (without FCS), cycling
//! through a number of flows.
//!
//! Sizes are Ethernet frame sizes as pktgen and testpmd count them minus the 4-byte FCS that a
//! virtual device never carries: "64" is a 60-byte frame holding a 46-byte IPv4 packet. IMIX
//! is 7:4:1 of 64, 570 and 1518 bytes, interleaved.

#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use wire::ipv4::{proto, Ipv4Repr};

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
    wire::udp::emit_header(&mut f[34..], 1024 + (flow % 1000) as u16, 5001, ip_len - 28);
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
}
