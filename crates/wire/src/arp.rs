//! ARP for IPv4 over Ethernet (RFC 826).

use crate::{be16, WireError};
use std::net::Ipv4Addr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const LEN: usize = 28;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: u16,
    pub sender_mac: [u8; 6],
    pub sender_ip: Ipv4Addr,
    pub target_mac: [u8; 6],
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// Parses an ARP packet; anything but hardware type 1 / protocol 0x0800 with lengths
    /// 6 and 4 is `Malformed`.
    pub fn parse(b: &[u8]) -> Result<Arp, WireError> {
        if b.len() < LEN {
            return Err(WireError::Truncated);
        }
        if be16(b, 0) != 1 || be16(b, 2) != 0x0800 || b[4] != 6 || b[5] != 4 {
            return Err(WireError::Malformed);
        }
        let mac = |at: usize| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&b[at..at + 6]);
            m
        };
        let ip = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        Ok(Arp {
            op: be16(b, 6),
            sender_mac: mac(8),
            sender_ip: ip(14),
            target_mac: mac(18),
            target_ip: ip(24),
        })
    }

    /// Writes the packet into the first 28 bytes of `out`.
    ///
    /// # Panics
    /// If `out` is shorter than 28 bytes.
    pub fn emit(&self, out: &mut [u8]) {
        out[0..2].copy_from_slice(&1u16.to_be_bytes());
        out[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
        out[4] = 6;
        out[5] = 4;
        out[6..8].copy_from_slice(&self.op.to_be_bytes());
        out[8..14].copy_from_slice(&self.sender_mac);
        out[14..18].copy_from_slice(&self.sender_ip.octets());
        out[18..24].copy_from_slice(&self.target_mac);
        out[24..28].copy_from_slice(&self.target_ip.octets());
    }

    /// The reply to this request from `mac`.
    pub fn reply(&self, mac: [u8; 6]) -> Arp {
        Arp {
            op: OP_REPLY,
            sender_mac: mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reply() {
        let req = Arp {
            op: OP_REQUEST,
            sender_mac: [2, 0, 0, 0, 0, 5],
            sender_ip: Ipv4Addr::new(10, 1, 0, 5),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::new(10, 1, 0, 1),
        };
        let mut b = [0u8; 28];
        req.emit(&mut b);
        assert_eq!(Arp::parse(&b), Ok(req));
        let rep = req.reply([2, 0, 0, 0, 1, 1]);
        assert_eq!(
            (rep.op, rep.sender_ip, rep.target_ip),
            (OP_REPLY, req.target_ip, req.sender_ip)
        );
        assert_eq!(Arp::parse(&b[..27]), Err(WireError::Truncated));
        b[1] = 6;
        assert_eq!(Arp::parse(&b), Err(WireError::Malformed));
    }
}
