//! IPv4 longest-prefix match: a poptrie (Asai and Ohara, SIGCOMM 2015) with direct pointing
//! on the top 18 bits, updated by structural sharing.
//!
//! Layout, read by the workers ([`Lpm`], one immutable view):
//! - the direct table: 2^18 entries indexed by the address's top 18 bits. An entry is either a value (the result for the whole /18) or, with bit 31
//!   set, the index of the root node of a subtree that resolves the remaining 14 bits.
//! - `nodes`: poptrie nodes of stride 6, 6 and 2 bits (bits 18-23, 24-29, 30-31). A node has
//!   a 64-bit `vector` (which slots are child nodes) and a 64-bit `leafvec` (where each run of
//!   equal leaves starts); its children are contiguous from `base1`, its leaves from `base0`,
//!   and a popcount finds the one for a slot.
//! - Slots that no longer prefix covers take the subtree's background: what the covering
//!   /18-or-shorter prefix says, kept in each node of the subtree. So a prefix of /18 or
//!   shorter changes direct entries and backgrounds, never a subtree's shape.
//!
//! A lookup is one direct-table load, and for addresses under a longer prefix one node per 6
//! bits and one leaf: a /24 resolves in the first node.
//!
//! Updates ([`LpmWriter`]) never change what a published view shows, and never copy the
//! table. The routes themselves live in a sorted map (the truth); a change marks a region
//! dirty — the /18 subtree of a prefix longer than /18, or the direct-table range of a
//! shorter one — and [`LpmWriter::sync_from`] rebuilds exactly the dirty regions:
//! - a subtree is rebuilt into a new block of the node arena, never over the old one;
//! - the direct table (1 MiB) is double-buffered: a view gets the buffer the view before
//!   last had, brought up to date entry by entry once no snapshot holds that view (copied
//!   whole only if one still does);
//! - the node and leaf arenas are shared by all views; a block that the newest view no longer
//!   shows is reused only once every view that may show it is gone. A view lives as long as a
//!   snapshot holds it, and a worker holds a snapshot for one burst.
//!
//! So a publication moves the workers to a table whose nodes (most of its memory) are the
//! same memory as before but for the few blocks that changed, and whose direct table is one
//! they read a publication ago: their caches stay warm under churn (alternating between two
//! whole copies of the table evicted them), and publishing never waits for a worker. (A
//! direct table in copy-on-write pages, one more load per lookup, measured 7-9 % slower
//! batch lookups at 1M prefixes.)
//! Arena slots are atomics written before the view that shows them is published, so readers
//! need no unsafe code and no locks; an arena that fills is copied once into one half again
//! as large (views made before keep the old one).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prefetch_index::prefetch_index;
use rustc_hash::{FxHashMap, FxHashSet};

/// Bits resolved by direct pointing.
pub const DIRECT_BITS: u32 = 18;
const L1_SIZE: usize = 1 << DIRECT_BITS;
const NODE: u32 = 1 << 31;
/// Leaf meaning "use the background value of this /18".
const BG: u32 = u32::MAX;
/// No route (below bit 31, since direct entries hold it too).
const NONE: u32 = NODE - 1;
/// The largest value that can be stored (values are adjacency ids).
pub const MAX_VALUE: u32 = NONE - 1;

/// Leaves a node keeps in its own cache line.
const INLINE: usize = 7;
/// `base0` of a node whose leaves are inline.
const LEAVES_INLINE: u32 = u32::MAX;
/// Smallest arena the writer allocates, in slots.
const MIN_ARENA: usize = 1024;

/// One poptrie node as the writer builds it. Besides the poptrie bitmaps (`vector`: child
/// slots, `leafvec`: where runs of equal leaves start) it has `bgvec`: slots that no prefix of
/// the subtree covers, whose value is the subtree's `background` (the covering
/// /18-or-shorter prefix), kept in the node. Only the other leaves are stored: up to
/// [`INLINE`] runs in the node itself (the common case, a /18 with a few longer prefixes),
/// more in the leaf arena from `base0`. So most lookups are two dependent loads: the direct
/// entry and one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A node in the shared arena: one cache line. Relaxed atomics: a slot is written before the
/// view that reaches it is published (arc-swap's release and acquire order the two), and
/// rewritten only after every view that reached it is gone (an `Arc` uniqueness check orders
/// that). On x86 these loads are plain loads.
#[derive(Debug, Default)]
#[repr(C, align(64))]
struct ArenaNode {
    vector: AtomicU64,
    leafvec: AtomicU64,
    bgvec: AtomicU64,
    base1: AtomicU32,
    base0: AtomicU32,
    background: AtomicU32,
    inline: [AtomicU32; INLINE],
}

