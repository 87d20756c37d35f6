//! The routing table proper: candidates per prefix, best-route selection, next-hop tracking,
//! and the change stream.
//!
//! Selection: among a prefix's candidates that are *eligible*, the lowest administrative
//! distance wins, then the lowest metric, then the lower source rank, then the lower next-hop
//! address and interface (a tie-break on content, independent of arrival order). A candidate is eligible when it names an interface, or when its
//! next-hop address resolves — recursively, through the best routes of other prefixes, to an
//! interface — without passing through the candidate's own prefix (a route cannot resolve
//! through itself) or through any prefix twice (a loop); prefixes with a candidate via the
//! address being resolved are skipped while resolving it. So a static route whose next hop
//! becomes unreachable gives way to a floating route, as on IOS.
//!
//! Next hops are tracked: each next-hop address in use is resolved once and re-resolved
//! only when a best route inside a prefix that covers it, or on its resolution path, changes.
//! A change propagates through a worklist until nothing moves. For configurations whose
//! recursive routes do not depend on each other in a cycle the result is unique, whatever the
//! order of events; with such a cycle several stable states exist and the one reached
//! depends on history (as on IOS), and a bound on the work stops an oscillation.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::{mask, IfIndex, Prefix, Route, Source, VrfId};

/// Longest resolution chain followed before a next hop counts as unresolvable.
pub const MAX_RECURSION: usize = 8;

/// Where packets for a route actually go: the directly connected gateway and the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resolved {
    /// The on-link next hop; `0.0.0.0` means the destination itself is on-link.
    pub gateway: Ipv4Addr,
    /// The egress interface.
    pub interface: IfIndex,
}

/// The best route of a prefix as the FIB needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibEntry {
    /// The selected route.
    pub route: Route,
    /// Its resolved next hop.
    pub resolved: Resolved,
}

/// One change of the best route of a prefix: the new best, or `None` when the prefix has no
/// usable route any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RibChange {
    /// The table.
    pub vrf: VrfId,
    /// The prefix.
    pub prefix: Prefix,
    /// The new state.
    pub entry: Option<FibEntry>,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    candidates: SmallVec<[Route; 1]>,
    best: Option<FibEntry>,
    /// The batch in which this prefix last changed, and its index in that batch's changes:
    /// a second change in the same batch overwrites the first without a lookup elsewhere.
    change_batch: u32,
    change_index: u32,
}

#[derive(Debug, Clone, Default)]
struct Table {
    slots: Slots,
    /// The prefixes that have a best route, indexed for longest-prefix match.
    index: LpmIndex,
}

#[derive(Debug, Clone, Default)]
struct NextHop {
    resolved: Option<Resolved>,
    /// The prefixes whose best routes the resolution went through, first hop first.
    path: SmallVec<[Prefix; 2]>,
    /// Candidates that use this next hop.
    users: u32,
}

/// The routing information base: one table per VRF.
#[derive(Debug, Clone, Default)]
pub struct Rib {
    tables: Vec<Table>,
    next_hops: BTreeMap<(VrfId, Ipv4Addr), NextHop>,
    /// (vrf, next hop, prefix): which prefixes have a candidate via which next-hop address.
    users: BTreeSet<(VrfId, Ipv4Addr, Prefix)>,
    changes: Vec<RibChange>,
    /// Numbers change batches from 1; a slot whose `change_batch` equals it has an entry in
    /// `changes`.
    batch: u32,
    work: VecDeque<Work>,
}

/// A step of settling the table after a change.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// Recompute the best route of a prefix.
    Reselect(VrfId, Prefix),
    /// Re-resolve the tracked next hops inside a prefix.
    Recheck(VrfId, Prefix),
}

/// Slots of a table: a compact hash index (prefix to position) over an arena of slots. The
/// index stays small enough for the cache, new slots are appended, freed ones reused.
#[derive(Debug, Clone, Default)]
struct Slots {
    index: FxHashMap<Prefix, u32>,
    arena: Vec<(Prefix, Slot)>,
    free: Vec<u32>,
}

