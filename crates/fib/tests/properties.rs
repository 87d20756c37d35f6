//! The LPM against a naive reference (a linear scan over the prefixes), on random tables and
//! addresses with /0, /32 and overlapping prefixes; incremental updates against fresh builds;
//! and publication under concurrent readers.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fib::{Adjacency, Dirty, Fib, Lpm, LpmWriter, PublishPolicy, Routes};
use proptest::prelude::*;

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// The reference: the longest prefix containing `addr`, by scanning them all.
fn naive(routes: &Routes, addr: u32) -> Option<u32> {
    routes
        .iter()
        .filter(|(&(a, l), _)| addr & mask(l) == a)
        .max_by_key(|(&(_, l), _)| l)
        .map(|(_, &v)| v)
}

/// Prefixes clustered in a few regions so that they overlap and nest, with every length.
fn prefix() -> impl Strategy<Value = (u32, u8)> {
    (
        prop::sample::select(vec![
            0x0a00_0000u32,
            0x0a01_0200,
            0xc0a8_0000,
            0x0000_0000,
            0xffff_ff00,
        ]),
        any::<u32>(),
        prop_oneof![
            3 => 0u8..=32,
            1 => Just(0u8),
            1 => Just(32u8),
            2 => 16u8..=24,
            2 => 25u8..=32,
        ],
    )
        .prop_map(|(base, noise, len)| {
            // Mostly near the base: keep its high bits, randomise the low ones a little.
            let a = base ^ (noise & 0x0000_0fff) ^ ((noise >> 20) << 28 & 0x1000_0000);
            (a & mask(len), len)
        })
}

fn address(routes: &Routes) -> impl Strategy<Value = u32> {
    let anchors: Vec<u32> = routes.keys().map(|&(a, _)| a).collect();
    let anchors = if anchors.is_empty() { vec![0] } else { anchors };
    (prop::sample::select(anchors), any::<u32>(), any::<bool>()).prop_map(|(a, noise, near)| {
        if near {
            a ^ (noise & 0x3ff)
        } else {
            noise
        }
    })
}