impl ArenaNode {
    fn store(&self, n: &Node) {
        self.vector.store(n.vector, Relaxed);
        self.leafvec.store(n.leafvec, Relaxed);
        self.bgvec.store(n.bgvec, Relaxed);
        self.base1.store(n.base1, Relaxed);
        self.base0.store(n.base0, Relaxed);
        self.background.store(n.background, Relaxed);
        for (slot, &v) in self.inline.iter().zip(&n.inline) {
            slot.store(v, Relaxed);
        }
    }

    fn get(&self) -> Node {
        Node {
            vector: self.vector.load(Relaxed),
            leafvec: self.leafvec.load(Relaxed),
            bgvec: self.bgvec.load(Relaxed),
            base1: self.base1.load(Relaxed),
            base0: self.base0.load(Relaxed),
            background: self.background.load(Relaxed),
            inline: std::array::from_fn(|i| self.inline[i].load(Relaxed)),
        }
    }

    /// The value of leaf slot `bit` (not a child). (A branch-free select of background versus
    /// stored leaf measured slower here than these branches.)
    #[inline]
    fn leaf(&self, leaves: &[AtomicU32], bit: u64) -> u32 {
        if self.bgvec.load(Relaxed) & bit != 0 {
            return self.background.load(Relaxed);
        }
        let run = (self.leafvec.load(Relaxed) & (bit | (bit - 1))).count_ones();
        let base0 = self.base0.load(Relaxed);
        if base0 == LEAVES_INLINE {
            self.inline[(run - 1) as usize].load(Relaxed)
        } else {
            leaves[(base0 + run - 1) as usize].load(Relaxed)
        }
    }
}

/// Where a subtree's node and leaf blocks are.
#[derive(Debug, Clone, Copy)]
struct SubtreeAlloc {
    nodes: (u32, u32),
    leaves: (u32, u32),
}

/// Free blocks of an arena. A request takes the smallest free block at least as long (best
/// fit), split if longer; a freed block merges with free neighbours. Subtrees change size as
/// routes come and go: exact-size lists left blocks of other sizes unused while the arena
/// grew, and splitting without merging left fragments too small to use.
#[derive(Debug, Clone, Default)]
struct FreeList {
    /// Free blocks: start -> length.
    by_start: BTreeMap<u32, u32>,
    /// The same blocks as (length, start), for best fit.
    by_len: BTreeSet<(u32, u32)>,
    free_slots: usize,
}

impl FreeList {
    fn take(&mut self, len: u32) -> Option<u32> {
        let &(found, start) = self.by_len.range((len, 0)..).next()?;
        self.remove(start, found);
        if found > len {
            self.insert(start + len, found - len);
        }
        Some(start)
    }

    fn give(&mut self, mut start: u32, mut len: u32) {
        if len == 0 {
            return;
        }
        if let Some((&before, &before_len)) = self.by_start.range(..start).next_back() {
            if before + before_len == start {
                self.remove(before, before_len);
                start = before;
                len += before_len;
            }
        }
        if let Some(&after_len) = self.by_start.get(&(start + len)) {
            self.remove(start + len, after_len);
            len += after_len;
        }
        self.insert(start, len);
    }

    fn insert(&mut self, start: u32, len: u32) {
        self.by_start.insert(start, len);
        self.by_len.insert((len, start));
        self.free_slots += len as usize;
    }

    fn remove(&mut self, start: u32, len: u32) {
        self.by_start.remove(&start);
        self.by_len.remove(&(len, start));
        self.free_slots -= len as usize;
    }
}

/// One immutable view of a poptrie over IPv4 prefixes with `u32` values: what a snapshot
/// holds and the workers look up in. Made by [`LpmWriter::publish`] or [`Lpm::build`].
#[derive(Debug)]
pub struct Lpm {
    direct: Arc<[u32]>,
    nodes: Arc<[ArenaNode]>,
    leaves: Arc<[AtomicU32]>,
}

impl Default for Lpm {
    fn default() -> Self {
        Lpm {
            direct: Arc::from(vec![NONE; L1_SIZE]),
            nodes: Arc::from(Vec::new()),
            leaves: Arc::from(Vec::new()),
        }
    }
}