impl Slots {
    fn get(&self, p: &Prefix) -> Option<&Slot> {
        self.index.get(p).map(|&i| &self.arena[i as usize].1)
    }

    fn get_mut(&mut self, p: &Prefix) -> Option<&mut Slot> {
        self.index.get(p).map(|&i| &mut self.arena[i as usize].1)
    }

    fn get_or_insert(&mut self, p: Prefix) -> &mut Slot {
        let i = match self.index.get(&p) {
            Some(&i) => i,
            None => {
                let i = match self.free.pop() {
                    Some(i) => {
                        self.arena[i as usize] = (p, Slot::default());
                        i
                    }
                    None => {
                        self.arena.push((p, Slot::default()));
                        u32::try_from(self.arena.len() - 1).expect("fewer than 2^32 prefixes")
                    }
                };
                self.index.insert(p, i);
                i
            }
        };
        &mut self.arena[i as usize].1
    }

    fn remove(&mut self, p: &Prefix) {
        if let Some(i) = self.index.remove(p) {
            self.arena[i as usize].1 = Slot::default();
            self.free.push(i);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&Prefix, &Slot)> {
        self.index.values().map(|&i| {
            let (p, s) = &self.arena[i as usize];
            (p, s)
        })
    }
}

/// Prefixes with a best route, bucketed so that a longest-prefix match costs two hash probes
/// and a few short scans instead of a probe per prefix length (each a cache miss in a
/// million-entry table): /24 and longer by their first 24 bits, /16 to /23 by their first 16,
/// /8 to /15 by their first octet, shorter ones in one small list. A bucket holds only the
/// prefixes inside one /24, /16 or /8, so it stays short even in a full table.
#[derive(Debug, Clone)]
struct LpmIndex {
    long: FxHashMap<u32, SmallVec<[u8; 8]>>,
    medium: FxHashMap<u32, SmallVec<[(u32, u8); 4]>>,
    short: Vec<SmallVec<[(u32, u8); 2]>>,
    shortest: SmallVec<[(u32, u8); 4]>,
}

impl Default for LpmIndex {
    fn default() -> Self {
        LpmIndex {
            long: FxHashMap::default(),
            medium: FxHashMap::default(),
            short: vec![SmallVec::new(); 256],
            shortest: SmallVec::new(),
        }
    }
}

/// Removes one `item` from a small list, if there.
fn drop_one<T: PartialEq, const N: usize>(v: &mut SmallVec<[T; N]>, item: &T)
where
    [T; N]: smallvec::Array<Item = T>,
{
    if let Some(i) = v.iter().position(|e| e == item) {
        v.swap_remove(i);
    }
}

impl LpmIndex {
    fn insert(&mut self, p: Prefix) {
        let a = u32::from(p.addr);
        match p.len {
            0..=7 => self.shortest.push((a, p.len)),
            8..=15 => self.short[(a >> 24) as usize].push((a, p.len)),
            16..=23 => self.medium.entry(a >> 16).or_default().push((a, p.len)),
            // A /24-or-longer prefix is its last octet and its length, in pairs.
            _ => {
                let v = self.long.entry(a >> 8).or_default();
                v.push((a & 0xff) as u8);
                v.push(p.len);
            }
        }
    }

    fn remove(&mut self, p: Prefix) {
        let a = u32::from(p.addr);
        match p.len {
            0..=7 => drop_one(&mut self.shortest, &(a, p.len)),
            8..=15 => drop_one(&mut self.short[(a >> 24) as usize], &(a, p.len)),
            16..=23 => {
                if let Some(v) = self.medium.get_mut(&(a >> 16)) {
                    drop_one(v, &(a, p.len));
                    if v.is_empty() {
                        self.medium.remove(&(a >> 16));
                    }
                }
            }
            _ => {
                if let Some(v) = self.long.get_mut(&(a >> 8)) {
                    let pair = [(a & 0xff) as u8, p.len];
                    if let Some(i) = v.chunks(2).position(|c| c == pair) {
                        v.remove(2 * i + 1);
                        v.remove(2 * i);
                    }
                    if v.is_empty() {
                        self.long.remove(&(a >> 8));
                    }
                }
            }
        }
    }

