//! Ethernet II frames with up to two 802.1Q / 802.1ad tags.

use crate::{be16, WireError};

pub const HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

/// The parsed layer-2 header: where the layer-3 packet starts and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtherInfo {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    /// The VLAN ID of the innermost tag, if tagged.
    pub vlan: Option<u16>,
    /// The EtherType after any tags.
    pub ethertype: u16,
    /// Offset of the layer-3 header: 14, 18 or 22.
    pub l3_offset: usize,
}

/// Parses the Ethernet header and up to two VLAN tags; a third tag is `Malformed`.
pub fn parse(frame: &[u8]) -> Result<EtherInfo, WireError> {
    if frame.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let mut dst = [0u8; 6];
    let mut src = [0u8; 6];
    dst.copy_from_slice(&frame[..6]);
    src.copy_from_slice(&frame[6..12]);
    let mut at = 12;
    let mut vlan = None;
    for _ in 0..3 {
        let ethertype = be16(frame, at);
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            return Ok(EtherInfo {
                dst,
                src,
                vlan,
                ethertype,
                l3_offset: at + 2,
            });
        }
        if frame.len() < at + 6 {
            return Err(WireError::Truncated);
        }
        vlan = Some(be16(frame, at + 2) & 0x0fff);
        at += 4;
    }
    Err(WireError::Malformed)
}

/// Writes an untagged Ethernet header into the first 14 bytes of `out`.
///
/// # Panics
/// If `out` is shorter than 14 bytes.
pub fn emit(out: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    out[..6].copy_from_slice(&dst);
    out[6..12].copy_from_slice(&src);
    out[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_single_and_double_tagged() {
        let mut f = [0u8; 26];
        emit(&mut f, [1; 6], [2; 6], ETHERTYPE_IPV4);
        let e = parse(&f).unwrap();
        assert_eq!(
            (e.ethertype, e.vlan, e.l3_offset, e.src),
            (ETHERTYPE_IPV4, None, 14, [2; 6])
        );
        f[12..18].copy_from_slice(&[0x81, 0x00, 0x20, 0x0a, 0x08, 0x00]);
        let e = parse(&f).unwrap();
        assert_eq!(
            (e.ethertype, e.vlan, e.l3_offset),
            (ETHERTYPE_IPV4, Some(10), 18)
        );
        f[12..22].copy_from_slice(&[0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00]);
        let e = parse(&f).unwrap();
        assert_eq!(
            (e.ethertype, e.vlan, e.l3_offset),
            (ETHERTYPE_IPV4, Some(7), 22)
        );
        assert_eq!(parse(&f[..17]).unwrap_err(), WireError::Truncated);
        assert_eq!(parse(&f[..13]).unwrap_err(), WireError::Truncated);
        f[12..26].copy_from_slice(&[0x81, 0, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 8, 0]);
        assert_eq!(parse(&f).unwrap_err(), WireError::Malformed);
    }
}
