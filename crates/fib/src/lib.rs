//! The forwarding information base: what the workers look routes up in, and how the control
//! thread hands it to them without locks.
//!
//! - [`Lpm`]: IPv4 longest-prefix match (a poptrie with direct pointing) returning an
//!   adjacency id; single and batch lookups.
//! - [`Snapshot`]: per-VRF tables and the adjacency table, immutable, published through
//!   `arc-swap`. A worker loads it once per burst ([`FibReader::load`]) and drops it at the end
//!   of the burst, so an idle worker holds none.
//! - [`Fib`]: the control thread's side. Route changes are applied to the route set and mark
//!   the regions of the tables they affect; publishing rebuilds only those regions, by
//!   structural sharing ([`LpmWriter`]): a changed subtree is written into a new block while
//!   every other node is the same memory in the new view as in the old, and the direct table
//!   alternates between two buffers brought up to date entry by entry. A route change costs
//!   the rebuild of one /18 subtree (or one range of direct entries), never a full table, and
//!   the workers' caches stay warm across publications. Blocks the new view no longer uses are reused once no snapshot
//!   holds a view that uses them, so publishing never waits for a worker.
//!
//! [`PublishPolicy`] coalesces changes: a batch is published when it is `window` old or
//! `max_batch` long, whichever comes first. Time is passed in.

#![forbid(unsafe_code)]

pub mod lpm;
pub mod synth;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};
use rustc_hash::FxHashMap;

pub use lpm::{Dirty, Lpm, LpmWriter, Routes, WriterStats, MAX_VALUE};

/// Where a route sends packets: the egress interface and the on-link gateway
/// (`0.0.0.0` for a destination on the interface's own subnet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Adjacency {
    /// Egress interface index.
    pub interface: u32,
    /// On-link next hop.
    pub gateway: Ipv4Addr,
}

/// What the workers see: one consistent view of every table.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases with every publication.
    pub generation: u64,
    /// Longest-prefix-match tables, indexed by VRF id (0 is the global table).
    pub tables: Vec<Arc<Lpm>>,
    /// Adjacencies, indexed by the ids the tables return.
    pub adjacencies: Arc<Vec<Adjacency>>,
}

impl Snapshot {
    /// Looks `addr` up in VRF `vrf`: the adjacency id and the adjacency.
    #[inline]
    pub fn lookup(&self, vrf: u16, addr: Ipv4Addr) -> Option<(u32, &Adjacency)> {
        let table = self.tables.get(usize::from(vrf))?;
        let id = table.lookup(u32::from(addr))?;
        Some((id, self.adjacencies.get(id as usize)?))
    }
}

/// The workers' handle: cheap to clone, one per worker.
#[derive(Debug, Clone)]
pub struct FibReader {
    shared: Arc<ArcSwap<Snapshot>>,
}

impl FibReader {
    /// The current snapshot. Hold it for one burst and drop it: holding it longer keeps the
    /// control thread from reusing the blocks of the tables it shows.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.shared.load()
    }
}

/// When to publish coalesced changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishPolicy {
    /// Publish once the oldest unpublished change is this old.
    pub window: Duration,
    /// Publish once this many changes wait.
    pub max_batch: usize,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        PublishPolicy {
            window: Duration::from_micros(200),
            max_batch: 4096,
        }
    }
}

#[derive(Debug)]
struct VrfTable {
    routes: Routes,
    writer: LpmWriter,
    /// What changed since the last publication.
    next: Dirty,
}

impl VrfTable {
    fn new() -> Self {
        VrfTable {
            routes: Routes::new(),
            writer: LpmWriter::new(),
            next: Dirty::default(),
        }
    }

    /// The view to publish next: the last one if nothing changed.
    fn prepare(&mut self) -> Arc<Lpm> {
        if !self.next.is_empty() {
            let next = std::mem::take(&mut self.next);
            self.writer.sync_from(&self.routes, &next);
        }
        self.writer.publish()
    }
}

/// How publications went, over every VRF's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Publications made.
    pub publications: u64,
    /// The tables' updates (summed).
    pub tables: WriterStats,
    /// Retired blocks still waiting for a snapshot that may show them to go.
    pub waiting_blocks: usize,
}

/// The control thread's side of the FIB.
#[derive(Debug)]
pub struct Fib {
    tables: Vec<VrfTable>,
    adjacency_ids: FxHashMap<Adjacency, u32>,
    adjacencies: Vec<Adjacency>,
    adjacency_refs: Vec<u32>,
    free_adjacencies: Vec<u32>,
    adjacencies_changed: bool,
    published_adjacencies: Arc<Vec<Adjacency>>,
    /// (vrf, prefix) → adjacency id, to release references.
    route_targets: FxHashMap<(u16, u32, u8), u32>,
    shared: Arc<ArcSwap<Snapshot>>,
    generation: u64,
    pending: usize,
    oldest_pending: Option<Instant>,
    policy: PublishPolicy,
    publications: u64,
}

