//! IPv4 longest-prefix match: a poptrie (Asai and Ohara, SIGCOMM 2015) with direct pointing
//! on the top 18 bits.
//!
//! Layout, read by the workers:
//! - `l1`: 2^18 entries indexed by the address's top 18 bits. An entry is either a value
//!   (the result for the whole /18) or, with bit 31 set, the index of the root node of a
//!   subtree that resolves the remaining 14 bits.
//! - `nodes`: poptrie nodes of stride 6, 6 and 2 bits (bits 18-23, 24-29, 30-31). A node has
//!   a 64-bit `vector` (which slots are child nodes) and a 64-bit `leafvec` (where each run of
//!   equal leaves starts); its children are contiguous from `base1`, its leaves from `base0`,
//!   and a popcount finds the one for a slot.
//! - Slots that no longer prefix covers take the subtree's background: what the covering
//!   /18-or-shorter prefix says, kept in each node of the subtree. So a prefix of /18 or
//!   shorter changes direct entries and backgrounds, never a subtree's shape.
//!
//! A lookup is one `l1` load, and for addresses under a longer prefix one node per 6 bits and
//! one leaf: a /24 resolves in the first node. Everything is in flat arrays.
//!
//! Updates are incremental. The routes themselves live in a sorted map (the truth); a change
//! marks a region dirty — the /18 subtree of a prefix longer than /18, or the `l1`/`background`
//! range of a shorter one — and [`Lpm::sync_from`] rebuilds exactly the dirty regions from the
//! truth. Rebuilding is idempotent, so a copy can catch up on any number of changes.

use std::collections::BTreeMap;

use prefetch_index::prefetch_index;
use rustc_hash::{FxHashMap, FxHashSet};

/// Bits resolved by direct pointing.
pub const DIRECT_BITS: u32 = 18;
const L1_SIZE: usize = 1 << DIRECT_BITS;
const NODE: u32 = 1 << 31;
/// Leaf meaning "use the background value of this /18".
const BG: u32 = u32::MAX;
/// No route (below bit 31, since `l1` entries hold it too).
const NONE: u32 = NODE - 1;
/// The largest value that can be stored (values are adjacency ids).
pub const MAX_VALUE: u32 = NONE - 1;

/// Leaves a node keeps in its own cache line.
const INLINE: usize = 7;
/// `base0` of a node whose leaves are inline.
const LEAVES_INLINE: u32 = u32::MAX;

/// One poptrie node, one cache line. Besides the poptrie bitmaps (`vector`: child slots,
/// `leafvec`: where runs of equal leaves start) it has `bgvec`: slots that no prefix of the
/// subtree covers, whose value is the subtree's `background` (the covering /18-or-shorter
/// prefix), kept in the node. Only the other leaves are stored: up to [`INLINE`] runs in the
/// node itself (the common case, a /18 with a few longer prefixes), more in `leaves` from
/// `base0`. So most lookups are two dependent loads: the direct entry and one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
struct Node {
    vector: u64,
    leafvec: u64,
    bgvec: u64,
    base1: u32,
    base0: u32,
    background: u32,
    inline: [u32; INLINE],
}

impl Default for Node {
    fn default() -> Self {
        Node {
            vector: 0,
            leafvec: 0,
            bgvec: 0,
            base1: 0,
            base0: LEAVES_INLINE,
            background: NONE,
            inline: [NONE; INLINE],
        }
    }
}

impl Node {
    /// The value of leaf slot `bit` (not a child). (A branch-free select of background versus
    /// stored leaf measured slower here than these branches.)
    #[inline]
    fn leaf(&self, leaves: &[u32], bit: u64) -> u32 {
        if self.bgvec & bit != 0 {
            return self.background;
        }
        let run = (self.leafvec & (bit | (bit - 1))).count_ones();
        if self.base0 == LEAVES_INLINE {
            self.inline[(run - 1) as usize]
        } else {
            leaves[(self.base0 + run - 1) as usize]
        }
    }
}

/// Where a subtree's node and leaf blocks are, for freeing.
#[derive(Debug, Clone, Copy)]
struct SubtreeAlloc {
    nodes: (u32, u32),
    leaves: (u32, u32),
}

/// Exact-size free lists for blocks of a flat array.
#[derive(Debug, Clone, Default)]
struct FreeList {
    by_len: FxHashMap<u32, Vec<u32>>,
    free_slots: usize,
}