/// The routes an [`Lpm`] is built from: `(address, length) -> value`.
pub type Routes = BTreeMap<(u32, u8), u32>;

/// What changed since a table was last synchronised.
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

    /// Builds a table holding `routes`, its arenas no larger than they need be.
    ///
    /// # Panics
    /// If a value exceeds [`MAX_VALUE`].
    pub fn build(routes: &Routes) -> Self {
        let writer = LpmWriter::build(routes);
        let (nodes, leaves) = (writer.node_blocks.used, writer.leaf_blocks.used);
        Lpm {
            direct: Arc::from(writer.direct.as_slice()),
            nodes: copy_nodes(&writer.nodes[..nodes as usize], 0),
            leaves: copy_leaves(&writer.leaves[..leaves as usize], 0),
        }
    }

    /// The value of the longest prefix that contains `addr`.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<u32> {
        let e = self.direct[(addr >> (32 - DIRECT_BITS)) as usize];
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
            let vector = node.vector.load(Relaxed);
            if vector & bit == 0 {
                return node.leaf(&self.leaves, bit);
            }
            node = &self.nodes
                [(node.base1.load(Relaxed) + (vector & (bit - 1)).count_ones()) as usize];
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
                prefetch_index(&self.direct, (addr >> (32 - DIRECT_BITS)) as usize);
            }
            let mut entries = [0u32; CHUNK];
            for (e, &addr) in entries.iter_mut().zip(a) {
                *e = self.direct[(addr >> (32 - DIRECT_BITS)) as usize];
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

    /// Bytes this view occupies: the direct table and both arenas at their capacity (the
    /// arenas are shared with the other views).
    pub fn memory_bytes(&self) -> usize {
        self.direct.len() * 4
            + self.nodes.len() * std::mem::size_of::<ArenaNode>()
            + self.leaves.len() * 4
    }
}

/// The bookkeeping of one arena's blocks (the arena itself is the writer's): how far it has
/// been handed out, the free blocks, the blocks no view has shown yet and those replaced
/// since the last view.
#[derive(Debug, Default)]
struct Blocks {
    /// Slots ever handed out (the rest of the arena is unused capacity).
    used: u32,
    free: FreeList,
    /// Blocks written since the last view was made: no view shows them, so one replaced
    /// before the next view is free at once. By start index.
    fresh: FxHashSet<u32>,
    /// Replaced since the last view was made, but that view (or an older one) may show them.
    retiring: Vec<(u32, u32)>,
}

impl Blocks {
    /// A block of `len` slots: a free one, else new slots past `used` (below `limit`); the
    /// caller makes the arena at least `used` long.
    fn take(&mut self, len: u32, limit: usize) -> u32 {
        if len == 0 {
            return self.used;
        }
        let start = self.free.take(len).unwrap_or_else(|| {
            let start = self.used;
            let end = start as usize + len as usize;
            assert!(end < limit, "arena indexes overflow");
            self.used = end as u32;
            start
        });
        self.fresh.insert(start);
        start
    }

    /// A block no longer in the table: free at once if no view shows it (`false`), else kept
    /// until the views that may show it are gone (`true`).
    fn retire(&mut self, (start, len): (u32, u32)) -> bool {
        if len == 0 {
            return false;
        }
        if self.fresh.remove(&start) {
            self.free.give(start, len);
            return false;
        }
        self.retiring.push((start, len));
        true
    }

    /// Slots in use and slots free.
    fn usage(&self) -> (usize, usize) {
        (
            self.used as usize - self.free.free_slots,
            self.free.free_slots,
        )
    }
}

/// Blocks the newest view no longer shows.
#[derive(Debug, Default)]
struct Retired {
    nodes: Vec<(u32, u32)>,
    leaves: Vec<(u32, u32)>,
}

impl Retired {
    fn blocks(&self) -> usize {
        self.nodes.len() + self.leaves.len()
    }
}

/// A copy of a node arena with room for `capacity` nodes.
fn copy_nodes(old: &[ArenaNode], capacity: usize) -> Arc<[ArenaNode]> {
    let nodes: Arc<[ArenaNode]> = (0..capacity.max(old.len()))
        .map(|_| ArenaNode::default())
        .collect();
    for (new, old) in nodes.iter().zip(old) {
        new.store(&old.get());
    }
    nodes
}

