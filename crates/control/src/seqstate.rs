//! Sequence numbers of manual-key SAs that survive restarts.
//!
//! With `ipsec-manual` keys the key never changes, and AES-GCM and ChaCha20-Poly1305 take
//! their nonce from the ESP sequence number: an SA that started again at 1 after a restart
//! or a reload would reuse every nonce it had used, which breaks the AEAD (RFC 4106 section
//! 3, RFC 8221 section 5). So each manual outbound SA sends only sequence numbers that were
//! first reserved on stable storage:
//!
//! - When the SA is built (start, reload), the store reads the high-water mark recorded for
//!   its nonce space ([`esp::OutboundSa::nonce_space`]: a digest of its transform, key and
//!   salt, so an SA that keeps its key under another SPI or peer continues the same record,
//!   and two SAs that share a key share one), reserves the next block of [`BLOCK`] numbers, writes the file (temporary file, fsync, rename, fsync
//!   of the directory) and only then lets the SA run: `resume_after(mark)` and a ceiling at
//!   the block's end ([`esp::OutboundSa::set_sequence_ceiling`]).
//! - The control thread calls [`SequenceStore::refresh`] on every turn: an SA past half of
//!   its block gets the next block of its nonce space (after every number reserved in that
//!   space so far), written first, then its ceiling raised. The fast path
//!   never touches the disk; an SA that reaches its ceiling before the write (a stalled
//!   disk) drops packets as `sequence block not persisted`, never reuses a number.
//! - A state file that cannot be read or written makes the build fail with the file's name:
//!   rrid refuses to start, a reload is refused.
//! - One process owns the file: the first write takes an exclusive lock on `FILE.lock`,
//!   held for the store's life, and a second rrid with the same state directory is refused
//!   rather than left to overwrite the first one's records.
//!
//! Only SAs registered here are bounded; SAs made elsewhere (IKE keys are new for every SA)
//! keep their whole space. The file is text: one line per nonce space, `SPACE LAST PEER SPI`
//! (SPACE in hex; LAST the highest number any run may have used; the SA's peer and SPI, last
//! seen, for the reader).

use config::model::CryptoMapKind;
use config::Config;
use esp::OutboundSa;
use policy::Policy;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

/// Sequence numbers reserved per write: at 10 Mpps on one SA about 1.7 s of traffic, so a
/// refresh at half a block has most of a second of margin; each restart skips at most one
/// block (2^24 of a 32-bit space: 256 restarts).
pub const BLOCK: u64 = 1 << 24;

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a sequence record (expected SPACE LAST PEER SPI)")]
    Corrupt { path: PathBuf, line: usize },
    #[error("{path}: in use by another process (give each rrid its own --state-dir)")]
    Locked { path: PathBuf },
}

/// Which nonce space a record belongs to ([`esp::OutboundSa::nonce_space`]).
type SaKey = [u8; 16];

/// A record: the highest number reserved, and the peer and SPI last seen with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    last: u64,
    peer: Ipv4Addr,
    spi: u32,
}