impl FreeList {
    fn take(&mut self, len: u32) -> Option<u32> {
        let v = self.by_len.get_mut(&len)?;
        let start = v.pop()?;
        self.free_slots -= len as usize;
        Some(start)
    }

    fn give(&mut self, start: u32, len: u32) {
        if len > 0 {
            self.by_len.entry(len).or_default().push(start);
            self.free_slots += len as usize;
        }
    }
}

/// A poptrie over IPv4 prefixes with `u32` values.
#[derive(Debug, Clone)]
pub struct Lpm {
    l1: Vec<u32>,
    nodes: Vec<Node>,
    leaves: Vec<u32>,
    subtrees: FxHashMap<u32, SubtreeAlloc>,
    free_nodes: FreeList,
    free_leaves: FreeList,
}

impl Default for Lpm {
    fn default() -> Self {
        Lpm {
            l1: vec![NONE; L1_SIZE],
            nodes: Vec::new(),
            leaves: Vec::new(),
            subtrees: FxHashMap::default(),
            free_nodes: FreeList::default(),
            free_leaves: FreeList::default(),
        }
    }
}

/// The routes an [`Lpm`] is built from: `(address, length) -> value`.
pub type Routes = BTreeMap<(u32, u8), u32>;

/// What changed since a copy was last synchronised.
#[derive(Debug, Clone, Default)]
pub struct Dirty {
    /// /18 slots whose subtree must be rebuilt.
    subtrees: FxHashSet<u32>,
    /// Prefixes of /18 or shorter whose range must be repainted.
    short: Vec<(u32, u8)>,
}

impl Dirty {
    /// Marks the region that a change of `(addr, len)` affects.
    pub fn mark(&mut self, addr: u32, len: u8) {
        if u32::from(len) > DIRECT_BITS {
            self.subtrees.insert(addr >> (32 - DIRECT_BITS));
        } else {
            self.short.push((addr, len));
        }
    }

    /// Whether nothing is dirty.
    pub fn is_empty(&self) -> bool {
        self.subtrees.is_empty() && self.short.is_empty()
    }

    /// Adds everything `other` marks.
    pub fn merge(&mut self, other: &Dirty) {
        self.subtrees.extend(other.subtrees.iter().copied());
        self.short.extend(other.short.iter().copied());
    }
}

#[inline]
fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// A node under construction: each slot a value or a child.
enum Slot {
    Leaf(u32),
    Child(Box<[Slot]>),
}

impl Lpm {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a table holding `routes`.
    ///
    /// # Panics
    /// If a value exceeds [`MAX_VALUE`].
    pub fn build(routes: &Routes) -> Self {
        let mut lpm = Lpm::new();
        let mut dirty = Dirty::default();
        for &(addr, len) in routes.keys() {
            dirty.mark(addr, len);
        }
        lpm.sync_from(routes, &dirty);
        lpm.nodes.shrink_to_fit();
        lpm.leaves.shrink_to_fit();
        lpm
    }