/// A copy of a leaf arena with room for `capacity` leaves.
fn copy_leaves(old: &[AtomicU32], capacity: usize) -> Arc<[AtomicU32]> {
    (0..capacity.max(old.len()))
        .map(|i| AtomicU32::new(old.get(i).map_or(NONE, |v| v.load(Relaxed))))
        .collect()
}

/// The capacity an arena of `current` slots grows to when `needed` slots must fit.
fn grown_capacity(current: usize, needed: usize) -> usize {
    needed.max(current * 3 / 2).max(MIN_ARENA)
}

/// How a writer's updates went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Direct tables copied whole because a snapshot still held the spare buffer.
    pub direct_copied: u64,
    /// Direct tables brought up to date in place.
    pub direct_recycled: u64,
    /// Node and leaf blocks replaced while a published view could show them.
    pub blocks_retired: u64,
    /// Retired blocks reused after the views that could show them were gone.
    pub blocks_reclaimed: u64,
    /// Times an arena was full and copied into a larger one.
    pub arenas_grown: u64,
}

impl std::ops::AddAssign for WriterStats {
    fn add_assign(&mut self, o: WriterStats) {
        self.direct_copied += o.direct_copied;
        self.direct_recycled += o.direct_recycled;
        self.blocks_retired += o.blocks_retired;
        self.blocks_reclaimed += o.blocks_reclaimed;
        self.arenas_grown += o.arenas_grown;
    }
}

/// The control thread's side of one table: applies route changes without touching what any
/// published view shows, and makes the views.
#[derive(Debug)]
pub struct LpmWriter {
    /// The direct table as it is now (never shown to a reader).
    direct: Vec<u32>,
    /// Direct entries changed since the last view.
    direct_changed: Vec<u32>,
    /// The previous view's buffer, to be the next view's, and the entries it lacks.
    spare: Option<Arc<[u32]>>,
    spare_lag: Vec<u32>,
    nodes: Arc<[ArenaNode]>,
    leaves: Arc<[AtomicU32]>,
    node_blocks: Blocks,
    leaf_blocks: Blocks,
    subtrees: FxHashMap<u32, SubtreeAlloc>,
    /// Views made, oldest first, each with the blocks replaced after it: those are free once
    /// it and every older view are gone.
    grace: VecDeque<(Arc<Lpm>, Retired)>,
    /// The newest view, and whether anything changed since it was made.
    last_view: Option<Arc<Lpm>>,
    changed: bool,
    stats: WriterStats,
}

impl Default for LpmWriter {
    fn default() -> Self {
        LpmWriter {
            direct: vec![NONE; L1_SIZE],
            direct_changed: Vec::new(),
            spare: None,
            spare_lag: Vec::new(),
            nodes: Arc::from(Vec::new()),
            leaves: Arc::from(Vec::new()),
            node_blocks: Blocks::default(),
            leaf_blocks: Blocks::default(),
            subtrees: FxHashMap::default(),
            grace: VecDeque::new(),
            last_view: None,
            changed: true,
            stats: WriterStats::default(),
        }
    }
}

impl LpmWriter {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer holding `routes`.
    ///
    /// # Panics
    /// If a value exceeds [`MAX_VALUE`].
    pub fn build(routes: &Routes) -> Self {
        let mut writer = LpmWriter::new();
        let mut dirty = Dirty::default();
        for &(addr, len) in routes.keys() {
            dirty.mark(addr, len);
        }
        writer.sync_from(routes, &dirty);
        writer
    }

    /// The next view's direct table: the spare buffer brought up to date if no snapshot
    /// holds it any more, a copy otherwise.
    fn next_direct(&mut self) -> Arc<[u32]> {
        let changed = std::mem::take(&mut self.direct_changed);
        let previous = self.last_view.as_ref().map(|v| v.direct.clone());
        let mut spare = self.spare.take();
        let fresh = match spare.as_mut().and_then(Arc::get_mut) {
            Some(buffer) => {
                for &slot in self.spare_lag.iter().chain(&changed) {
                    buffer[slot as usize] = self.direct[slot as usize];
                }
                self.stats.direct_recycled += 1;
                spare.expect("just used")
            }
            None => {
                self.stats.direct_copied += 1;
                Arc::from(self.direct.as_slice())
            }
        };
        self.spare = previous;
        self.spare_lag = changed;
        fresh
    }