fn hex(space: &SaKey) -> String {
    space.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<SaKey> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The state file and the SAs it bounds.
#[derive(Debug)]
pub struct SequenceStore {
    path: PathBuf,
    /// The highest sequence number reserved in each nonce space so far (what the file says).
    reserved: BTreeMap<SaKey, Record>,
    /// The SAs whose ceilings follow the file.
    tracked: Vec<(Weak<OutboundSa>, SaKey)>,
    block: u64,
    /// Whether the last write failed (logged once until one succeeds).
    failing: bool,
    /// The lock on `FILE.lock`, taken at the first write.
    lock: Option<std::fs::File>,
}

impl SequenceStore {
    /// The store at `path`: read when it exists (a missing file is an empty store), and
    /// refused when it cannot be read or parsed.
    ///
    /// # Errors
    /// [`StateError`] naming the file.
    pub fn open(path: &Path) -> Result<SequenceStore, StateError> {
        let io = |source| StateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut reserved = BTreeMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for (n, line) in text.lines().enumerate() {
                    if line.trim().is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let record = (|| {
                        let mut f = line.split_whitespace();
                        let space = unhex(f.next()?)?;
                        let last: u64 = f.next()?.parse().ok()?;
                        let peer: Ipv4Addr = f.next()?.parse().ok()?;
                        let spi: u32 = f.next()?.parse().ok()?;
                        f.next()
                            .is_none()
                            .then_some((space, Record { last, peer, spi }))
                    })();
                    let Some((key, last)) = record else {
                        return Err(StateError::Corrupt {
                            path: path.to_path_buf(),
                            line: n + 1,
                        });
                    };
                    reserved.insert(key, last);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        Ok(SequenceStore {
            path: path.to_path_buf(),
            reserved,
            tracked: Vec::new(),
            block: BLOCK,
            failing: false,
            lock: None,
        })
    }

    /// The same store reserving `block` numbers per write (tests use small blocks).
    pub fn with_block(mut self, block: u64) -> Self {
        self.block = block.max(2);
        self
    }

    /// The highest number reserved in the nonce space of `sa`, if any.
    pub fn reserved(&self, sa: &OutboundSa) -> Option<u64> {
        self.reserved.get(&sa.nonce_space()).map(|r| r.last)
    }

    /// Takes the manual outbound SAs of `policy` (built from `config`) that it does not
    /// bound yet: reserves a block for each past what the file records, writes the file, and
    /// only then sets their starting points and ceilings. Call before `policy` is
    /// published; on an error nothing of `policy` may be used.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn adopt(&mut self, config: &Config, policy: &Policy) -> Result<(), StateError> {
        // Each new SA's block starts where the last one under its key ended, also when two
        // SAs of this policy share a key (a misconfiguration, but never a shared number).
        let mut next = self.reserved.clone();
        let mut fresh: Vec<(Arc<OutboundSa>, SaKey, u64, u64)> = Vec::new();
        for map in &policy.maps {
            let Some(configured) = config.crypto_maps.get(&map.name) else {
                continue;
            };
            for entry in &map.entries {
                let manual = configured
                    .entries
                    .get(&entry.seq)
                    .is_some_and(|e| e.kind == CryptoMapKind::Manual);
                let Some(sa) = entry.outbound.as_ref().filter(|_| manual) else {
                    continue;
                };
                if self.is_tracked(sa) || fresh.iter().any(|(s, ..)| Arc::ptr_eq(s, sa)) {
                    continue;
                }
                let key = sa.nonce_space();
                let from = next.get(&key).map_or(0, |r| r.last);
                let to = from.saturating_add(self.block).min(sa.sequence_limit());
                next.insert(
                    key,
                    Record {
                        last: to,
                        peer: sa.template().dst,
                        spi: sa.spi(),
                    },
                );
                fresh.push((sa.clone(), key, from, to));
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        self.write(&next)?;
        self.reserved = next;
        for (sa, _, from, to) in &fresh {
            sa.resume_after(*from);
            sa.set_sequence_ceiling(*to);
        }
        // An SA of an earlier policy in a nonce space a new one takes over (the entry
        // changed) stays at its ceiling: it is being replaced, and its numbers are behind
        // the new one's. The new SAs are all tracked, several in one space included.
        self.tracked
            .retain(|(_, k)| !fresh.iter().any(|(_, key, ..)| key == k));
        for (sa, key, ..) in fresh {
            self.tracked.push((Arc::downgrade(&sa), key));
        }
        Ok(())
    }

    /// Gives every bounded SA that has used half of its block the next one, written first.
    /// A failed write is logged (once until a write succeeds) and leaves the ceilings where
    /// they are: the SAs stop at them rather than use an unrecorded number.
    pub fn refresh(&mut self) {
        self.tracked.retain(|(sa, _)| sa.strong_count() > 0);
        // Each SA's next block starts after everything reserved in its nonce space so far
        // (its own ceiling when it is alone there), so SAs sharing a space never meet.
        let mut next = self.reserved.clone();
        let mut raise: Vec<(Arc<OutboundSa>, u64, u64, u64)> = Vec::new();
        for (weak, key) in &self.tracked {
            let Some(sa) = weak.upgrade() else { continue };
            let ceiling = sa.sequence_ceiling();
            if ceiling >= sa.sequence_limit() || sa.last_seq() + self.block / 2 < ceiling {
                continue;
            }
            let record = next.entry(*key).or_insert(Record {
                last: ceiling,
                peer: sa.template().dst,
                spi: sa.spi(),
            });
            let from = record.last.max(ceiling);
            let to = from.saturating_add(self.block).min(sa.sequence_limit());
            record.last = to;
            raise.push((sa, ceiling, from, to));
        }
        if raise.is_empty() {
            return;
        }
        match self.write(&next) {
            Ok(()) => {
                self.reserved = next;
                self.failing = false;
                for (sa, ceiling, from, to) in raise {
                    // Numbers between the old ceiling and `from` belong to another SA of
                    // the space: skipped, never used.
                    if from > ceiling {
                        sa.resume_after(from);
                    }
                    sa.set_sequence_ceiling(to);
                }
            }
            Err(e) => {
                if !self.failing {
                    tracing::error!(target: "rri::ipsec", error = %e, "manual SA sequence numbers cannot be persisted: their SAs stop at the end of their block");
                }
                self.failing = true;
            }
        }
    }

    fn is_tracked(&self, sa: &Arc<OutboundSa>) -> bool {
        let ptr = Arc::as_ptr(sa);
        self.tracked
            .iter()
            .any(|(w, _)| std::ptr::eq(w.as_ptr(), ptr))
    }

    /// Takes the file's lock (once): the records are this process's to write.
    fn lock(&mut self) -> Result<(), StateError> {
        if self.lock.is_some() {
            return Ok(());
        }
        let path = self.path.with_extension("lock");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                self.lock = Some(file);
                Ok(())
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(StateError::Locked { path }),
            Err(std::fs::TryLockError::Error(source)) => Err(StateError::Io { path, source }),
        }
    }

    /// Writes `records` so that a crash leaves the old file or the new one, never a mix.
    fn write(&mut self, records: &BTreeMap<SaKey, Record>) -> Result<(), StateError> {
        self.lock()?;
        let io = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = self.path.with_extension("tmp");
        let mut text = String::from(
            "# rrid: the highest ESP sequence number used or reserved per nonce space of manual SAs\n\
             # SPACE LAST PEER SPI\n",
        );
        for (space, r) in records {
            text.push_str(&format!("{} {} {} {}\n", hex(space), r.last, r.peer, r.spi));
        }
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pktbuf::{PacketBuf, TestBuf};
    use policy::build::{from_config, PortBinding};
    use policy::RingOnly;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f10111213";

    /// A manual entry `seq` to 192.0.2.2 for 10.1/16 -> `dst`/16, its SPIs and the one KEY.
    fn entry(seq: u32, dst: &str, spi_in: u32, spi_out: u32) -> String {
        format!(
            "access-list {seq} permit ip 10.1.0.0 0.0.255.255 {dst} 0.0.255.255
crypto map VPN {seq} ipsec-manual
 set peer 192.0.2.2
 set transform-set TS
 match address {seq}
 set session-key inbound esp {spi_in} cipher {KEY}
 set session-key outbound esp {spi_out} cipher {KEY}
"
        )
    }

    /// The gateway with `entries` (from [`entry`]).
    fn gateway(entries: &str) -> Config {
        let text = format!(
            "interface GigabitEthernet0/0
 ip address 10.1.0.1 255.255.255.0
interface GigabitEthernet0/1
 ip address 192.0.2.1 255.255.255.0
 crypto map VPN
crypto ipsec transform-set TS esp-gcm 128
{entries}"
        );
        let checked = config::check(&text);
        assert!(
            !checked.diagnostics.has_errors(),
            "{:?}",
            checked.diagnostics
        );
        checked.config
    }

    fn config(spi_out: u32) -> Config {
        gateway(&entry(101, "10.2.0.0", 300, spi_out))
    }

    fn policy(config: &Config) -> Policy {
        let ports = [
            PortBinding::new("GigabitEthernet0/0", 0, [2, 0, 0, 0, 0, 1]),
            PortBinding::new("GigabitEthernet0/1", 1, [2, 0, 0, 0, 0, 2]),
        ];
        from_config(config, &ports, 0, &RingOnly).unwrap().policy
    }

    fn outbound(p: &Policy) -> Arc<OutboundSa> {
        p.maps[0].entries[0].outbound.clone().unwrap()
    }

    /// The sequence number the SA gives its next packet.
    fn send(sa: &OutboundSa) -> Result<u32, esp::DropReason> {
        let mut inner = vec![0u8; 40];
        inner[0] = 0x45;
        inner[3] = 40;
        let mut b = TestBuf::like_mbuf(&inner);
        sa.encapsulate(&mut b, 0)?;
        Ok(u32::from_be_bytes(b.data()[24..28].try_into().unwrap()))
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rri-seqstate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_restarted_sa_resumes_past_every_number_it_could_have_used() {
        let d = dir("restart");
        let file = d.join("seq");
        let cfg = config(301);
        {
            let mut store = SequenceStore::open(&file).unwrap().with_block(100);
            let p = policy(&cfg);
            store.adopt(&cfg, &p).unwrap();
            let sa = outbound(&p);
            assert_eq!(sa.sequence_ceiling(), 100);
            assert_eq!(send(&sa), Ok(1));
            assert_eq!(store.reserved(&sa), Some(100));
            // A reload that keeps the SA does not take it twice.
            store.adopt(&cfg, &p).unwrap();
            assert_eq!(sa.sequence_ceiling(), 100);
        }
        // The process stops after sending 1; the next one starts past the whole block.
        let mut store = SequenceStore::open(&file).unwrap().with_block(100);
        let p = policy(&cfg);
        store.adopt(&cfg, &p).unwrap();
        let sa = outbound(&p);
        assert_eq!(send(&sa), Ok(101));
        assert_eq!(sa.sequence_ceiling(), 200);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(" 200 192.0.2.2 301\n"), "{text}");
        // The same key under another SPI is the same nonce space: it goes on from there.
        let other = config(401);
        let q = policy(&other);
        store.adopt(&other, &q).unwrap();
        assert_eq!(send(&outbound(&q)), Ok(201));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn two_sas_under_one_key_never_share_a_number() {
        let d = dir("shared-key");
        // Two entries sending with one key under one SPI: one nonce space.
        let cfg = gateway(&(entry(101, "10.2.0.0", 300, 301) + &entry(102, "10.3.0.0", 302, 301)));
        let mut store = SequenceStore::open(&d.join("seq")).unwrap().with_block(100);
        let p = policy(&cfg);
        store.adopt(&cfg, &p).unwrap();
        let first = p.maps[0].entries[0].outbound.clone().unwrap();
        let second = p.maps[0].entries[1].outbound.clone().unwrap();
        assert_eq!(send(&first), Ok(1));
        assert_eq!(send(&second), Ok(101));
        assert_eq!(store.reserved(&first), Some(200));
        // Both are extended, each past everything reserved in the space.
        for _ in 2..=60 {
            send(&first).unwrap();
        }
        store.refresh();
        assert_eq!(send(&first), Ok(201));
        assert_eq!(first.sequence_ceiling(), 300);
        for _ in 102..=150 {
            send(&second).unwrap();
        }
        store.refresh();
        assert_eq!(second.sequence_ceiling(), 400);
        // The rest of its block is skipped: the new one is not contiguous with it.
        assert_eq!(send(&second), Ok(301), "past the first one's block");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn blocks_are_extended_ahead_of_traffic_and_held_when_the_disk_fails() {
        let d = dir("refresh");
        let file = d.join("seq");
        let cfg = config(301);
        let mut store = SequenceStore::open(&file).unwrap().with_block(10);
        let p = policy(&cfg);
        store.adopt(&cfg, &p).unwrap();
        let sa = outbound(&p);
        for want in 1..=4 {
            assert_eq!(send(&sa), Ok(want));
        }
        store.refresh();
        assert_eq!(sa.sequence_ceiling(), 10, "not yet half used");
        assert_eq!(send(&sa), Ok(5));
        store.refresh();
        assert_eq!(sa.sequence_ceiling(), 20);
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .contains(" 20 192.0.2.2 301"));
        // The disk fails (the file's place taken by a directory): the SA stops at its
        // ceiling instead of using numbers nobody recorded.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir_all(file.join("blocker")).unwrap();
        for want in 6..=20 {
            assert_eq!(send(&sa), Ok(want));
            store.refresh();
        }
        assert_eq!(sa.sequence_ceiling(), 20);
        assert_eq!(send(&sa), Err(esp::DropReason::SequenceNotReserved));
        // The disk comes back: so does the SA.
        std::fs::remove_dir_all(&file).unwrap();
        store.refresh();
        assert_eq!(send(&sa), Ok(21));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn state_that_cannot_be_used_is_refused_with_the_file_named() {
        let d = dir("refuse");
        let cfg = config(301);
        // Unreadable: a directory where the file should be.
        let blocked = d.join("blocked");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        let e = SequenceStore::open(&blocked).unwrap_err().to_string();
        assert!(e.contains("blocked"), "{e}");
        // Corrupt.
        let corrupt = d.join("corrupt");
        std::fs::write(
            &corrupt,
            "00112233445566778899aabbccddeeff 100 192.0.2.2 301\nnonsense\n",
        )
        .unwrap();
        let e = SequenceStore::open(&corrupt).unwrap_err().to_string();
        assert!(e.contains("corrupt:2:"), "{e}");
        // Under something that is not a directory: refused at once.
        let not_dir = d.join("file");
        std::fs::write(&not_dir, "").unwrap();
        let e = SequenceStore::open(&not_dir.join("seq"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("file/seq"), "{e}");
        // Readable but not writable (its lock's place taken by a directory): refused at the
        // first write, before any SA runs.
        let unwritable = d.join("unwritable");
        std::fs::create_dir_all(d.join("unwritable.lock").join("x")).unwrap();
        let mut store = SequenceStore::open(&unwritable).unwrap();
        let p = policy(&cfg);
        let e = store.adopt(&cfg, &p).unwrap_err().to_string();
        assert!(e.contains("unwritable.lock"), "{e}");
        // Nothing of the policy may be used; its SA was never let run.
        assert_eq!(send(&outbound(&p)), Ok(1), "an unadopted SA is unbounded");
        // Two processes, one file: the second is refused.
        let shared = d.join("shared");
        let mut first = SequenceStore::open(&shared).unwrap();
        first.adopt(&cfg, &policy(&cfg)).unwrap();
        let mut second = SequenceStore::open(&shared).unwrap();
        let e = second.adopt(&cfg, &policy(&cfg)).unwrap_err();
        assert!(matches!(e, StateError::Locked { .. }), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
