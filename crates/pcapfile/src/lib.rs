//! Classic libpcap files: the format DPDK's `net_pcap`, tshark and scapy read and write.
//!
//! Reading accepts both byte orders and both microsecond and nanosecond timestamps; writing
//! produces little-endian microsecond files with link type Ethernet. Malformed files are
//! errors, never panics.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::path::Path;

/// Link type Ethernet (`LINKTYPE_ETHERNET`).
pub const LINKTYPE_ETHERNET: u32 = 1;

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
/// Larger records than this are refused as corrupt (libpcap's own limit is 256 KiB).
const MAX_RECORD: u32 = 262_144;

/// One captured packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Capture time in nanoseconds since the epoch.
    pub timestamp_ns: u64,
    /// The original length on the wire (at least `data.len()`).
    pub orig_len: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

impl Record {
    /// A record of a whole packet captured at `timestamp_ns`.
    pub fn new(timestamp_ns: u64, data: Vec<u8>) -> Self {
        let orig_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        Record {
            timestamp_ns,
            orig_len,
            data,
        }
    }
}

/// A malformed or unreadable capture.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not start with a pcap magic number.
    #[error("not a pcap file (magic {0:#010x})")]
    BadMagic(u32),
    /// The file ends inside a header or record.
    #[error("pcap file truncated inside {0}")]
    Truncated(&'static str),
    /// A record claims an impossible length.
    #[error("pcap record {index} has captured length {len} (limit {MAX_RECORD})")]
    BadRecordLength {
        /// The record's position, from 0.
        index: usize,
        /// Its captured length.
        len: u32,
    },
}

/// A parsed capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The link type from the file header.
    pub linktype: u32,
    /// The records, in file order.
    pub records: Vec<Record>,
}

impl Capture {
    /// Parses a whole capture from bytes.
    ///
    /// # Errors
    /// When the bytes are not a well-formed pcap file.
    pub fn parse(bytes: &[u8]) -> Result<Capture, PcapError> {
        let header = bytes
            .get(..24)
            .ok_or(PcapError::Truncated("the file header"))?;
        let raw_magic = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let (big_endian, nanos) = match (raw_magic, raw_magic.swap_bytes()) {
            (MAGIC_USEC, _) => (false, false),
            (MAGIC_NSEC, _) => (false, true),
            (_, MAGIC_USEC) => (true, false),
            (_, MAGIC_NSEC) => (true, true),
            _ => return Err(PcapError::BadMagic(raw_magic)),
        };
        let word = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().expect("4 bytes");
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let linktype = word(&header[20..24]);
        let mut records = Vec::new();
        let mut rest = &bytes[24..];
        while !rest.is_empty() {
            let rec = rest
                .get(..16)
                .ok_or(PcapError::Truncated("a record header"))?;
            let (secs, frac) = (u64::from(word(&rec[0..4])), u64::from(word(&rec[4..8])));
            let (caplen, orig_len) = (word(&rec[8..12]), word(&rec[12..16]));
            if caplen > MAX_RECORD {
                return Err(PcapError::BadRecordLength {
                    index: records.len(),
                    len: caplen,
                });
            }
            let end = 16 + caplen as usize;
            let data = rest.get(16..end).ok_or(PcapError::Truncated("a record"))?;
            let timestamp_ns = secs * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
            records.push(Record {
                timestamp_ns,
                orig_len,
                data: data.to_vec(),
            });
            rest = &rest[end..];
        }
        Ok(Capture { linktype, records })
    }

    /// Reads and parses a capture file.
    ///
    /// # Errors
    /// When the file cannot be read or is not a well-formed pcap file.
    pub fn read(path: impl AsRef<Path>) -> Result<Capture, PcapError> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut bytes)?;
        Self::parse(&bytes)
    }

    /// The packets' bytes, in order.
    pub fn packets(&self) -> impl Iterator<Item = &[u8]> {
        self.records.iter().map(|r| r.data.as_slice())
    }
}

