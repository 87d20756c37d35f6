//! IKEv2 messages (RFC 7296 section 3): the header and every payload rri reads or writes,
//! parsed from and emitted to bytes.
//!
//! Parsing checks every length against the datagram and against its container, so that no
//! datagram can make it read out of bounds or panic; anything inconsistent is a
//! [`ParseError`]. Payloads rri does not know are kept as [`Payload::Unknown`] with their
//! critical bit, so that the caller can answer UNSUPPORTED_CRITICAL_PAYLOAD (section 2.5).
//! The SK payload (encrypted and authenticated) is kept as its raw body: opening it needs
//! the IKE SA's keys, after which [`parse_payload_chain`] reads the inner payloads.
//! `emit(parse(x)) == x` for every well-formed message (reserved fields are written as zero).

use std::fmt;
use std::net::Ipv4Addr;

/// IKE header length.
pub const HEADER_LEN: usize = 28;
/// Generic payload header length.
pub const PAYLOAD_HEADER_LEN: usize = 4;
/// IKEv2: major version 2, minor 0.
pub const VERSION: u8 = 0x20;

/// Exchange types (section 3.1).
pub mod exchange {
    pub const IKE_SA_INIT: u8 = 34;
    pub const IKE_AUTH: u8 = 35;
    pub const CREATE_CHILD_SA: u8 = 36;
    pub const INFORMATIONAL: u8 = 37;
}

/// Header flags (section 3.1).
pub mod flags {
    pub const INITIATOR: u8 = 0x08;
    pub const VERSION: u8 = 0x10;
    pub const RESPONSE: u8 = 0x20;
}

/// Payload type numbers (section 3.2).
pub mod payload_type {
    pub const NONE: u8 = 0;
    pub const SA: u8 = 33;
    pub const KE: u8 = 34;
    pub const IDI: u8 = 35;
    pub const IDR: u8 = 36;
    pub const CERT: u8 = 37;
    pub const CERTREQ: u8 = 38;
    pub const AUTH: u8 = 39;
    pub const NONCE: u8 = 40;
    pub const NOTIFY: u8 = 41;
    pub const DELETE: u8 = 42;
    pub const VENDOR: u8 = 43;
    pub const TSI: u8 = 44;
    pub const TSR: u8 = 45;
    pub const SK: u8 = 46;
}

/// Why a datagram is not an IKEv2 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than its header or a length field says.
    Truncated,
    /// Major version other than 2.
    Version,
    /// The header's length disagrees with the datagram.
    Length,
    /// A payload's length is below its minimum or runs past its container.
    PayloadLength(u8),
    /// A field holds a value the structure does not allow.
    Malformed(u8),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Truncated => write!(f, "truncated"),
            ParseError::Version => write!(f, "not IKE version 2"),
            ParseError::Length => write!(f, "header length disagrees with the datagram"),
            ParseError::PayloadLength(t) => write!(f, "bad length in payload type {t}"),
            ParseError::Malformed(t) => write!(f, "malformed payload type {t}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// The IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub spi_i: u64,
    pub spi_r: u64,
    /// Type of the first payload.
    pub next_payload: u8,
    pub exchange: u8,
    pub flags: u8,
    pub message_id: u32,
}

/// A transform attribute: only Key Length (type 14, TV format) is defined for IKEv2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    /// 1 encryption, 2 PRF, 3 integrity, 4 DH group, 5 ESN.
    pub kind: u8,
    pub id: u16,
    /// Key length attribute in bits.
    pub key_len: Option<u16>,
}

/// Transform types.
pub mod transform_type {
    pub const ENCR: u8 = 1;
    pub const PRF: u8 = 2;
    pub const INTEG: u8 = 3;
    pub const DH: u8 = 4;
    pub const ESN: u8 = 5;
}

/// Security protocol identifiers.
pub mod protocol {
    pub const IKE: u8 = 1;
    pub const AH: u8 = 2;
    pub const ESP: u8 = 3;
}