    /// The value of the longest prefix that contains `addr`.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<u32> {
        let slot = (addr >> (32 - DIRECT_BITS)) as usize;
        let e = self.l1[slot];
        let v = if e & NODE == 0 {
            e
        } else {
            self.walk(e & !NODE, addr)
        };
        (v != NONE).then_some(v)
    }

    #[inline]
    fn walk(&self, root: u32, addr: u32) -> u32 {
        let mut node = &self.nodes[root as usize];
        let mut shift = 32 - DIRECT_BITS - 6;
        loop {
            // The last level (bits 30-31) has a stride of 2.
            let idx = (addr >> shift) & if shift == 0 { 3 } else { 63 };
            let bit = 1u64 << idx;
            if node.vector & bit == 0 {
                return node.leaf(&self.leaves, bit);
            }
            node = &self.nodes[(node.base1 + (node.vector & (bit - 1)).count_ones()) as usize];
            shift = shift.saturating_sub(6);
        }
    }

    /// Looks up a batch of addresses in chunks of 32, in three passes: prefetch every
    /// address's direct entry; load them, prefetching the node each one points to (for a
    /// direct value the address computed is never read: a prefetch cannot fault); then
    /// resolve each address with the scalar walk, whose loads now find their lines in cache.
    ///
    /// Why prefetches rather than loads: on a table larger than the caches each lookup is
    /// two dependent misses. A load that misses holds its place in the reorder window until
    /// the data comes, and the walk's data-dependent branches (direct value or node,
    /// background or stored leaf) mispredict on random addresses and discard what was issued
    /// behind them, so the processor overlaps only a few misses at a time. Prefetches retire
    /// at once and their branch-free loops issue a whole chunk's misses together.
    ///
    /// # Panics
    /// If `out` is shorter than `addrs`.
    #[inline]
    pub fn lookup_batch(&self, addrs: &[u32], out: &mut [Option<u32>]) {
        const CHUNK: usize = 32;
        assert!(out.len() >= addrs.len(), "one result slot per address");
        for (a, o) in addrs.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            for &addr in a {
                prefetch_index(&self.l1, (addr >> (32 - DIRECT_BITS)) as usize);
            }
            let mut entries = [0u32; CHUNK];
            for (e, &addr) in entries.iter_mut().zip(a) {
                *e = self.l1[(addr >> (32 - DIRECT_BITS)) as usize];
                prefetch_index(&self.nodes, (*e & !NODE) as usize);
            }
            for ((&e, &addr), r) in entries.iter().zip(a).zip(o.iter_mut()) {
                let v = if e & NODE == 0 {
                    e
                } else {
                    self.walk(e & !NODE, addr)
                };
                *r = (v != NONE).then_some(v);
            }
        }
    }

    /// Bytes the lookup structure occupies (arrays at their capacity).
    pub fn memory_bytes(&self) -> usize {
        (self.l1.capacity() + self.leaves.capacity()) * 4
            + self.nodes.capacity() * std::mem::size_of::<Node>()
    }

    /// Node and leaf slots in use, and free in the arrays' free lists.
    pub fn usage(&self) -> (usize, usize, usize, usize) {
        (
            self.nodes.len() - self.free_nodes.free_slots,
            self.free_nodes.free_slots,
            self.leaves.len() - self.free_leaves.free_slots,
            self.free_leaves.free_slots,
        )
    }

    /// Rebuilds the regions `dirty` marks from `routes`: afterwards every lookup agrees with
    /// `routes` wherever `dirty` covers, and is unchanged elsewhere.
    ///
    /// # Panics
    /// If a value exceeds [`MAX_VALUE`].
    pub fn sync_from(&mut self, routes: &Routes, dirty: &Dirty) {
        // Short prefixes first: they set the backgrounds the subtrees fall back to.
        let mut short = dirty.short.clone();
        short.sort_unstable_by_key(|&(a, l)| (l, a));
        short.dedup();
        for (addr, len) in short {
            self.repaint(routes, addr & mask(len), len);
        }
        let mut subtrees: Vec<u32> = dirty.subtrees.iter().copied().collect();
        subtrees.sort_unstable();
        for slot in subtrees {
            self.rebuild_subtree(routes, slot);
        }
    }

    /// Recomputes `l1` and `background` over the range of a /18-or-shorter prefix.
    fn repaint(&mut self, routes: &Routes, addr: u32, len: u8) {
        let shift = 32 - DIRECT_BITS;
        let first = (addr >> shift) as usize;
        let count = 1usize << (DIRECT_BITS - u32::from(len));
        // What covers the whole range from outside: the longest shorter prefix.
        let mut base = NONE;
        for l in (0..len).rev() {
            if let Some(&v) = routes.get(&(addr & mask(l), l)) {
                base = v;
                break;
            }
        }
        let mut paint: Vec<u32> = vec![base; count];
        // Prefixes inside the range, up to /18, shortest first so longer ones win.
        let last = addr | !mask(len);
        let mut inside: Vec<(u32, u8, u32)> = routes
            .range((addr, len)..=(last, DIRECT_BITS as u8))
            .filter(|(&(_, l), _)| l >= len && u32::from(l) <= DIRECT_BITS)
            .map(|(&(a, l), &v)| (a, l, v))
            .collect();
        inside.sort_unstable_by_key(|&(_, l, _)| l);
        for (a, l, v) in inside {
            assert!(v <= MAX_VALUE, "value {v} exceeds MAX_VALUE");
            let start = ((a >> shift) as usize) - first;
            let n = 1usize << (DIRECT_BITS - u32::from(l));
            paint[start..start + n].fill(v);
        }
        for (i, v) in paint.into_iter().enumerate() {
            let slot = first + i;
            if self.l1[slot] & NODE == 0 {
                self.l1[slot] = v;
            } else if let Some(alloc) = self.subtrees.get(&(slot as u32)) {
                let (start, len) = alloc.nodes;
                for node in &mut self.nodes[start as usize..(start + len) as usize] {
                    node.background = v;
                }
            }
        }
    }

    /// What the /18-or-shorter prefixes say for a /18 slot: the direct entry, or the
    /// background its subtree keeps.
    fn background_of(&self, slot: u32) -> u32 {
        let e = self.l1[slot as usize];
        if e & NODE == 0 {
            e
        } else {
            self.nodes[(e & !NODE) as usize].background
        }
    }

    /// Rebuilds the subtree of one /18 slot from the prefixes longer than /18 inside it.
    fn rebuild_subtree(&mut self, routes: &Routes, slot: u32) {
        let lo = slot << (32 - DIRECT_BITS);
        let hi = lo | !mask(DIRECT_BITS as u8);
        let prefixes: Vec<(u32, u8, u32)> = routes
            .range((lo, DIRECT_BITS as u8 + 1)..=(hi, 32))
            .filter(|(&(_, l), _)| u32::from(l) > DIRECT_BITS)
            .map(|(&(a, l), &v)| (a, l, v))
            .collect();
        let background = self.background_of(slot);
        if let Some(old) = self.subtrees.remove(&slot) {
            self.free_nodes.give(old.nodes.0, old.nodes.1);
            self.free_leaves.give(old.leaves.0, old.leaves.1);
        }
        if prefixes.is_empty() {
            self.l1[slot as usize] = background;
            return;
        }
        let root = build_level(&prefixes, lo, 1, BG);
        let root_index = self.place(slot, root, background);
        self.l1[slot as usize] = NODE | root_index;
    }

    /// Lays a built subtree out breadth first (so that each node's children are contiguous)
    /// into one node block and one leaf block.
    fn place(&mut self, slot: u32, root: Box<[Slot]>, background: u32) -> u32 {
        // First pass: count nodes and leaves.
        let mut order: Vec<&[Slot]> = vec![&root];
        let mut i = 0;
        while i < order.len() {
            let node = order[i];
            for s in node.iter() {
                if let Slot::Child(c) = s {
                    order.push(c);
                }
            }
            i += 1;
        }
        // Runs of equal leaves, leaving out the background slots.
        let leaf_runs = |node: &[Slot]| -> Vec<u32> {
            let mut runs = Vec::new();
            let mut prev = None;
            for s in node {
                if let Slot::Leaf(v) = s {
                    if *v != BG && prev != Some(*v) {
                        runs.push(*v);
                        prev = Some(*v);
                    }
                }
            }
            runs
        };
        let runs: Vec<Vec<u32>> = order.iter().map(|n| leaf_runs(n)).collect();
        let n_nodes = u32::try_from(order.len()).expect("a subtree has few nodes");
        let n_leaves = u32::try_from(
            runs.iter()
                .filter(|r| r.len() > INLINE)
                .map(Vec::len)
                .sum::<usize>(),
        )
        .expect("few leaves");
        let node_base = self.free_nodes.take(n_nodes).unwrap_or_else(|| {
            let b = self.nodes.len();
            self.nodes.resize(b + n_nodes as usize, Node::default());
            u32::try_from(b).expect("node array under 2^32")
        });
        let leaf_base = self.free_leaves.take(n_leaves).unwrap_or_else(|| {
            let b = self.leaves.len();
            self.leaves.resize(b + n_leaves as usize, NONE);
            u32::try_from(b).expect("leaf array under 2^32")
        });
        self.subtrees.insert(
            slot,
            SubtreeAlloc {
                nodes: (node_base, n_nodes),
                leaves: (leaf_base, n_leaves),
            },
        );
        // Second pass: write nodes; children of node k start after all earlier nodes' children.
        let mut next_child = node_base + 1;
        let mut next_leaf = leaf_base;
        for (k, node) in order.iter().enumerate() {
            let mut written = Node {
                background,
                base1: next_child,
                ..Node::default()
            };
            let mut prev = None;
            let mut children = 0;
            for (idx, s) in node.iter().enumerate() {
                match s {
                    Slot::Child(_) => {
                        written.vector |= 1 << idx;
                        children += 1;
                    }
                    Slot::Leaf(BG) => written.bgvec |= 1 << idx,
                    Slot::Leaf(v) => {
                        if prev != Some(*v) {
                            written.leafvec |= 1 << idx;
                            prev = Some(*v);
                        }
                    }
                }
            }
            if runs[k].len() <= INLINE {
                written.inline[..runs[k].len()].copy_from_slice(&runs[k]);
            } else {
                written.base0 = next_leaf;
                for &v in &runs[k] {
                    self.leaves[next_leaf as usize] = v;
                    next_leaf += 1;
                }
            }
            self.nodes[node_base as usize + k] = written;
            next_child += children;
        }
        node_base
    }
}