    /// Every indexed prefix that contains `addr`, longest first.
    fn containing(&self, addr: Ipv4Addr) -> SmallVec<[Prefix; 8]> {
        let a = u32::from(addr);
        let mut out: SmallVec<[Prefix; 8]> = SmallVec::new();
        let mut take = |pa: u32, len: u8| {
            if a & mask(len) == pa {
                out.push(Prefix {
                    addr: Ipv4Addr::from(pa),
                    len,
                });
            }
        };
        if let Some(v) = self.long.get(&(a >> 8)) {
            for c in v.chunks(2) {
                take((a & !0xff) | u32::from(c[0]), c[1]);
            }
        }
        if let Some(v) = self.medium.get(&(a >> 16)) {
            v.iter().for_each(|&(pa, len)| take(pa, len));
        }
        self.short[(a >> 24) as usize]
            .iter()
            .for_each(|&(pa, len)| take(pa, len));
        self.shortest.iter().for_each(|&(pa, len)| take(pa, len));
        out.sort_unstable_by_key(|p| std::cmp::Reverse(p.len));
        out
    }
}

impl Table {
    fn lpm(&self, addr: Ipv4Addr) -> Option<(Prefix, &FibEntry)> {
        self.lpm_where(addr, |_| true)
    }

    /// The longest match among prefixes with a best route whose slot `usable` accepts.
    fn lpm_where(
        &self,
        addr: Ipv4Addr,
        usable: impl Fn(&Slot) -> bool,
    ) -> Option<(Prefix, &FibEntry)> {
        for p in self.index.containing(addr) {
            if let Some(slot) = self.slots.get(&p) {
                if let Some(best) = slot.best.as_ref().filter(|_| usable(slot)) {
                    return Some((p, best));
                }
            }
        }
        None
    }
}

impl Rib {
    /// An empty RIB with the global table.
    pub fn new() -> Self {
        let mut rib = Rib::default();
        rib.tables.push(Table::default());
        rib.batch = 1;
        rib
    }

    fn table(&mut self, vrf: VrfId) -> &mut Table {
        let i = usize::from(vrf.0);
        if self.tables.len() <= i {
            self.tables.resize_with(i + 1, Table::default);
        }
        &mut self.tables[i]
    }

    fn table_ref(&self, vrf: VrfId) -> Option<&Table> {
        self.tables.get(usize::from(vrf.0))
    }

    /// Adds a candidate route for `prefix`, replacing the candidate with the same source and
    /// owner if there is one.
    pub fn upsert(&mut self, vrf: VrfId, prefix: Prefix, route: Route) {
        debug_assert_eq!(
            u32::from(prefix.addr) & !mask(prefix.len),
            0,
            "host bits in {prefix}"
        );
        let slot = self.table(vrf).slots.get_or_insert(prefix);
        let old = match slot
            .candidates
            .iter_mut()
            .find(|c| c.source == route.source && c.owner == route.owner)
        {
            Some(c) => Some(std::mem::replace(c, route)),
            None => {
                slot.candidates.push(route);
                None
            }
        };
        let old_nh = old.and_then(Route::tracked_next_hop);
        let new_nh = route.tracked_next_hop();
        if old_nh != new_nh {
            if let Some(nh) = old_nh {
                let still_used = slot
                    .candidates
                    .iter()
                    .any(|c| c.tracked_next_hop() == Some(nh));
                self.untrack(vrf, nh, prefix, still_used);
            }
            if let Some(nh) = new_nh {
                self.track(vrf, nh, prefix);
            }
        }
        if self.reselect(vrf, prefix) {
            self.work.push_back(Work::Recheck(vrf, prefix));
        }
        self.recheck_if_self_covering(vrf, prefix, old_nh);
        self.recheck_if_self_covering(vrf, prefix, new_nh);
        self.settle();
    }