/// One proposal of an SA payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub number: u8,
    pub protocol: u8,
    /// Empty in IKE_SA_INIT; 4 bytes for ESP; 8 for an IKE SA rekey.
    pub spi: Vec<u8>,
    pub transforms: Vec<Transform>,
}

/// A traffic selector (only IPv4 address ranges are kept; others are `Unsupported`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE.
    Ipv4 {
        /// IP protocol, 0 for any.
        protocol: u8,
        start_port: u16,
        end_port: u16,
        start: Ipv4Addr,
        end: Ipv4Addr,
    },
    /// Another type (IPv6, FC), kept as its body.
    Unsupported { kind: u8, body: Vec<u8> },
}

/// TS type of an IPv4 address range.
pub const TS_IPV4_ADDR_RANGE: u8 = 7;

/// A payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Sa(Vec<Proposal>),
    Ke {
        group: u16,
        data: Vec<u8>,
    },
    IdI {
        kind: u8,
        data: Vec<u8>,
    },
    IdR {
        kind: u8,
        data: Vec<u8>,
    },
    Auth {
        method: u8,
        data: Vec<u8>,
    },
    Nonce(Vec<u8>),
    Notify {
        protocol: u8,
        spi: Vec<u8>,
        kind: u16,
        data: Vec<u8>,
    },
    Delete {
        protocol: u8,
        spi_size: u8,
        spis: Vec<Vec<u8>>,
    },
    Vendor(Vec<u8>),
    TsI(Vec<TrafficSelector>),
    TsR(Vec<TrafficSelector>),
    /// Encrypted and authenticated: `first` is the type of the first inner payload, `body`
    /// the IV, ciphertext and ICV.
    Sk {
        first: u8,
        body: Vec<u8>,
    },
    /// Anything else (CERT, CERTREQ, EAP, ...), kept with its critical bit.
    Unknown {
        kind: u8,
        critical: bool,
        body: Vec<u8>,
    },
}

impl Payload {
    /// The payload type number.
    pub fn kind(&self) -> u8 {
        use payload_type::*;
        match self {
            Payload::Sa(_) => SA,
            Payload::Ke { .. } => KE,
            Payload::IdI { .. } => IDI,
            Payload::IdR { .. } => IDR,
            Payload::Auth { .. } => AUTH,
            Payload::Nonce(_) => NONCE,
            Payload::Notify { .. } => NOTIFY,
            Payload::Delete { .. } => DELETE,
            Payload::Vendor(_) => VENDOR,
            Payload::TsI(_) => TSI,
            Payload::TsR(_) => TSR,
            Payload::Sk { .. } => SK,
            Payload::Unknown { kind, .. } => *kind,
        }
    }
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub payloads: Vec<Payload>,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads the header of `datagram` (without the non-ESP marker of port 4500).
pub fn parse_header(datagram: &[u8]) -> Result<Header, ParseError> {
    if datagram.len() < HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    if datagram[17] >> 4 != 2 {
        return Err(ParseError::Version);
    }
    if be32(datagram, 24) as usize != datagram.len() {
        return Err(ParseError::Length);
    }
    Ok(Header {
        spi_i: u64::from_be_bytes(datagram[0..8].try_into().unwrap_or_default()),
        spi_r: u64::from_be_bytes(datagram[8..16].try_into().unwrap_or_default()),
        next_payload: datagram[16],
        exchange: datagram[18],
        flags: datagram[19],
        message_id: be32(datagram, 20),
    })
}

impl Message {
    /// Parses a whole datagram.
    pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        let header = parse_header(datagram)?;
        let payloads = parse_payload_chain(header.next_payload, &datagram[HEADER_LEN..])?;
        Ok(Message { header, payloads })
    }

