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
}

#[derive(Debug, Clone)]
struct Table {
    slots: FxHashMap<Prefix, Slot>,
    /// How many prefixes of each length have a best route: LPM probes only those lengths.
    best_by_len: [u32; 33],
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
    change_index: FxHashMap<(VrfId, Prefix), usize>,
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

impl Default for Table {
    fn default() -> Self {
        Table {
            slots: FxHashMap::default(),
            best_by_len: [0; 33],
        }
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
        let a = u32::from(addr);
        for len in (0..=32u8).rev() {
            if self.best_by_len[len as usize] == 0 {
                continue;
            }
            let p = Prefix {
                addr: Ipv4Addr::from(a & mask(len)),
                len,
            };
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
        let slot = self.table(vrf).slots.entry(prefix).or_default();
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
        if let Some(nh) = old_nh {
            self.untrack(vrf, nh, prefix);
        }
        if let Some(nh) = route.tracked_next_hop() {
            self.track(vrf, nh, prefix);
        }
        self.work.push_back(Work::Reselect(vrf, prefix));
        self.recheck_if_self_covering(vrf, prefix, old_nh);
        self.recheck_if_self_covering(vrf, prefix, route.tracked_next_hop());
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
            self.untrack(vrf, nh, prefix);
        }
        self.work.push_back(Work::Reselect(vrf, prefix));
        self.recheck_if_self_covering(vrf, prefix, old.tracked_next_hop());
        self.settle();
        true
    }

    fn track(&mut self, vrf: VrfId, nh: Ipv4Addr, prefix: Prefix) {
        if !self.users.insert((vrf, nh, prefix)) {
            // Another candidate of this prefix already uses it; count it anyway.
        }
        let fresh = !self.next_hops.contains_key(&(vrf, nh));
        if fresh {
            let (resolved, path) = self.resolve(vrf, nh);
            self.next_hops.insert(
                (vrf, nh),
                NextHop {
                    resolved,
                    path,
                    users: 0,
                },
            );
        }
        self.next_hops.get_mut(&(vrf, nh)).expect("inserted").users += 1;
    }

    fn untrack(&mut self, vrf: VrfId, nh: Ipv4Addr, prefix: Prefix) {
        let still_used_here = self
            .table_ref(vrf)
            .and_then(|t| t.slots.get(&prefix))
            .is_some_and(|s| {
                s.candidates
                    .iter()
                    .any(|c| c.tracked_next_hop() == Some(nh))
            });
        if !still_used_here {
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

    fn eligible(&self, vrf: VrfId, prefix: Prefix, route: &Route) -> Option<Resolved> {
        if let Some(interface) = route.interface {
            return Some(Resolved {
                gateway: route.next_hop.unwrap_or(Ipv4Addr::UNSPECIFIED),
                interface,
            });
        }
        let nh = route.next_hop?;
        let state = self.next_hops.get(&(vrf, nh))?;
        // A route cannot resolve through its own prefix.
        if state.path.contains(&prefix) {
            return None;
        }
        state.resolved
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
        let Some(slot) = self.table_ref(vrf).and_then(|t| t.slots.get(&prefix)) else {
            return false;
        };
        let mut best: Option<FibEntry> = None;
        for c in &slot.candidates {
            let Some(resolved) = self.eligible(vrf, prefix, c) else {
                continue;
            };
            if best.is_none_or(|b| c.preference() < b.route.preference()) {
                best = Some(FibEntry {
                    route: *c,
                    resolved,
                });
            }
        }
        let empty = slot.candidates.is_empty();
        let table = self.table(vrf);
        let slot = table.slots.get_mut(&prefix).expect("checked above");
        let old = std::mem::replace(&mut slot.best, best);
        if empty {
            table.slots.remove(&prefix);
        }
        if old == best {
            return false;
        }
        let len = usize::from(prefix.len);
        match (old.is_some(), best.is_some()) {
            (false, true) => table.best_by_len[len] += 1,
            (true, false) => table.best_by_len[len] -= 1,
            _ => {}
        }
        self.record(RibChange {
            vrf,
            prefix,
            entry: best,
        });
        true
    }

    /// Re-resolves the tracked next hops inside `prefix` (their longest match may have moved)
    /// and queues the prefixes whose candidates use one that changed.
    fn recheck_next_hops(&mut self, vrf: VrfId, prefix: Prefix) {
        let first = prefix.addr;
        let last = Ipv4Addr::from(u32::from(prefix.addr) | !mask(prefix.len));
        let affected: Vec<Ipv4Addr> = self
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

    fn record(&mut self, change: RibChange) {
        match self.change_index.get(&(change.vrf, change.prefix)) {
            Some(&i) => self.changes[i] = change,
            None => {
                self.change_index
                    .insert((change.vrf, change.prefix), self.changes.len());
                self.changes.push(change);
            }
        }
    }

    /// The changes since the last call: at most one per prefix, with its latest state.
    pub fn take_changes(&mut self) -> Vec<RibChange> {
        self.change_index.clear();
        std::mem::take(&mut self.changes)
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
            .map(|(p, s)| (*p, s.candidates.as_slice()))
    }

    /// Prefixes with at least one candidate.
    pub fn len(&self, vrf: VrfId) -> usize {
        self.table_ref(vrf).map_or(0, |t| t.slots.len())
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