/// Builds one node of a subtree: `prefixes` lie inside the node's range, which starts at
/// `base`; `inherited` is the value where none of them applies.
fn build_level(prefixes: &[(u32, u8, u32)], base: u32, level: u8, inherited: u32) -> Box<[Slot]> {
    // Level 1 resolves bits 18-23, level 2 bits 24-29, level 3 bits 30-31.
    let (stride, slot_len) = match level {
        1 => (6u32, 24u8),
        2 => (6, 30),
        _ => (2, 32),
    };
    let span_shift = 32 - u32::from(slot_len);
    (0..1u32 << stride)
        .map(|i| {
            let slot_base = base | (i << span_shift);
            let slot_last = slot_base | (((1u64 << span_shift) - 1) as u32);
            let mut value = inherited;
            let mut best_len = 0u8;
            let mut inside: Vec<(u32, u8, u32)> = Vec::new();
            for &(a, l, v) in prefixes {
                if l <= slot_len {
                    if slot_base & mask(l) == a && l >= best_len {
                        assert!(v <= MAX_VALUE, "value {v} exceeds MAX_VALUE");
                        value = v;
                        best_len = l;
                    }
                } else if a >= slot_base && a <= slot_last {
                    inside.push((a, l, v));
                }
            }
            if inside.is_empty() {
                Slot::Leaf(value)
            } else {
                Slot::Child(build_level(&inside, slot_base, level + 1, value))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(list: &[(&str, u8, u32)]) -> Routes {
        list.iter()
            .map(|&(a, l, v)| {
                let a: std::net::Ipv4Addr = a.parse().unwrap();
                ((u32::from(a) & mask(l), l), v)
            })
            .collect()
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    #[test]
    fn longest_prefix_wins_at_every_level() {
        let r = routes(&[
            ("0.0.0.0", 0, 1),
            ("10.0.0.0", 8, 2),
            ("10.1.0.0", 16, 3),
            ("10.1.2.0", 24, 4),
            ("10.1.2.128", 25, 5),
            ("10.1.2.130", 31, 6),
            ("10.1.2.131", 32, 7),
            ("10.1.64.0", 19, 8),
        ]);
        let lpm = Lpm::build(&r);
        for (addr, want) in [
            ("8.8.8.8", 1),
            ("10.200.0.1", 2),
            ("10.1.0.1", 3),
            ("10.1.2.1", 4),
            ("10.1.2.129", 5),
            ("10.1.2.130", 6),
            ("10.1.2.131", 7),
            ("10.1.2.255", 5),
            ("10.1.64.1", 8),
            ("10.1.96.1", 3),
        ] {
            assert_eq!(lpm.lookup(ip(addr)), Some(want), "{addr}");
        }
        let empty = Lpm::build(&Routes::new());
        assert_eq!(empty.lookup(ip("1.2.3.4")), None);
    }

    #[test]
    fn incremental_sync_equals_fresh_build() {
        let mut r = routes(&[("10.1.2.0", 24, 4), ("10.0.0.0", 8, 2)]);
        let mut lpm = Lpm::build(&r);
        let mut dirty = Dirty::default();
        for (a, l, v) in [
            ("10.1.2.128", 25u8, 9u32),
            ("0.0.0.0", 0, 1),
            ("10.1.0.0", 17, 7),
        ] {
            let a = ip(a) & mask(l);
            r.insert((a, l), v);
            dirty.mark(a, l);
        }
        r.remove(&(ip("10.0.0.0"), 8));
        dirty.mark(ip("10.0.0.0"), 8);
        lpm.sync_from(&r, &dirty);
        let fresh = Lpm::build(&r);
        for addr in [
            "10.1.2.129",
            "10.1.2.1",
            "10.2.0.0",
            "10.1.127.1",
            "1.1.1.1",
        ] {
            assert_eq!(lpm.lookup(ip(addr)), fresh.lookup(ip(addr)), "{addr}");
        }
        assert_eq!(
            lpm.lookup(ip("10.2.0.0")),
            Some(1),
            "the /8 is gone: the default answers"
        );
    }
}