    /// The bytes of the message; the header's next payload and length are set from the
    /// payloads.
    pub fn emit(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let h = &self.header;
        out.extend_from_slice(&h.spi_i.to_be_bytes());
        out.extend_from_slice(&h.spi_r.to_be_bytes());
        out.push(
            self.payloads
                .first()
                .map_or(payload_type::NONE, Payload::kind),
        );
        out.push(VERSION);
        out.push(h.exchange);
        out.push(h.flags);
        out.extend_from_slice(&h.message_id.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        emit_payload_chain(&self.payloads, &mut out);
        let len = out.len() as u32;
        out[24..28].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// The first payload of a kind.
    pub fn find(&self, kind: u8) -> Option<&Payload> {
        self.payloads.iter().find(|p| p.kind() == kind)
    }
}

/// Parses a chain of payloads starting with type `first` filling `bytes` exactly.
pub fn parse_payload_chain(first: u8, bytes: &[u8]) -> Result<Vec<Payload>, ParseError> {
    let mut payloads = Vec::new();
    let mut next = first;
    let mut rest = bytes;
    while next != payload_type::NONE {
        if rest.len() < PAYLOAD_HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let len = usize::from(be16(rest, 2));
        if len < PAYLOAD_HEADER_LEN || len > rest.len() {
            return Err(ParseError::PayloadLength(next));
        }
        let critical = rest[1] & 0x80 != 0;
        let following = rest[0];
        let body = &rest[PAYLOAD_HEADER_LEN..len];
        let payload = if next == payload_type::SK {
            // The SK payload is last; its next-payload field names the first inner one.
            payloads.push(Payload::Sk {
                first: following,
                body: body.to_vec(),
            });
            if len != rest.len() {
                return Err(ParseError::Malformed(next));
            }
            return Ok(payloads);
        } else {
            parse_body(next, critical, body)?
        };
        payloads.push(payload);
        next = following;
        rest = &rest[len..];
        if payloads.len() > 64 {
            return Err(ParseError::Malformed(next));
        }
    }
    if !rest.is_empty() {
        return Err(ParseError::Length);
    }
    Ok(payloads)
}

fn parse_body(kind: u8, critical: bool, b: &[u8]) -> Result<Payload, ParseError> {
    use payload_type::*;
    let need = |n: usize| {
        if b.len() < n {
            Err(ParseError::PayloadLength(kind))
        } else {
            Ok(())
        }
    };
    Ok(match kind {
        SA => Payload::Sa(parse_proposals(b)?),
        KE => {
            need(4)?;
            Payload::Ke {
                group: be16(b, 0),
                data: b[4..].to_vec(),
            }
        }
        IDI | IDR => {
            need(4)?;
            let (k, data) = (b[0], b[4..].to_vec());
            if kind == IDI {
                Payload::IdI { kind: k, data }
            } else {
                Payload::IdR { kind: k, data }
            }
        }
        AUTH => {
            need(4)?;
            Payload::Auth {
                method: b[0],
                data: b[4..].to_vec(),
            }
        }
        NONCE => Payload::Nonce(b.to_vec()),
        NOTIFY => {
            need(4)?;
            let spi_size = usize::from(b[1]);
            need(4 + spi_size)?;
            Payload::Notify {
                protocol: b[0],
                spi: b[4..4 + spi_size].to_vec(),
                kind: be16(b, 2),
                data: b[4 + spi_size..].to_vec(),
            }
        }
        DELETE => {
            need(4)?;
            let spi_size = b[1];
            let count = usize::from(be16(b, 2));
            let size = usize::from(spi_size);
            if b.len() != 4 + count * size {
                return Err(ParseError::PayloadLength(kind));
            }
            Payload::Delete {
                protocol: b[0],
                spi_size,
                spis: (0..count)
                    .map(|i| b[4 + i * size..4 + (i + 1) * size].to_vec())
                    .collect(),
            }
        }
        VENDOR => Payload::Vendor(b.to_vec()),
        TSI | TSR => {
            let ts = parse_selectors(b)?;
            if kind == TSI {
                Payload::TsI(ts)
            } else {
                Payload::TsR(ts)
            }
        }
        _ => Payload::Unknown {
            kind,
            critical,
            body: b.to_vec(),
        },
    })
}

fn parse_proposals(mut b: &[u8]) -> Result<Vec<Proposal>, ParseError> {
    const T: u8 = payload_type::SA;
    let mut out = Vec::new();
    loop {
        if b.len() < 8 {
            return Err(ParseError::PayloadLength(T));
        }
        let last = b[0];
        let len = usize::from(be16(b, 2));
        if len < 8 || len > b.len() || !(last == 0 || last == 2) {
            return Err(ParseError::Malformed(T));
        }
        let p = &b[..len];
        let spi_size = usize::from(p[6]);
        let count = usize::from(p[7]);
        if 8 + spi_size > len {
            return Err(ParseError::Malformed(T));
        }
        let mut t = &p[8 + spi_size..];
        let mut transforms = Vec::with_capacity(count);
        for i in 0..count {
            if t.len() < 8 {
                return Err(ParseError::Malformed(T));
            }
            let more = t[0];
            let tlen = usize::from(be16(t, 2));
            if tlen < 8 || tlen > t.len() || more != if i + 1 == count { 0 } else { 3 } {
                return Err(ParseError::Malformed(T));
            }
            let mut key_len = None;
            let mut attrs = &t[8..tlen];
            while !attrs.is_empty() {
                if attrs.len() < 4 {
                    return Err(ParseError::Malformed(T));
                }
                let kind = be16(attrs, 0);
                if kind & 0x8000 != 0 {
                    if kind & 0x7fff == 14 {
                        key_len = Some(be16(attrs, 2));
                    }
                    attrs = &attrs[4..];
                } else {
                    // TLV attributes are not defined for IKEv2; skip them whole.
                    let alen = 4 + usize::from(be16(attrs, 2));
                    if alen > attrs.len() {
                        return Err(ParseError::Malformed(T));
                    }
                    attrs = &attrs[alen..];
                }
            }
            transforms.push(Transform {
                kind: t[4],
                id: be16(t, 6),
                key_len,
            });
            t = &t[tlen..];
        }
        if !t.is_empty() {
            return Err(ParseError::Malformed(T));
        }
        out.push(Proposal {
            number: p[4],
            protocol: p[5],
            spi: p[8..8 + spi_size].to_vec(),
            transforms,
        });
        b = &b[len..];
        if last == 0 {
            return if b.is_empty() {
                Ok(out)
            } else {
                Err(ParseError::Malformed(T))
            };
        }
    }
}

fn parse_selectors(b: &[u8]) -> Result<Vec<TrafficSelector>, ParseError> {
    const T: u8 = payload_type::TSI;
    if b.len() < 4 {
        return Err(ParseError::PayloadLength(T));
    }
    let count = usize::from(b[0]);
    let mut rest = &b[4..];
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if rest.len() < 4 {
            return Err(ParseError::Malformed(T));
        }
        let len = usize::from(be16(rest, 2));
        if len < 4 || len > rest.len() {
            return Err(ParseError::Malformed(T));
        }
        let s = &rest[..len];
        out.push(if s[0] == TS_IPV4_ADDR_RANGE {
            if len != 16 {
                return Err(ParseError::Malformed(T));
            }
            TrafficSelector::Ipv4 {
                protocol: s[1],
                start_port: be16(s, 4),
                end_port: be16(s, 6),
                start: Ipv4Addr::new(s[8], s[9], s[10], s[11]),
                end: Ipv4Addr::new(s[12], s[13], s[14], s[15]),
            }
        } else {
            TrafficSelector::Unsupported {
                kind: s[0],
                body: s[1..].to_vec(),
            }
        });
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(ParseError::Malformed(T));
    }
    Ok(out)
}

/// Emits a payload chain (the first payload's type goes in the enclosing header).
pub fn emit_payload_chain(payloads: &[Payload], out: &mut Vec<u8>) {
    for (i, p) in payloads.iter().enumerate() {
        let next = match p {
            Payload::Sk { first, .. } => *first,
            _ => payloads
                .get(i + 1)
                .map_or(payload_type::NONE, Payload::kind),
        };
        let start = out.len();
        out.push(next);
        out.push(match p {
            Payload::Unknown { critical: true, .. } => 0x80,
            _ => 0,
        });
        out.extend_from_slice(&[0, 0]);
        emit_body(p, out);
        let len = (out.len() - start) as u16;
        out[start + 2..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

fn emit_body(p: &Payload, out: &mut Vec<u8>) {
    match p {
        Payload::Sa(proposals) => {
            for (i, prop) in proposals.iter().enumerate() {
                let start = out.len();
                out.push(if i + 1 == proposals.len() { 0 } else { 2 });
                out.extend_from_slice(&[0, 0, 0]);
                out.push(prop.number);
                out.push(prop.protocol);
                out.push(prop.spi.len() as u8);
                out.push(prop.transforms.len() as u8);
                out.extend_from_slice(&prop.spi);
                for (j, t) in prop.transforms.iter().enumerate() {
                    let ts = out.len();
                    out.push(if j + 1 == prop.transforms.len() { 0 } else { 3 });
                    out.extend_from_slice(&[0, 0, 0]);
                    out.push(t.kind);
                    out.push(0);
                    out.extend_from_slice(&t.id.to_be_bytes());
                    if let Some(k) = t.key_len {
                        out.extend_from_slice(&(0x8000u16 | 14).to_be_bytes());
                        out.extend_from_slice(&k.to_be_bytes());
                    }
                    let tl = (out.len() - ts) as u16;
                    out[ts + 2..ts + 4].copy_from_slice(&tl.to_be_bytes());
                }
                let pl = (out.len() - start) as u16;
                out[start + 2..start + 4].copy_from_slice(&pl.to_be_bytes());
            }
        }
        Payload::Ke { group, data } => {
            out.extend_from_slice(&group.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(data);
        }
        Payload::IdI { kind, data } | Payload::IdR { kind, data } => {
            out.extend_from_slice(&[*kind, 0, 0, 0]);
            out.extend_from_slice(data);
        }
        Payload::Auth { method, data } => {
            out.extend_from_slice(&[*method, 0, 0, 0]);
            out.extend_from_slice(data);
        }
        Payload::Nonce(data) | Payload::Vendor(data) => out.extend_from_slice(data),
        Payload::Notify {
            protocol,
            spi,
            kind,
            data,
        } => {
            out.push(*protocol);
            out.push(spi.len() as u8);
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(spi);
            out.extend_from_slice(data);
        }
        Payload::Delete {
            protocol,
            spi_size,
            spis,
        } => {
            out.push(*protocol);
            out.push(*spi_size);
            out.extend_from_slice(&(spis.len() as u16).to_be_bytes());
            for s in spis {
                out.extend_from_slice(s);
            }
        }
        Payload::TsI(ts) | Payload::TsR(ts) => {
            out.extend_from_slice(&[ts.len() as u8, 0, 0, 0]);
            for s in ts {
                match s {
                    TrafficSelector::Ipv4 {
                        protocol,
                        start_port,
                        end_port,
                        start,
                        end,
                    } => {
                        out.extend_from_slice(&[TS_IPV4_ADDR_RANGE, *protocol, 0, 16]);
                        out.extend_from_slice(&start_port.to_be_bytes());
                        out.extend_from_slice(&end_port.to_be_bytes());
                        out.extend_from_slice(&start.octets());
                        out.extend_from_slice(&end.octets());
                    }
                    TrafficSelector::Unsupported { kind, body } => {
                        out.push(*kind);
                        out.extend_from_slice(body);
                    }
                }
            }
        }
        Payload::Sk { body, .. } | Payload::Unknown { body, .. } => out.extend_from_slice(body),
    }
}
