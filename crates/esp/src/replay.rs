//! A lock-free anti-replay window for one inbound SA, shared by every receiving core.
//!
//! # Why a concurrent window rather than SA-to-core affinity
//! With RSS, packets of one SA all hash to one queue only when the outer flow is one
//! 5-tuple; with ESP-in-UDP behind NATs, or when a software distributor spreads load, one SA's
//! packets reach several cores. Affinity would need a handoff ring and a second touch of every
//! packet. A window that several cores update with compare-and-swap costs one atomic
//! operation on a cache line that, in the common case, only one core writes.
//!
//! # Layout (RFC 6479, made concurrent)
//! The window is an array of `N` blocks (N a power of two, at least `W/32 + 1`). Sequence
//! number `s` lives in block `b = s / 32`, at slot `b mod N`, bit `s mod 32`. Each slot is one
//! `AtomicU64`: the high 32 bits are the low 32 bits of the block number the slot currently
//! holds (its *tag*), the low 32 bits are that block's seen-bits. There is no shifting: when
//! the window slides onto a slot that holds an older block, the first writer replaces tag and
//! bits in one CAS. A slot whose tag differs from `b` therefore says "nothing of block `b` was
//! seen", and because a tag is compared, never cleared-then-set, a reader can never see a
//! half-recycled slot.
//!
//! # The two steps
//! * [`ReplayWindow::check`] before decryption is a filter: it rejects sequence numbers that
//!   are too old or whose bit is set, so forged or replayed packets cost no AEAD work.
//! * [`ReplayWindow::commit`] after the ICV verified is the decision: the CAS that sets the
//!   bit succeeds for exactly one of several cores racing on the same sequence number, so a
//!   packet duplicated onto two cores is accepted once. A forged packet never reaches
//!   `commit`, so it cannot move the window.
//!
//! The right edge (`top`, the highest committed sequence number) only moves forward, by
//! `fetch_max`. The core that moves it resets the slots of blocks it skipped, so no slot lags
//! more than `N` blocks behind the edge and 32-bit tags compare correctly with wrapping
//! arithmetic: a slot's block is reconstructed from its tag relative to the edge, which is exact
//! for any 64-bit sequence number (ESN) and any jump of the edge.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why the window refused a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Seen before, or zero (never sent: RFC 4303 section 3.3.3).
    Replay,
    /// At or behind the window's left edge.
    OutsideWindow,
}

const BITS_PER_BLOCK: u64 = 32;

/// The anti-replay state of one inbound SA.
#[derive(Debug)]
pub struct ReplayWindow {
    size: u64,
    slot_mask: u64,
    top: AtomicU64,
    slots: Box<[AtomicU64]>,
}

#[inline]
fn tag_of(block: u64) -> u32 {
    block as u32
}

/// The block number with low 32 bits `tag` nearest to block `near`. Exact while the slot's
/// block is within 2^31 blocks (2^36 sequence numbers) of `near`. Every slot holds a block at
/// most `N` behind the edge (the reset of skipped slots keeps it so, whatever jumps the edge
/// made), so taking `near` as an edge is exact single-threaded; with several cores it is
/// exact while no single jump exceeds 2^36 numbers, and ESN inference never jumps more than
/// 2^32.
#[inline]
fn block_of(tag: u32, near: u64) -> u64 {
    let distance = tag.wrapping_sub(tag_of(near)) as i32;
    near.wrapping_add(distance as i64 as u64)
}