    /// A prefix that gains or loses a route via an address inside it changes how that address
    /// resolves (such prefixes are skipped), even when its best route stays the same.
    fn recheck_if_self_covering(&mut self, vrf: VrfId, prefix: Prefix, nh: Option<Ipv4Addr>) {
        if nh.is_some_and(|a| prefix.contains(a)) {
            self.work.push_back(Work::Recheck(vrf, prefix));
        }
    }

    /// Removes the candidate of `source` and `owner` from `prefix`; returns whether it existed.
    pub fn remove(&mut self, vrf: VrfId, prefix: Prefix, source: Source, owner: u32) -> bool {
        let Some(slot) = self.table(vrf).slots.get_mut(&prefix) else {
            return false;
        };
        let Some(i) = slot
            .candidates
            .iter()
            .position(|c| c.source == source && c.owner == owner)
        else {
            return false;
        };
        let old = slot.candidates.swap_remove(i);
        if let Some(nh) = old.tracked_next_hop() {
            let still_used = slot
                .candidates
                .iter()
                .any(|c| c.tracked_next_hop() == Some(nh));
            self.untrack(vrf, nh, prefix, still_used);
        }
        if self.reselect(vrf, prefix) {
            self.work.push_back(Work::Recheck(vrf, prefix));
        }
        // An emptied prefix goes now, unless this batch's changes refer to it (then it goes
        // when they are taken).
        let batch = self.batch;
        let table = self.table(vrf);
        if table
            .slots
            .get(&prefix)
            .is_some_and(|s| s.candidates.is_empty() && s.change_batch != batch)
        {
            table.slots.remove(&prefix);
        }
        self.recheck_if_self_covering(vrf, prefix, old.tracked_next_hop());
        self.settle();
        true
    }

    fn track(&mut self, vrf: VrfId, nh: Ipv4Addr, prefix: Prefix) {
        self.users.insert((vrf, nh, prefix));
        if let Some(state) = self.next_hops.get_mut(&(vrf, nh)) {
            state.users += 1;
            return;
        }
        let (resolved, path) = self.resolve(vrf, nh);
        self.next_hops.insert(
            (vrf, nh),
            NextHop {
                resolved,
                path,
                users: 1,
            },
        );
    }

    /// Drops one use of `nh` by a candidate of `prefix`; `still_used` says whether another
    /// candidate of that prefix uses it too.
    fn untrack(&mut self, vrf: VrfId, nh: Ipv4Addr, prefix: Prefix, still_used: bool) {
        if !still_used {
            self.users.remove(&(vrf, nh, prefix));
        }
        if let Some(state) = self.next_hops.get_mut(&(vrf, nh)) {
            state.users -= 1;
            if state.users == 0 {
                self.next_hops.remove(&(vrf, nh));
            }
        }
    }

    /// Resolves a next-hop address through the current best routes.
    fn resolve(&self, vrf: VrfId, addr: Ipv4Addr) -> (Option<Resolved>, SmallVec<[Prefix; 2]>) {
        let mut path = SmallVec::new();
        let Some(table) = self.table_ref(vrf) else {
            return (None, path);
        };
        // A prefix with a route via this very address cannot resolve it (a peer inside the
        // network it protects, `ip route 172.17.11.0 255.255.255.0 172.17.11.1`): look past
        // it, whichever of its candidates is best, so that the answer does not depend on it.
        let Some((p, best)) = table.lpm_where(addr, |slot| {
            !slot
                .candidates
                .iter()
                .any(|c| c.tracked_next_hop() == Some(addr))
        }) else {
            return (None, path);
        };
        path.push(p);
        let route = best.route;
        if let Some(interface) = route.interface {
            let gateway = route.next_hop.unwrap_or(addr);
            return (Some(Resolved { gateway, interface }), path);
        }
        // The best route is via an address; its own resolution is already tracked.
        let nh = route
            .next_hop
            .expect("a route names an interface or a next hop");
        match self.next_hops.get(&(vrf, nh)) {
            Some(state) if state.path.len() < MAX_RECURSION && !state.path.contains(&p) => {
                path.extend(state.path.iter().copied());
                (state.resolved, path)
            }
            _ => (None, path),
        }
    }