impl Fib {
    /// An empty FIB and the handle its workers read through.
    pub fn new(policy: PublishPolicy) -> (Fib, FibReader) {
        let snapshot = Snapshot {
            generation: 0,
            tables: vec![Arc::new(Lpm::new())],
            adjacencies: Arc::new(Vec::new()),
        };
        let shared = Arc::new(ArcSwap::from_pointee(snapshot));
        let fib = Fib {
            tables: vec![VrfTable::new()],
            adjacency_ids: FxHashMap::default(),
            adjacencies: Vec::new(),
            adjacency_refs: Vec::new(),
            free_adjacencies: Vec::new(),
            adjacencies_changed: false,
            published_adjacencies: Arc::new(Vec::new()),
            route_targets: FxHashMap::default(),
            shared: shared.clone(),
            generation: 0,
            pending: 0,
            oldest_pending: None,
            policy,
            publications: 0,
        };
        (fib, FibReader { shared })
    }

    fn adjacency(&mut self, adj: Adjacency) -> u32 {
        if let Some(&id) = self.adjacency_ids.get(&adj) {
            self.adjacency_refs[id as usize] += 1;
            return id;
        }
        let id = match self.free_adjacencies.pop() {
            Some(id) => {
                self.adjacencies[id as usize] = adj;
                self.adjacency_refs[id as usize] = 1;
                id
            }
            None => {
                self.adjacencies.push(adj);
                self.adjacency_refs.push(1);
                u32::try_from(self.adjacencies.len() - 1).expect("adjacency ids fit in u32")
            }
        };
        assert!(id <= MAX_VALUE, "too many adjacencies");
        self.adjacency_ids.insert(adj, id);
        self.adjacencies_changed = true;
        id
    }

    fn release(&mut self, id: u32) {
        let refs = &mut self.adjacency_refs[id as usize];
        *refs -= 1;
        if *refs == 0 {
            let adj = self.adjacencies[id as usize];
            self.adjacency_ids.remove(&adj);
            self.free_adjacencies.push(id);
        }
    }

    /// Sets (or with `None` removes) the route for a prefix of a VRF. `now` starts the
    /// coalescing window if this is the first unpublished change.
    ///
    /// # Panics
    /// If `addr` has bits set beyond `len`.
    pub fn set(
        &mut self,
        vrf: u16,
        addr: Ipv4Addr,
        len: u8,
        target: Option<Adjacency>,
        now: Instant,
    ) {
        let a = u32::from(addr);
        assert!(
            len <= 32 && (len == 32 || a & (u32::MAX >> len) == 0),
            "host bits in {addr}/{len}"
        );
        let new_id = target.map(|t| self.adjacency(t));
        let old_id = match new_id {
            Some(id) => self.route_targets.insert((vrf, a, len), id),
            None => self.route_targets.remove(&(vrf, a, len)),
        };
        if let Some(old) = old_id {
            self.release(old);
        }
        if old_id == new_id {
            return;
        }
        let v = usize::from(vrf);
        if self.tables.len() <= v {
            self.tables.resize_with(v + 1, VrfTable::new);
        }
        let table = &mut self.tables[v];
        match new_id {
            Some(id) => table.routes.insert((a, len), id),
            None => table.routes.remove(&(a, len)),
        };
        table.next.mark(a, len);
        self.pending += 1;
        self.oldest_pending.get_or_insert(now);
    }

    /// Changes waiting for publication.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Publishes if the policy says the batch is due; returns the new generation if it did.
    pub fn maybe_publish(&mut self, now: Instant) -> Option<u64> {
        let due = self.pending >= self.policy.max_batch
            || self
                .oldest_pending
                .is_some_and(|t| now.duration_since(t) >= self.policy.window);
        due.then(|| self.publish())
    }

    /// Publishes every change now; returns the new generation.
    pub fn publish(&mut self) -> u64 {
        let tables: Vec<Arc<Lpm>> = self.tables.iter_mut().map(VrfTable::prepare).collect();
        if self.adjacencies_changed {
            self.published_adjacencies = Arc::new(self.adjacencies.clone());
            self.adjacencies_changed = false;
        }
        self.generation += 1;
        self.publications += 1;
        self.shared.store(Arc::new(Snapshot {
            generation: self.generation,
            tables,
            adjacencies: self.published_adjacencies.clone(),
        }));
        self.pending = 0;
        self.oldest_pending = None;
        self.generation
    }

    /// How publications went so far.
    pub fn stats(&self) -> PublishStats {
        let mut stats = PublishStats {
            publications: self.publications,
            ..PublishStats::default()
        };
        for t in &self.tables {
            stats.tables += t.writer.stats();
            stats.waiting_blocks += t.writer.waiting_blocks();
        }
        stats
    }

    /// Bytes the tables hold, with the arenas' room to grow and every direct-table buffer.
    pub fn memory_bytes(&self) -> usize {
        self.tables.iter().map(|t| t.writer.memory_bytes()).sum()
    }

    /// Routes in a VRF.
    pub fn len(&self, vrf: u16) -> usize {
        self.tables
            .get(usize::from(vrf))
            .map_or(0, |t| t.routes.len())
    }

    /// Whether a VRF has no route.
    pub fn is_empty(&self, vrf: u16) -> bool {
        self.len(vrf) == 0
    }

    /// A reader for another worker.
    pub fn reader(&self) -> FibReader {
        FibReader {
            shared: self.shared.clone(),
        }
    }
}