impl ReplayWindow {
    /// A window of `size` sequence numbers (at least 1). Nothing has been seen; the right
    /// edge is 0.
    pub fn new(size: u32) -> Self {
        let size = u64::from(size.max(1));
        let blocks = (size.div_ceil(BITS_PER_BLOCK) + 1).next_power_of_two();
        ReplayWindow {
            size,
            slot_mask: blocks - 1,
            top: AtomicU64::new(0),
            slots: (0..blocks).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The window size in sequence numbers.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The highest sequence number committed so far (0 before any).
    #[inline]
    pub fn top(&self) -> u64 {
        self.top.load(Ordering::Acquire)
    }

    /// The full sequence number of a packet carrying `seq_low`, given the window's state.
    /// Without ESN that is `seq_low`. With ESN the high half is inferred as in RFC 4303
    /// Appendix A2.1: the candidate nearest the window. `None` when the inference lands
    /// before sequence number 0.
    #[inline]
    pub fn infer(&self, seq_low: u32, esn: bool) -> Option<u64> {
        if !esn {
            return Some(u64::from(seq_low));
        }
        let top = self.top();
        let (th, tl) = (top >> 32, top as u32);
        // The window's bottom, as a low 32-bit value (may wrap below zero).
        let bottom = tl.wrapping_sub((self.size - 1) as u32);
        let high = if u64::from(tl) >= self.size - 1 {
            // Window within one 2^32 subspace: below the bottom means the next subspace.
            if seq_low >= bottom {
                th
            } else {
                th + 1
            }
        } else if seq_low >= bottom {
            // Window straddles a subspace boundary: high values belong to the previous one.
            th.checked_sub(1)?
        } else {
            th
        };
        Some((high << 32) | u64::from(seq_low))
    }

    /// Whether `seq` may be new. A pass is provisional: only [`ReplayWindow::commit`], after
    /// authentication, decides.
    #[inline]
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Replay);
        }
        let top = self.top();
        if seq > top {
            return Ok(());
        }
        if top - seq >= self.size {
            return Err(ReplayError::OutsideWindow);
        }
        let block = seq / BITS_PER_BLOCK;
        let entry = self.slots[(block & self.slot_mask) as usize].load(Ordering::Acquire);
        let bit = 1u64 << (seq % BITS_PER_BLOCK);
        if block_of((entry >> 32) as u32, top / BITS_PER_BLOCK) == block && entry & bit != 0 {
            return Err(ReplayError::Replay);
        }
        Ok(())
    }

    /// Records `seq` as seen, after its packet authenticated. Fails if another core recorded
    /// it first, or the window moved past it since [`ReplayWindow::check`].
    #[inline]
    pub fn commit(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Replay);
        }
        let top = self.top();
        if seq <= top && top - seq >= self.size {
            return Err(ReplayError::OutsideWindow);
        }
        let block = seq / BITS_PER_BLOCK;
        let tag = tag_of(block);
        let bit = 1u64 << (seq % BITS_PER_BLOCK);
        let slot = &self.slots[(block & self.slot_mask) as usize];
        let top_block = top / BITS_PER_BLOCK;
        let mut entry = slot.load(Ordering::Acquire);
        loop {
            let entry_block = block_of((entry >> 32) as u32, top_block);
            let new = if entry_block == block {
                if entry & bit != 0 {
                    return Err(ReplayError::Replay);
                }
                entry | bit
            } else if entry_block < block {
                (u64::from(tag) << 32) | bit
            } else {
                // The slot holds a newer block: the window has slid past `seq`.
                return Err(ReplayError::OutsideWindow);
            };
            match slot.compare_exchange_weak(entry, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(current) => entry = current,
            }
        }
        if seq > top {
            let previous = self.top.fetch_max(seq, Ordering::AcqRel);
            if previous < seq {
                self.reset_skipped(previous / BITS_PER_BLOCK, block);
            }
        }
        Ok(())
    }

    /// Gives the slots of blocks strictly between `from` and `to` (at most the last `N - 1`)
    /// their new tag with no bits, unless a newer block got there first.
    #[cold]
    fn reset_skipped(&self, from: u64, to: u64) {
        if to <= from + 1 {
            return;
        }
        let first = (from + 1).max(to.saturating_sub(self.slot_mask));
        for block in first..to {
            let tag = tag_of(block);
            let slot = &self.slots[(block & self.slot_mask) as usize];
            let mut entry = slot.load(Ordering::Acquire);
            // Relative to the old edge: what the slot held was near it (or is a newer
            // block a racing core wrote, within 2^31 blocks of it).
            while block_of((entry >> 32) as u32, from) < block {
                match slot.compare_exchange_weak(
                    entry,
                    u64::from(tag) << 32,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(current) => entry = current,
                }
            }
        }
    }

    /// Check and commit together, for callers (and tests) that have nothing to verify between.
    pub fn accept(&self, seq: u64) -> Result<(), ReplayError> {
        self.check(seq)?;
        self.commit(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The specification, written plainly: a set of seen numbers and the highest.
    #[derive(Default)]
    struct Model {
        seen: BTreeSet<u64>,
        top: u64,
    }

    impl Model {
        fn accept(&mut self, seq: u64, w: u64) -> Result<(), ReplayError> {
            if seq == 0 {
                return Err(ReplayError::Replay);
            }
            if seq <= self.top && self.top - seq >= w {
                return Err(ReplayError::OutsideWindow);
            }
            if self.seen.contains(&seq) {
                return Err(ReplayError::Replay);
            }
            self.seen.insert(seq);
            self.top = self.top.max(seq);
            Ok(())
        }
    }

    #[test]
    fn edges_behind_the_right_edge() {
        for w in [32u32, 64, 100, 1024, 4096] {
            let win = ReplayWindow::new(w);
            let w = u64::from(w);
            let top = 10 * w;
            win.accept(top).unwrap();
            assert_eq!(
                win.accept(top - (w - 1)),
                Ok(()),
                "W-1 behind is inside, w={w}"
            );
            assert_eq!(
                win.accept(top - w),
                Err(ReplayError::OutsideWindow),
                "W behind, w={w}"
            );
            assert_eq!(
                win.accept(top - w - 1),
                Err(ReplayError::OutsideWindow),
                "W+1, w={w}"
            );
            assert_eq!(win.accept(top - (w - 1)), Err(ReplayError::Replay));
            assert_eq!(win.accept(top), Err(ReplayError::Replay));
        }
    }

    #[test]
    fn sequence_zero_is_never_accepted() {
        let win = ReplayWindow::new(64);
        assert_eq!(win.accept(0), Err(ReplayError::Replay));
        assert_eq!(win.commit(0), Err(ReplayError::Replay));
        assert_eq!(win.accept(1), Ok(()));
        assert_eq!(win.accept(0), Err(ReplayError::Replay));
    }

    #[test]
    fn duplicates_after_a_large_slide() {
        let win = ReplayWindow::new(64);
        for s in 1..=40 {
            win.accept(s).unwrap();
        }
        // Slide far: every old slot is recycled, old numbers are outside, not "new again".
        win.accept(1_000_000).unwrap();
        for s in 1..=40 {
            assert_eq!(win.accept(s), Err(ReplayError::OutsideWindow));
        }
        assert_eq!(win.accept(1_000_000), Err(ReplayError::Replay));
        // Just inside the new window: fresh numbers are fine once, then replays.
        for s in 1_000_000 - 63..1_000_000 {
            assert_eq!(win.accept(s), Ok(()));
            assert_eq!(win.accept(s), Err(ReplayError::Replay));
        }
    }

    #[test]
    fn a_checked_but_uncommitted_number_does_not_move_the_window() {
        // What a forged high sequence number looks like to the window: it passes the filter,
        // fails authentication, and is never committed.
        let win = ReplayWindow::new(64);
        win.accept(10).unwrap();
        assert_eq!(win.check(u64::from(u32::MAX)), Ok(()));
        assert_eq!(win.top(), 10);
        assert_eq!(win.accept(5), Ok(()));
    }

    #[test]
    fn esn_inference_follows_rfc4303_appendix_a() {
        let win = ReplayWindow::new(64);
        assert_eq!(win.infer(5, true), Some(5));
        // Near the start, a high low-half is "before zero".
        assert_eq!(win.infer(u32::MAX, true), None);
        win.accept(u64::from(u32::MAX) - 10).unwrap();
        // Ahead across the boundary: next subspace.
        assert_eq!(win.infer(3, true), Some((1 << 32) | 3));
        assert_eq!(
            win.infer(u32::MAX - 20, true),
            Some(u64::from(u32::MAX) - 20)
        );
        win.accept((1 << 32) | 3).unwrap();
        // Window now straddles: late packets from the old subspace are recognised.
        assert_eq!(
            win.infer(u32::MAX - 20, true),
            Some(u64::from(u32::MAX) - 20)
        );
        assert_eq!(win.infer(2, true), Some((1 << 32) | 2));
        assert_eq!(win.infer(7, false), Some(7));
    }

    #[test]
    fn two_cores_each_seeing_every_packet_accept_each_exactly_once() {
        use std::sync::atomic::AtomicU8;
        const N: u64 = 200_000;
        let win = ReplayWindow::new(128);
        let accepted: Vec<AtomicU8> = (0..=N).map(|_| AtomicU8::new(0)).collect();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for seq in 1..=N {
                        if win.check(seq).is_ok() && win.commit(seq).is_ok() {
                            accepted[seq as usize].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // Each stream is in order, so a number one core refuses was taken by the other.
        let counts: Vec<u8> = accepted
            .iter()
            .skip(1)
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        assert!(
            counts.iter().all(|&c| c == 1),
            "some number accepted 0 or 2 times"
        );
        assert_eq!(win.top(), N);
    }

    #[test]
    fn racing_duplicates_with_reordering_are_never_accepted_twice() {
        use std::sync::atomic::AtomicU8;
        const N: u64 = 100_000;
        let win = ReplayWindow::new(64);
        let accepted: Vec<AtomicU8> = (0..=N).map(|_| AtomicU8::new(0)).collect();
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let (win, accepted) = (&win, &accepted);
                s.spawn(move || {
                    // Each core sees every number, locally reordered in its own way.
                    for base in (1..=N).step_by(16) {
                        for k in 0..16 {
                            let seq = base + (k * (t + 3)) % 16;
                            if seq <= N && win.check(seq).is_ok() && win.commit(seq).is_ok() {
                                accepted[seq as usize].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        });
        assert!(accepted.iter().all(|a| a.load(Ordering::Relaxed) <= 1));
    }

    /// An arrival order: the sender's numbers from `start`, each displaced by up to
    /// `jitter`, some lost, some duplicated.
    fn arrivals(start: u64) -> impl Strategy<Value = Vec<u64>> {
        (
            1usize..600,
            proptest::collection::vec((0u64..200, 0u8..10), 600),
        )
            .prop_map(move |(n, noise)| {
                let mut keyed: Vec<(u64, u64)> = Vec::new();
                for (i, (jitter, fate)) in noise.iter().take(n).enumerate() {
                    let seq = start + i as u64;
                    let key = seq * 4 + jitter * 4 % 700;
                    match fate {
                        0 => {}                                            // lost
                        1 => keyed.extend([(key, seq), (key + 900, seq)]), // duplicated late
                        _ => keyed.push((key, seq)),
                    }
                }
                keyed.sort();
                keyed.into_iter().map(|(_, s)| s).collect()
            })
    }

    proptest! {
        #[test]
        fn matches_the_set_model(w in prop::sample::select(vec![32u32, 64, 96, 128, 1024]),
                                 seqs in arrivals(1)) {
            let win = ReplayWindow::new(w);
            let mut model = Model::default();
            for s in seqs {
                prop_assert_eq!(win.accept(s), model.accept(s, u64::from(w)), "seq {}", s);
            }
        }

        #[test]
        fn matches_the_model_across_the_esn_wrap(w in prop::sample::select(vec![32u32, 64, 256]),
                                                 before in 0u64..400,
                                                 seqs in arrivals(0)) {
            // The sender's numbers straddle 2^32; the receiver sees only the low half and
            // infers the rest. A wrong inference would fail authentication, which here means
            // a refusal.
            let start = (1u64 << 32) - before;
            let win = ReplayWindow::new(w);
            let mut model = Model::default();
            // Bring both to the same starting edge.
            win.accept(start - 1).unwrap();
            model.accept(start - 1, u64::from(w)).unwrap();
            for s in seqs.into_iter().map(|s| s + start) {
                let got = match win.infer(s as u32, true) {
                    Some(inferred) if inferred == s => win.accept(s),
                    _ => Err(ReplayError::OutsideWindow),
                };
                let want = model.accept(s, u64::from(w)).map_err(|_| ReplayError::OutsideWindow);
                prop_assert_eq!(got.is_ok(), want.is_ok(), "seq {:#x}", s);
            }
        }

        #[test]
        fn matches_the_model_with_arbitrary_numbers(w in 32u32..300,
                                                     seqs in proptest::collection::vec(
                                                         prop_oneof![4 => 0u64..2000, 1 => 0u64..1 << 40], 0..400)) {
            let win = ReplayWindow::new(w);
            let mut model = Model::default();
            for s in seqs {
                prop_assert_eq!(win.accept(s), model.accept(s, u64::from(w)), "seq {}", s);
            }
        }
    }
}