    fn settle(&mut self) {
        let mut budget = 64 * (self.work.len() + 64);
        while let Some(work) = self.work.pop_front() {
            if budget == 0 {
                tracing::warn!(
                    target: "rib",
                    "route resolution did not settle (recursive routes depend on each other); left as is"
                );
                self.work.clear();
                return;
            }
            budget -= 1;
            match work {
                Work::Reselect(vrf, prefix) => {
                    if self.reselect(vrf, prefix) {
                        self.recheck_next_hops(vrf, prefix);
                    }
                }
                Work::Recheck(vrf, prefix) => self.recheck_next_hops(vrf, prefix),
            }
        }
    }

    /// Recomputes the best route of one prefix; returns whether it changed.
    fn reselect(&mut self, vrf: VrfId, prefix: Prefix) -> bool {
        let Rib {
            tables,
            next_hops,
            changes,
            batch,
            ..
        } = self;
        let Some(Table { slots, index }) = tables.get_mut(usize::from(vrf.0)) else {
            return false;
        };
        let Some(slot) = slots.get_mut(&prefix) else {
            return false;
        };
        let mut best: Option<FibEntry> = None;
        for c in &slot.candidates {
            let Some(resolved) = eligible(next_hops, vrf, prefix, c) else {
                continue;
            };
            if best.is_none_or(|b| c.preference() < b.route.preference()) {
                best = Some(FibEntry {
                    route: *c,
                    resolved,
                });
            }
        }
        if slot.best == best {
            return false;
        }
        let old = std::mem::replace(&mut slot.best, best);
        match (old.is_some(), best.is_some()) {
            (false, true) => index.insert(prefix),
            (true, false) => index.remove(prefix),
            _ => {}
        }
        let change = RibChange {
            vrf,
            prefix,
            entry: best,
        };
        if slot.change_batch == *batch {
            changes[slot.change_index as usize] = change;
        } else {
            slot.change_batch = *batch;
            slot.change_index =
                u32::try_from(changes.len()).expect("fewer than 2^32 changes per batch");
            changes.push(change);
        }
        true
    }

    /// Re-resolves the tracked next hops inside `prefix` (their longest match may have moved)
    /// and queues the prefixes whose candidates use one that changed.
    fn recheck_next_hops(&mut self, vrf: VrfId, prefix: Prefix) {
        let first = prefix.addr;
        let last = Ipv4Addr::from(u32::from(prefix.addr) | !mask(prefix.len));
        let affected: SmallVec<[Ipv4Addr; 4]> = self
            .next_hops
            .range((vrf, first)..=(vrf, last))
            .map(|(&(_, a), _)| a)
            .collect();
        for addr in affected {
            let (resolved, path) = self.resolve(vrf, addr);
            let state = self.next_hops.get_mut(&(vrf, addr)).expect("listed above");
            if state.resolved == resolved && state.path == path {
                continue;
            }
            state.resolved = resolved;
            state.path = path;
            let lo = (
                vrf,
                addr,
                Prefix {
                    addr: Ipv4Addr::UNSPECIFIED,
                    len: 0,
                },
            );
            let hi = (
                vrf,
                addr,
                Prefix {
                    addr: Ipv4Addr::BROADCAST,
                    len: 32,
                },
            );
            for &(_, _, user) in self.users.range(lo..=hi) {
                self.work.push_back(Work::Reselect(vrf, user));
            }
        }
    }