    /// A view of the table as it is now, for a snapshot. The same view as last time if
    /// nothing changed. Reclaims the blocks of views that are gone.
    pub fn publish(&mut self) -> Arc<Lpm> {
        self.reclaim();
        if let (false, Some(view)) = (self.changed, &self.last_view) {
            return view.clone();
        }
        // The previous views go first, so that the spare buffer they held can be reused.
        let direct = if self.direct_changed.is_empty() {
            match &self.last_view {
                Some(v) => v.direct.clone(),
                None => self.next_direct(),
            }
        } else {
            self.next_direct()
        };
        let view = Arc::new(Lpm {
            direct,
            nodes: self.nodes.clone(),
            leaves: self.leaves.clone(),
        });
        let retired = Retired {
            nodes: std::mem::take(&mut self.node_blocks.retiring),
            leaves: std::mem::take(&mut self.leaf_blocks.retiring),
        };
        match self.last_view.replace(view.clone()) {
            Some(previous) => self.grace.push_back((previous, retired)),
            // Nothing was shown before: every block was fresh, none retired.
            None => debug_assert_eq!(retired.blocks(), 0),
        }
        self.node_blocks.fresh.clear();
        self.leaf_blocks.fresh.clear();
        self.changed = false;
        view
    }

    /// Frees the blocks of views that no snapshot holds any more, oldest first.
    fn reclaim(&mut self) {
        // `Arc::get_mut` succeeds only when this is the last reference, and synchronises with
        // the readers' drops: their reads of the blocks come before our reuse.
        while let Some((view, _)) = self.grace.front_mut() {
            if Arc::get_mut(view).is_none() {
                break;
            }
            let (_, retired) = self.grace.pop_front().expect("front exists");
            self.stats.blocks_reclaimed += retired.blocks() as u64;
            for (start, len) in retired.nodes {
                self.node_blocks.free.give(start, len);
            }
            for (start, len) in retired.leaves {
                self.leaf_blocks.free.give(start, len);
            }
        }
    }

    /// How updates went so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Bytes this table holds: both arenas at their capacity, the writer's direct table and
    /// the published buffers (the newest view's and the spare).
    pub fn memory_bytes(&self) -> usize {
        let buffers = 1 + usize::from(self.spare.is_some()) + usize::from(self.last_view.is_some());
        buffers * self.direct.len() * 4
            + self.nodes.len() * std::mem::size_of::<ArenaNode>()
            + self.leaves.len() * 4
    }

    /// Retired blocks waiting for the views that may show them to go.
    pub fn waiting_blocks(&self) -> usize {
        self.grace.iter().map(|(_, r)| r.blocks()).sum::<usize>()
            + self.node_blocks.retiring.len()
            + self.leaf_blocks.retiring.len()
    }

    /// Node and leaf slots in use, and free in the arenas' free lists.
    pub fn usage(&self) -> (usize, usize, usize, usize) {
        let (nodes, free_nodes) = self.node_blocks.usage();
        let (leaves, free_leaves) = self.leaf_blocks.usage();
        (nodes, free_nodes, leaves, free_leaves)
    }

    #[inline]
    fn direct(&self, slot: usize) -> u32 {
        self.direct[slot]
    }

    /// Sets a direct entry of the next view.
    fn set_direct(&mut self, slot: usize, value: u32) {
        if self.direct[slot] == value {
            return;
        }
        self.direct[slot] = value;
        self.direct_changed.push(slot as u32);
        self.changed = true;
    }

    fn alloc_nodes(&mut self, len: u32) -> u32 {
        let start = self.node_blocks.take(len, NODE as usize);
        let needed = self.node_blocks.used as usize;
        if needed > self.nodes.len() {
            self.nodes = copy_nodes(&self.nodes, grown_capacity(self.nodes.len(), needed));
            self.stats.arenas_grown += 1;
            self.changed = true;
        }
        start
    }

    fn alloc_leaves(&mut self, len: u32) -> u32 {
        let start = self.leaf_blocks.take(len, u32::MAX as usize);
        let needed = self.leaf_blocks.used as usize;
        if needed > self.leaves.len() {
            self.leaves = copy_leaves(&self.leaves, grown_capacity(self.leaves.len(), needed));
            self.stats.arenas_grown += 1;
            self.changed = true;
        }
        start
    }

    fn retire_nodes(&mut self, block: (u32, u32)) {
        if self.node_blocks.retire(block) {
            self.stats.blocks_retired += 1;
        }
    }

