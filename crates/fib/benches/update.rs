//! FIB updates while workers read.
//!
//! 1. Update-to-visible latency: the control thread changes one route (a /24 of the table
//!    switches adjacency) and publishes; a worker thread looking the route up continuously
//!    notes when it first sees the new answer. p50/p99/max over 2000 changes, for tables of
//!    1k, 100k and 1M BGP-like prefixes. Goal: p99 under 1 ms at 1M.
//! 2. Churn: with the 1M table, a worker looks up random destinations in batches of 32 without
//!    pause; the control thread makes 10,000 route changes per second (10 every millisecond,
//!    published with a 1 ms coalescing window). Its lookup rate is compared with and without
//!    the churn in 15 rounds of a second without and a second with, and the median of the
//!    rounds' ratios is reported (a pair is close in time, so a slow spell of this shared
//!    machine touches both of its halves). Goal: less than 5% lower.
//!
//! Run: `cargo bench -p fib --bench update`.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fib::{synth, Adjacency, Fib, PublishPolicy};

fn adjacency(i: u32) -> Adjacency {
    Adjacency {
        interface: i,
        gateway: Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8),
    }
}

/// A FIB holding `n` BGP-like prefixes over 64 adjacencies, published.
fn loaded(n: usize, policy: PublishPolicy) -> (Fib, fib::FibReader, Vec<(u32, u8)>) {
    let (mut fib, reader) = Fib::new(policy);
    let prefixes = synth::bgp_like(n, 0xfeed_0000 + n as u64, &[]);
    let now = Instant::now();
    for (i, &(a, l)) in prefixes.iter().enumerate() {
        fib.set(
            0,
            Ipv4Addr::from(a),
            l,
            Some(adjacency(1000 + (i % 64) as u32)),
            now,
        );
    }
    fib.publish();
    (fib, reader, prefixes)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn latency(n: usize) {
    let (mut fib, reader, prefixes) = loaded(n, PublishPolicy::default());
    let slash24: Vec<(u32, u8)> = prefixes.iter().copied().filter(|&(_, l)| l == 24).collect();
    // The round (high half) and the probe address (low half), published together so that
    // the worker never pairs one round's probe with another round's expected answer.
    let state = Arc::new(AtomicU64::new(0));
    let seen_round = Arc::new(AtomicU32::new(0));
    let seen_at = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let origin = Instant::now();
    let target_of = |round: u32| 5000 + round % 2;
    let worker = {
        let (state, seen_round, seen_at, stop) = (
            state.clone(),
            seen_round.clone(),
            seen_at.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let s = state.load(Ordering::Acquire);
                let (round, probe) = ((s >> 32) as u32, s as u32);
                if round == 0 || seen_round.load(Ordering::Relaxed) == round {
                    continue;
                }
                let snap = reader.load();
                let got = snap
                    .lookup(0, Ipv4Addr::from(probe))
                    .map(|(_, a)| a.interface);
                drop(snap);
                if got == Some(target_of(round)) {
                    seen_at.store(origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    seen_round.store(round, Ordering::Release);
                }
            }
        })
    };
    let mut rng = synth::Xorshift::new(42);
    let mut lat = Vec::with_capacity(2000);
    let stats_before = fib.stats();
    for round in 1..=2000u32 {
        // A /24 whose adjacency is not yet this round's target.
        let (a, l) = loop {
            let p = slash24[(rng.next_u64() % slash24.len() as u64) as usize];
            let snap = fib.reader().load();
            if snap
                .lookup(0, Ipv4Addr::from(p.0))
                .map(|(_, adj)| adj.interface)
                != Some(target_of(round))
            {
                break p;
            }
        };
        state.store(
            (u64::from(round) << 32) | u64::from(a | 0x2a),
            Ordering::Release,
        );
        // Let the worker poll the probe and see the old answer first.
        std::thread::sleep(Duration::from_micros(50));
        let t0 = origin.elapsed().as_nanos() as u64;
        fib.set(
            0,
            Ipv4Addr::from(a),
            l,
            Some(adjacency(target_of(round))),
            Instant::now(),
        );
        fib.publish();
        while seen_round.load(Ordering::Acquire) != round {
            std::hint::spin_loop();
        }
        let t = seen_at.load(Ordering::Relaxed);
        assert!(t >= t0, "the worker saw the change before it was made");
        lat.push(Duration::from_nanos(t - t0));
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().expect("worker ran");
    lat.sort();
    let stats = fib.stats();
    println!(
        "{n:>8} prefixes: p50 {:>7.1} us  p99 {:>7.1} us  max {:>7.1} us  (direct table {} recycled, {} copied; {} blocks retired, {} waiting)",
        percentile(&lat, 0.5).as_secs_f64() * 1e6,
        percentile(&lat, 0.99).as_secs_f64() * 1e6,
        lat.last().expect("measured").as_secs_f64() * 1e6,
        stats.tables.direct_recycled - stats_before.tables.direct_recycled,
        stats.tables.direct_copied - stats_before.tables.direct_copied,
        stats.tables.blocks_retired - stats_before.tables.blocks_retired,
        stats.waiting_blocks
    );
}

fn churn() {
    let policy = PublishPolicy {
        window: Duration::from_millis(1),
        max_batch: 4096,
    };
    let (mut fib, reader, prefixes) = loaded(1_000_000, policy);
    println!(
        "  the FIB holds {:.1} MB (arenas with their room to grow, three direct tables)",
        fib.memory_bytes() as f64 / 1e6
    );
    let trace = synth::random_trace(1 << 16, 5);
    let lookups = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (lookups, stop) = (lookups.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut out = [None; 32];
            let mut n = 0u64;
            let mut sink = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // One "burst" per snapshot load, as a worker does.
                for chunk in trace.chunks(32).take(64) {
                    let snap = reader.load();
                    snap.tables[0].lookup_batch(chunk, &mut out);
                    sink = sink
                        .wrapping_add(out.iter().map(|r| u64::from(r.unwrap_or(0))).sum::<u64>());
                    n += chunk.len() as u64;
                }
                lookups.store(n, Ordering::Relaxed);
            }
            std::hint::black_box(sink);
        })
    };
    let mut rng = synth::Xorshift::new(9);
    let mut measure = |churning: bool| -> f64 {
        let start = lookups.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let mut changes = 0u64;
        while t0.elapsed() < Duration::from_secs(1) {
            let tick = Instant::now();
            // 10,000 per second of elapsed time, whatever the loop's own overhead.
            let owed = (t0.elapsed().as_secs_f64() * 10_000.0) as u64;
            if churning {
                while changes < owed {
                    let (a, l) = prefixes[(rng.next_u64() % prefixes.len() as u64) as usize];
                    let target = 1000 + (rng.next_u64() % 64) as u32;
                    fib.set(0, Ipv4Addr::from(a), l, Some(adjacency(target)), tick);
                    changes += 1;
                }
            }
            while tick.elapsed() < Duration::from_micros(200) {
                std::hint::spin_loop();
            }
            fib.maybe_publish(Instant::now());
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let rate = (lookups.load(Ordering::Relaxed) - start) as f64 / elapsed / 1e6;
        if churning {
            println!(
                "  churn   : {rate:>7.2} M lookups/s with {:.0} changes/s",
                changes as f64 / elapsed
            );
        } else {
            println!("  baseline: {rate:>7.2} M lookups/s");
        }
        rate
    };
    const ROUNDS: usize = 15;
    let (mut base, mut churned, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let b = measure(false);
        let c = measure(true);
        base.push(b);
        churned.push(c);
        ratios.push(c / b);
    }
    stop.store(true, Ordering::Relaxed);
    worker.join().expect("worker ran");
    for v in [&mut base, &mut churned, &mut ratios] {
        v.sort_by(f64::total_cmp);
    }
    let mid = ROUNDS / 2;
    let stats = fib.stats();
    println!(
        "  median baseline {:.2}, median under churn {:.2}; median of the rounds' ratios {:+.1}% (goal: drop under 5%); {} publications, direct table {} recycled, {} copied; {} blocks retired, {} reclaimed, arenas grown {} times",
        base[mid],
        churned[mid],
        (ratios[mid] - 1.0) * 100.0,
        stats.publications,
        stats.tables.direct_recycled,
        stats.tables.direct_copied,
        stats.tables.blocks_retired,
        stats.tables.blocks_reclaimed,
        stats.tables.arenas_grown
    );
    println!(
        "  the FIB holds {:.1} MB after the churn",
        fib.memory_bytes() as f64 / 1e6
    );
}

fn main() {
    println!("# update-to-visible latency: one /24 changes adjacency, published at once; a worker polls it");
    for n in [1_000, 100_000, 1_000_000] {
        latency(n);
    }
    println!("# churn: 1M prefixes, worker looking up random destinations in batches of 32");
    churn();
}
