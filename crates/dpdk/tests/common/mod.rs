//! Shared helpers of the EAL integration tests. Each test file is its own process and
//! initialises its own EAL (once per process is all DPDK allows).

#![allow(dead_code)]

#[allow(unused_imports)] // each test binary uses part of it
pub use testkit::{eal_args, scratch_dir};

/// An Ethernet + IPv4 + UDP frame of `len` bytes (at least 42) whose payload starts with `seq`.
pub fn udp_frame(seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= 46);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // destination MAC
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // source MAC
    f[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
    let ip_len = u16::try_from(len - 14).unwrap();
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64; // TTL
    f[23] = 17; // UDP
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 19, 0, 1]);
    let mut sum = 0u32;
    for chunk in f[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([chunk[0], chunk[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f[34..36].copy_from_slice(&1024u16.to_be_bytes());
    f[36..38].copy_from_slice(&9u16.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f[42..46].copy_from_slice(&seq.to_be_bytes());
    f
}

/// The sequence number `udp_frame` wrote.
pub fn frame_seq(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[42..46].try_into().unwrap())
}