    fn retire_leaves(&mut self, block: (u32, u32)) {
        if self.leaf_blocks.retire(block) {
            self.stats.blocks_retired += 1;
        }
    }

    /// Rebuilds the regions `dirty` marks from `routes`: afterwards every lookup in the next
    /// view agrees with `routes` wherever `dirty` covers, and is unchanged elsewhere. Views
    /// already made are unchanged.
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

    /// Recomputes the direct entries and backgrounds over the range of a /18-or-shorter
    /// prefix.
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
            if self.direct(slot) & NODE == 0 {
                self.set_direct(slot, v);
            } else {
                self.set_background(slot as u32, v);
            }
        }
    }

    /// Gives the subtree of a /18 slot a new background: in place if no view shows its
    /// block yet, else in a copy of the block (its leaf block is shared, as leaves never
    /// hold the background).
    fn set_background(&mut self, slot: u32, value: u32) {
        let Some(&alloc) = self.subtrees.get(&slot) else {
            return;
        };
        let (old, len) = alloc.nodes;
        if self.nodes[old as usize].background.load(Relaxed) == value {
            return;
        }
        self.changed = true;
        if self.node_blocks.fresh.contains(&old) {
            for node in &self.nodes[old as usize..(old + len) as usize] {
                node.background.store(value, Relaxed);
            }
            return;
        }
        let new = self.alloc_nodes(len);
        for k in 0..len as usize {
            let mut node = self.nodes[old as usize + k].get();
            // Children are addressed absolutely and move with the block.
            node.base1 = node.base1 - old + new;
            node.background = value;
            self.nodes[new as usize + k].store(&node);
        }
        self.retire_nodes(alloc.nodes);
        self.subtrees.insert(
            slot,
            SubtreeAlloc {
                nodes: (new, len),
                ..alloc
            },
        );
        self.set_direct(slot as usize, NODE | new);
    }

    /// What the /18-or-shorter prefixes say for a /18 slot: the direct entry, or the
    /// background its subtree keeps.
    fn background_of(&self, slot: u32) -> u32 {
        let e = self.direct(slot as usize);
        if e & NODE == 0 {
            e
        } else {
            self.nodes[(e & !NODE) as usize].background.load(Relaxed)
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
        let old = self.subtrees.remove(&slot);
        let entry = if prefixes.is_empty() {
            background
        } else {
            let root = build_level(&prefixes, lo, 1, BG);
            NODE | self.place(slot, &root, background)
        };
        // The new block is complete before the entry that reaches it changes, and the old
        // one stays intact for the views that still show it.
        self.set_direct(slot as usize, entry);
        self.changed = true;
        if let Some(old) = old {
            self.retire_nodes(old.nodes);
            self.retire_leaves(old.leaves);
        }
    }

    /// Lays a built subtree out breadth first (so that each node's children are contiguous)
    /// into one new node block and one new leaf block.
    fn place(&mut self, slot: u32, root: &[Slot], background: u32) -> u32 {
        // First pass: count nodes and leaves.
        let mut order: Vec<&[Slot]> = vec![root];
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
        let node_base = self.alloc_nodes(n_nodes);
        let leaf_base = self.alloc_leaves(n_leaves);
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
                    self.leaves[next_leaf as usize].store(v, Relaxed);
                    next_leaf += 1;
                }
            }
            self.nodes[node_base as usize + k].store(&written);
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
    fn free_blocks_merge_and_split() {
        let mut free = FreeList::default();
        free.give(10, 5);
        free.give(20, 5);
        assert_eq!(free.take(8), None, "two blocks of 5 apart");
        free.give(15, 5);
        assert_eq!(free.free_slots, 15);
        assert_eq!(free.take(12), Some(10), "merged into one block of 15");
        assert_eq!(free.take(3), Some(22), "the rest of it");
        assert_eq!(free.take(1), None);
        free.give(40, 4);
        free.give(30, 2);
        assert_eq!(free.take(2), Some(30), "best fit");
        assert_eq!(free.free_slots, 4);
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
        let mut writer = LpmWriter::build(&r);
        let before = writer.publish();
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
        writer.sync_from(&r, &dirty);
        let lpm = writer.publish();
        let fresh = Lpm::build(&r);
        assert_eq!(
            before.lookup(ip("10.1.2.129")),
            Some(4),
            "a view made before is unchanged"
        );
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