/// Writes a little-endian, microsecond-resolution capture.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    /// Writes the file header for `linktype`.
    ///
    /// # Errors
    /// When writing fails.
    pub fn new(mut out: W, linktype: u32) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_USEC.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        header[16..20].copy_from_slice(&65535u32.to_le_bytes());
        header[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&header)?;
        Ok(Writer { out })
    }

    /// Appends one record.
    ///
    /// # Errors
    /// When writing fails or the record is longer than a pcap record may be.
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        let caplen = u32::try_from(record.data.len())
            .ok()
            .filter(|&l| l <= MAX_RECORD)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "record too long for pcap")
            })?;
        let secs = u32::try_from(record.timestamp_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let usecs = u32::try_from((record.timestamp_ns % 1_000_000_000) / 1000).expect("< 10^6");
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&usecs.to_le_bytes());
        header[8..12].copy_from_slice(&caplen.to_le_bytes());
        header[12..16].copy_from_slice(&record.orig_len.max(caplen).to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&record.data)
    }

    /// Flushes and returns the underlying writer.
    ///
    /// # Errors
    /// When flushing fails.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `packets` as an Ethernet capture at `path`, one microsecond apart.
///
/// # Errors
/// When the file cannot be written.
pub fn write_ethernet<'a>(
    path: impl AsRef<Path>,
    packets: impl IntoIterator<Item = &'a [u8]>,
) -> io::Result<()> {
    let file = io::BufWriter::new(std::fs::File::create(path)?);
    let mut writer = Writer::new(file, LINKTYPE_ETHERNET)?;
    for (i, packet) in packets.into_iter().enumerate() {
        writer.write(&Record::new(
            1_000_000_000 + i as u64 * 1000,
            packet.to_vec(),
        ))?;
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as libpcap writes it, annotated field by field.
    const ONE_PACKET_LE: &[u8] = &[
        0xd4, 0xc3, 0xb2, 0xa1, // magic, microseconds, little-endian
        0x02, 0x00, 0x04, 0x00, // version 2.4
        0, 0, 0, 0, // thiszone
        0, 0, 0, 0, // sigfigs
        0xff, 0xff, 0, 0, // snaplen 65535
        1, 0, 0, 0, // linktype Ethernet
        0x01, 0, 0, 0, // ts_sec 1
        0xe8, 0x03, 0, 0, // ts_usec 1000
        3, 0, 0, 0, // caplen 3
        60, 0, 0, 0, // orig_len 60
        0xaa, 0xbb, 0xcc, // data
    ];

    #[test]
    fn parses_and_emits_annotated_file() {
        let cap = Capture::parse(ONE_PACKET_LE).unwrap();
        assert_eq!(cap.linktype, LINKTYPE_ETHERNET);
        assert_eq!(
            cap.records,
            vec![Record {
                timestamp_ns: 1_001_000_000,
                orig_len: 60,
                data: vec![0xaa, 0xbb, 0xcc]
            }]
        );
        let mut w = Writer::new(Vec::new(), LINKTYPE_ETHERNET).unwrap();
        w.write(&cap.records[0]).unwrap();
        assert_eq!(w.finish().unwrap(), ONE_PACKET_LE);
    }

    #[test]
    fn reads_big_endian_nanosecond_files() {
        let mut be = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
        be.extend([0; 8]);
        be.extend([0, 0, 0xff, 0xff, 0, 0, 0, 1]);
        be.extend([0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0x42]);
        let cap = Capture::parse(&be).unwrap();
        assert_eq!(cap.records[0].timestamp_ns, 2_000_000_005);
        assert_eq!(cap.records[0].data, vec![0x42]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for len in 0..ONE_PACKET_LE.len() {
            let cut = &ONE_PACKET_LE[..len];
            if len == 24 {
                assert!(Capture::parse(cut).unwrap().records.is_empty());
            } else {
                assert!(Capture::parse(cut).is_err(), "length {len}");
            }
        }
        assert!(matches!(
            Capture::parse(&[0; 24]),
            Err(PcapError::BadMagic(0))
        ));
    }
}