    /// The changes since the last call: at most one per prefix, with its latest state.
    pub fn take_changes(&mut self) -> Vec<RibChange> {
        self.batch = self.batch.wrapping_add(1).max(1);
        let changes = std::mem::take(&mut self.changes);
        // Prefixes that lost their last candidate were kept for the batch's bookkeeping.
        for c in changes.iter().filter(|c| c.entry.is_none()) {
            if let Some(t) = self.tables.get_mut(usize::from(c.vrf.0)) {
                if t.slots
                    .get(&c.prefix)
                    .is_some_and(|s| s.candidates.is_empty())
                {
                    t.slots.remove(&c.prefix);
                }
            }
        }
        changes
    }

    /// The best route of a prefix.
    pub fn best(&self, vrf: VrfId, prefix: Prefix) -> Option<&FibEntry> {
        self.table_ref(vrf)?.slots.get(&prefix)?.best.as_ref()
    }

    /// All candidates of a prefix.
    pub fn candidates(&self, vrf: VrfId, prefix: Prefix) -> &[Route] {
        self.table_ref(vrf)
            .and_then(|t| t.slots.get(&prefix))
            .map_or(&[], |s| s.candidates.as_slice())
    }

    /// Longest-prefix match over best routes.
    pub fn lookup(&self, vrf: VrfId, addr: Ipv4Addr) -> Option<(Prefix, &FibEntry)> {
        self.table_ref(vrf)?.lpm(addr)
    }

    /// Every prefix with a best route, in no particular order.
    pub fn best_routes(&self, vrf: VrfId) -> impl Iterator<Item = (Prefix, &FibEntry)> {
        self.table_ref(vrf)
            .into_iter()
            .flat_map(|t| t.slots.iter())
            .filter_map(|(p, s)| s.best.as_ref().map(|b| (*p, b)))
    }

    /// Every prefix and its candidates, in no particular order.
    pub fn all_candidates(&self, vrf: VrfId) -> impl Iterator<Item = (Prefix, &[Route])> {
        self.table_ref(vrf)
            .into_iter()
            .flat_map(|t| t.slots.iter())
            .filter(|(_, s)| !s.candidates.is_empty())
            .map(|(p, s)| (*p, s.candidates.as_slice()))
    }

    /// Prefixes with at least one candidate.
    pub fn len(&self, vrf: VrfId) -> usize {
        self.all_candidates(vrf).count()
    }

    /// Whether the table has no prefix.
    pub fn is_empty(&self, vrf: VrfId) -> bool {
        self.len(vrf) == 0
    }

    /// Next-hop addresses being tracked.
    pub fn tracked_next_hops(&self) -> usize {
        self.next_hops.len()
    }
}

/// Whether a candidate can be used, and where it then leads.
fn eligible(
    next_hops: &BTreeMap<(VrfId, Ipv4Addr), NextHop>,
    vrf: VrfId,
    prefix: Prefix,
    route: &Route,
) -> Option<Resolved> {
    if let Some(interface) = route.interface {
        return Some(Resolved {
            gateway: route.next_hop.unwrap_or(Ipv4Addr::UNSPECIFIED),
            interface,
        });
    }
    let nh = route.next_hop?;
    let state = next_hops.get(&(vrf, nh))?;
    // A route cannot resolve through its own prefix.
    if state.path.contains(&prefix) {
        return None;
    }
    state.resolved
}

impl Route {
    /// The next-hop address that must be resolved through other routes (routes that name an
    /// interface need no resolution).
    pub fn tracked_next_hop(self) -> Option<Ipv4Addr> {
        if self.interface.is_some() {
            None
        } else {
            self.next_hop
        }
    }

    /// Lower is better. After distance, metric and source, ties go by content (next hop,
    /// then interface) so that the choice does not depend on the order routes arrived in;
    /// the owner id only separates otherwise identical candidates.
    fn preference(&self) -> (u8, u32, u8, u32, u32, u32) {
        (
            self.distance,
            self.metric,
            self.source.rank(),
            self.next_hop.map_or(0, u32::from),
            self.interface.map_or(u32::MAX, |i| i.0),
            self.owner,
        )
    }
}