fn table() -> impl Strategy<Value = Routes> {
    prop::collection::btree_map(prefix(), 0u32..1000, 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), ..ProptestConfig::default() })]

    #[test]
    fn lookup_equals_linear_scan(
        (routes, addrs) in table().prop_flat_map(|r| {
            let a = prop::collection::vec(address(&r), 64);
            (Just(r), a)
        })
    ) {
        let lpm = Lpm::build(&routes);
        let mut batch = vec![None; addrs.len()];
        lpm.lookup_batch(&addrs, &mut batch);
        for (i, &a) in addrs.iter().enumerate() {
            let want = naive(&routes, a);
            prop_assert_eq!(lpm.lookup(a), want, "address {}", Ipv4Addr::from(a));
            prop_assert_eq!(batch[i], want);
        }
    }

    #[test]
    fn incremental_updates_equal_a_fresh_build(
        initial in table(),
        changes in prop::collection::vec((prefix(), prop::option::of(0u32..1000)), 1..40),
        split in any::<prop::sample::Index>(),
        probes in prop::collection::vec(any::<u32>(), 32),
    ) {
        let mut routes = initial;
        let mut writer = LpmWriter::build(&routes);
        // Every view published along the way, with the routes it was made from: views are
        // immutable, so each must still answer as its routes say after later changes.
        let mut views = vec![(writer.publish(), routes.clone())];
        // Apply the changes in two syncs, to exercise dirty sets that accumulate.
        let cut = split.index(changes.len() + 1);
        for part in [&changes[..cut], &changes[cut..]] {
            let mut dirty = Dirty::default();
            for &((a, l), v) in part {
                match v {
                    Some(v) => { routes.insert((a, l), v); }
                    None => { routes.remove(&(a, l)); }
                }
                dirty.mark(a, l);
            }
            writer.sync_from(&routes, &dirty);
            views.push((writer.publish(), routes.clone()));
        }
        let fresh = Lpm::build(&routes);
        let mut probes = probes;
        probes.extend(views.iter().flat_map(|(_, r)| r.keys()).map(|&(a, l)| a | (!mask(l) & 0x55)));
        let lpm = &views.last().expect("published").0;
        for &a in &probes {
            prop_assert_eq!(lpm.lookup(a), naive(&routes, a), "address {}", Ipv4Addr::from(a));
            prop_assert_eq!(lpm.lookup(a), fresh.lookup(a));
            for (view, then) in &views {
                prop_assert_eq!(view.lookup(a), naive(then, a), "held view, address {}", Ipv4Addr::from(a));
            }
        }
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_million_bgp_like_prefixes_agree_with_a_reference_on_sampled_addresses() {
    // Beyond proptest's sizes: a large table, checked against the reference on samples.
    let mut routes = Routes::new();
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while routes.len() < 200_000 {
        let r = next();
        let len = [8u8, 12, 16, 19, 20, 22, 23, 24, 24, 24, 24, 25, 28, 32][(r % 14) as usize];
        let a = (r >> 20) as u32 & mask(len);
        routes.insert((a, len), (r % 5000) as u32);
    }
    let mut writer = LpmWriter::build(&routes);
    let lpm = writer.publish();
    // Sorted prefixes let the reference answer by walking up the covering lengths.
    let reference = |addr: u32| -> Option<u32> {
        (0..=32u8)
            .rev()
            .find_map(|l| routes.get(&(addr & mask(l), l)).copied())
    };
    for _ in 0..200_000 {
        let a = next() as u32;
        assert_eq!(lpm.lookup(a), reference(a), "{}", Ipv4Addr::from(a));
    }
    let (nodes, _, leaves, _) = writer.usage();
    assert!(nodes > 0 && leaves > 0);
}

#[test]
fn fib_publishes_consistent_snapshots_and_reuses_blocks_after_grace() {
    let (mut fib, reader) = Fib::new(PublishPolicy::default());
    let now = Instant::now();
    let a = Adjacency {
        interface: 1,
        gateway: Ipv4Addr::new(192, 0, 2, 1),
    };
    let b = Adjacency {
        interface: 2,
        gateway: Ipv4Addr::new(198, 51, 100, 1),
    };
    fib.set(0, Ipv4Addr::new(10, 0, 0, 0), 8, Some(a), now);
    fib.set(0, Ipv4Addr::new(10, 1, 0, 0), 24, Some(b), now);
    fib.set(3, Ipv4Addr::new(0, 0, 0, 0), 0, Some(b), now);
    assert_eq!(fib.pending(), 3);
    assert_eq!(fib.maybe_publish(now), None, "the window has not passed");
    assert_eq!(fib.maybe_publish(now + Duration::from_millis(1)), Some(1));
    let snap = reader.load();
    assert_eq!(snap.generation, 1);
    assert_eq!(
        snap.lookup(0, Ipv4Addr::new(10, 9, 9, 9))
            .map(|(_, adj)| *adj),
        Some(a)
    );
    assert_eq!(
        snap.lookup(0, Ipv4Addr::new(10, 1, 0, 7))
            .map(|(_, adj)| *adj),
        Some(b)
    );
    assert_eq!(snap.lookup(0, Ipv4Addr::new(11, 0, 0, 1)), None);
    assert_eq!(
        snap.lookup(3, Ipv4Addr::new(11, 0, 0, 1))
            .map(|(_, adj)| *adj),
        Some(b)
    );
    assert_eq!(
        snap.lookup(1, Ipv4Addr::new(11, 0, 0, 1)),
        None,
        "VRF 1 is empty"
    );
    drop(snap);

    // With no reader holding an old snapshot, the blocks each publication replaces are
    // reused by the next ones: the arena does not grow.
    for i in 0..10u8 {
        fib.set(0, Ipv4Addr::new(10, 2, i, 0), 24, Some(a), now);
        fib.publish();
    }
    let grown = fib.stats().tables.arenas_grown;
    for round in 0..50u32 {
        let adj = if round % 2 == 0 { a } else { b };
        fib.set(0, Ipv4Addr::new(10, 2, 5, 0), 24, Some(adj), now);
        fib.publish();
    }
    let stats = fib.stats();
    assert_eq!(stats.publications, 61);
    assert_eq!(
        stats.tables.arenas_grown, grown,
        "replaced blocks are reused"
    );
    assert!(stats.tables.blocks_reclaimed >= 45, "{stats:?}");
    assert!(stats.waiting_blocks <= 2, "{stats:?}");
    // A reader holding a snapshot keeps its view whole and never stops a publication; the
    // blocks it may show wait for it.
    let held = reader.load();
    fib.set(0, Ipv4Addr::new(10, 3, 0, 0), 24, Some(b), now);
    fib.publish();
    // (That publication reclaimed what views older than the held one showed.)
    let reclaimed = fib.stats().tables.blocks_reclaimed;
    fib.set(0, Ipv4Addr::new(10, 4, 0, 0), 24, Some(b), now);
    fib.publish();
    for round in 0..20u32 {
        let adj = if round % 2 == 0 { a } else { b };
        fib.set(0, Ipv4Addr::new(10, 2, 5, 0), 24, Some(adj), now);
        fib.publish();
    }
    assert_eq!(
        fib.stats().tables.blocks_reclaimed,
        reclaimed,
        "held blocks wait"
    );
    assert!(fib.stats().waiting_blocks >= 20);
    assert_eq!(
        held.lookup(0, Ipv4Addr::new(10, 3, 0, 1))
            .map(|(_, adj)| *adj),
        Some(a),
        "the held view is unchanged"
    );
    assert_eq!(
        held.lookup(0, Ipv4Addr::new(10, 2, 5, 1))
            .map(|(_, adj)| *adj),
        Some(b),
        "the held view is unchanged"
    );
    drop(held);
    assert_eq!(
        reader
            .load()
            .lookup(0, Ipv4Addr::new(10, 3, 0, 1))
            .map(|(_, adj)| *adj),
        Some(b)
    );
    fib.set(0, Ipv4Addr::new(10, 2, 5, 0), 24, Some(a), now);
    fib.publish();
    assert!(
        fib.stats().tables.blocks_reclaimed >= reclaimed + 20,
        "once the reader let go, the blocks are reclaimed: {:?}",
        fib.stats()
    );
    // Removing the last route through an adjacency releases it.
    fib.set(0, Ipv4Addr::new(10, 1, 0, 0), 24, None, now);
    fib.set(3, Ipv4Addr::new(0, 0, 0, 0), 0, None, now);
    for i in 3..5u8 {
        fib.set(0, Ipv4Addr::new(10, i, 0, 0), 24, None, now);
    }
    fib.publish();
    assert_eq!(
        reader
            .load()
            .lookup(0, Ipv4Addr::new(10, 1, 0, 1))
            .map(|(_, adj)| *adj),
        Some(a)
    );
}

/// Workers read while the control thread publishes as fast as it can. Every snapshot a
/// worker sees must be whole: all the routes of one generation and nothing of another.
#[test]
fn readers_never_see_a_torn_or_freed_snapshot() {
    let (mut fib, reader) = Fib::new(PublishPolicy::default());
    let stop = Arc::new(AtomicBool::new(false));
    let checked = Arc::new(AtomicU64::new(0));
    let adjacency = |g: u64| Adjacency {
        interface: (g % 7) as u32,
        gateway: Ipv4Addr::from(g as u32),
    };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (reader, stop, checked) = (reader.clone(), stop.clone(), checked.clone());
            std::thread::spawn(move || {
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let snap = reader.load();
                    let g = snap.generation;
                    assert!(g >= last, "generations never go back");
                    last = g;
                    if g == 0 {
                        continue;
                    }
                    // Generation g holds 10.(g%256).0.0/16 .. and all 64 /24s of 172.16.x.0
                    // point at the adjacency of g.
                    for i in 0..64u8 {
                        let (_, adj) = snap
                            .lookup(0, Ipv4Addr::new(172, 16, i, 9))
                            .expect("every /24 has a route");
                        assert_eq!(*adj, adjacency(g), "torn: generation {g}, /24 {i}");
                    }
                    // 172.17.0.0/16 too; under it a fixed /25 keeps a subtree whose
                    // background is the /16, rewritten into a new block every generation.
                    let (_, adj) = snap
                        .lookup(0, Ipv4Addr::new(172, 17, 0, 200))
                        .expect("the /16 covers it");
                    assert_eq!(*adj, adjacency(g), "torn background: generation {g}");
                    let (_, adj) = snap
                        .lookup(0, Ipv4Addr::new(172, 17, 0, 9))
                        .expect("the /25 covers it");
                    assert_eq!(*adj, adjacency(0), "the /25 is fixed");
                    checked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let now = Instant::now();
    fib.set(0, Ipv4Addr::new(172, 17, 0, 0), 25, Some(adjacency(0)), now);
    for g in 1..=400u64 {
        for i in 0..64u8 {
            fib.set(0, Ipv4Addr::new(172, 16, i, 0), 24, Some(adjacency(g)), now);
        }
        fib.set(0, Ipv4Addr::new(172, 17, 0, 0), 16, Some(adjacency(g)), now);
        assert_eq!(fib.publish(), g);
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("no reader saw a torn snapshot");
    }
    assert!(checked.load(Ordering::Relaxed) > 100, "readers ran");
    // With the readers gone, one more publication reclaims everything they held.
    fib.set(0, Ipv4Addr::new(172, 16, 0, 0), 24, Some(adjacency(1)), now);
    fib.publish();
    let stats = fib.stats();
    assert_eq!(stats.publications, 401);
    assert!(stats.waiting_blocks <= 1, "{stats:?}");
    assert!(
        stats.tables.direct_recycled + stats.tables.direct_copied >= 400,
        "{stats:?}"
    );
}

#[test]
fn many_changes_between_publications_leave_no_garbage() {
    // Rebuilding subtrees over and over reuses freed blocks instead of growing, whether or
    // not a view was published between the changes.
    let mut routes: BTreeMap<(u32, u8), u32> = BTreeMap::new();
    let mut writer = LpmWriter::new();
    for round in 0..200u32 {
        let mut dirty = Dirty::default();
        for i in 0..32u32 {
            let a = 0x0a00_0000 | (i << 8);
            routes.insert((a, 24), round);
            routes.insert((a | 0x80, 25), round + 1);
            dirty.mark(a, 24);
        }
        writer.sync_from(&routes, &dirty);
        if round % 3 == 0 {
            drop(writer.publish());
        }
    }
    let (nodes, free_nodes, leaves, free_leaves) = writer.usage();
    // One subtree of 33 nodes: the table's block, the last view's, and a few retired.
    assert!(nodes + free_nodes <= 5 * 33, "{nodes} + {free_nodes} nodes");
    assert!(
        leaves + free_leaves < 400,
        "{leaves} + {free_leaves} leaves"
    );
}

#[test]
fn subtrees_that_change_size_reuse_freed_blocks() {
    // One /18 whose subtree has between 2 and 18 nodes as /24s (each with a /25 inside) come
    // and go, published every round with no reader: freed blocks of other sizes are split
    // and reused, so the arena stays near a few subtrees' worth.
    let mut routes: BTreeMap<(u32, u8), u32> = BTreeMap::new();
    let mut writer = LpmWriter::new();
    let mut x: u32 = 0x9e37_79b9;
    for round in 0..400u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let count = x % 17 + 1;
        let mut dirty = Dirty::default();
        routes.clear();
        for i in 0..count {
            let a = 0x0a00_0000 | (i << 8);
            routes.insert((a, 24), round);
            routes.insert((a | 0x80, 25), round + 1);
        }
        dirty.mark(0x0a00_0000, 24);
        writer.sync_from(&routes, &dirty);
        let view = writer.publish();
        assert_eq!(view.lookup(0x0a00_0081), Some(round + 1));
    }
    let (nodes, free_nodes, _, _) = writer.usage();
    assert!(
        nodes + free_nodes <= 6 * 18,
        "{nodes} nodes in use and {free_nodes} free"
    );
}
