//! LPM lookup rate, one core: rri's poptrie (single and batch) against DPDK's `rte_lpm`
//! (single and bulk, through dpdk-sys), the `poptrie` crate and the `prefix-trie` crate, on
//! the same tables and traces, in one run.
//!
//! Tables of 1k, 100k and 1M prefixes shaped like a BGP view; two traces of 2^20
//! destinations: uniformly random, and locality-heavy (90% to 256 hot prefixes). Each
//! measurement is the median of 5 passes over the trace. Results are cross-checked: every
//! structure must give the same answers. Memory: rri's arrays; rte_lpm's allocation for the
//! extension groups this table needs; the crates' resident-set growth while building.
//!
//! Run: `cargo bench -p fib --bench lookup` (root; starts an EAL with --no-huge, on CPU 1);
//! `FIB_BENCH_SIZES=1000000` for one table size.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use fib::synth;
use fib::Lpm;

const TRACE: usize = 1 << 20;
const PASSES: usize = 5;

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

/// A structure's pass over the trace: `TRACE` lookups, returning a checksum.
type Pass<'a> = Box<dyn FnMut() -> u64 + 'a>;

/// Median nanoseconds per lookup of each run over `PASSES` consecutive passes, and its
/// checksum. Each structure runs its passes back to back (its steady state, as a router
/// looks routes up without other tables in between); interleaving the structures pass by
/// pass was tried and measures how each recovers from the others' cache pollution instead.
fn measure(runs: &mut [(&str, Pass<'_>)]) -> Vec<(f64, u64)> {
    runs.iter_mut()
        .map(|(_, run)| {
            let mut times = Vec::new();
            let mut sum = 0;
            for _ in 0..PASSES {
                let t = Instant::now();
                sum = std::hint::black_box(run());
                times.push(t.elapsed().as_secs_f64() * 1e9 / TRACE as f64);
            }
            times.sort_by(f64::total_cmp);
            (times[PASSES / 2], sum)
        })
        .collect()
}

fn main() {
    let eal = dpdk::Eal::init(testkit::bench_eal_args("fib", 1536, &[]))
        .expect("EAL starts (run as root)");
    let tsc = dpdk::tsc_hz() as f64;
    println!("# LPM lookups, one core (CPU 1), TSC {:.3} GHz; ns and TSC cycles per lookup, median of {PASSES} passes over 2^20 destinations", tsc / 1e9);
    // FIB_BENCH_SIZES=1000000 (comma-separated) measures only those table sizes.
    let sizes: Vec<usize> = std::env::var("FIB_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000, 1_000_000]);
    for size in sizes {
        let prefixes = synth::bgp_like(size, 0x5eed_0000 + size as u64, &[]);
        let mut rng = synth::Xorshift::new(7);
        let values: Vec<u32> = prefixes
            .iter()
            .map(|_| (rng.next_u64() % 4096) as u32)
            .collect();
        let routes: BTreeMap<(u32, u8), u32> = prefixes
            .iter()
            .copied()
            .zip(values.iter().copied())
            .collect();

        let before = rss();
        let ours = Lpm::build(&routes);
        let ours_rss = rss() - before;

        // rte_lpm sized for this table: one extension group per /24 that holds a longer prefix.
        let groups: std::collections::HashSet<u32> = prefixes
            .iter()
            .filter(|&&(_, l)| l > 24)
            .map(|&(a, _)| a >> 8)
            .collect();
        let tbl8s = (groups.len() as u32 * 5 / 4 + 256).max(256);
        let mut rte = dpdk::RteLpm::new(&eal, size as u32 + 16, tbl8s)
            .expect("rte_lpm fits in the EAL memory");
        for (&(a, l), &v) in prefixes.iter().zip(&values) {
            rte.add(a, l, v).expect("rte_lpm takes every prefix");
        }

        // The poptrie crate takes minutes to build a 1M table: FIB_BENCH_NO_CRATES=1 leaves
        // both crates empty and unmeasured (for quick runs; the record measures them).
        let with_crates = std::env::var_os("FIB_BENCH_NO_CRATES").is_none();
        let inserted = if with_crates { prefixes.len() } else { 0 };
        let before = rss();
        let mut pt: poptrie::Poptrie<(u32, u8), u32> = poptrie::Poptrie::new();
        for (&(a, l), &v) in prefixes.iter().zip(&values).take(inserted) {
            pt.insert((a, l), v);
        }
        let pt_rss = rss() - before;

        let before = rss();
        let mut trie: prefix_trie::PrefixMap<ipnet::Ipv4Net, u32> = prefix_trie::PrefixMap::new();
        for (&(a, l), &v) in prefixes.iter().zip(&values).take(inserted) {
            trie.insert(
                ipnet::Ipv4Net::new(Ipv4Addr::from(a), l).expect("valid prefix"),
                v,
            );
        }
        let trie_rss = rss() - before;

        for (trace_name, trace) in [
            ("random", synth::random_trace(TRACE, 99)),
            ("locality", synth::locality_trace(&prefixes, TRACE, 98)),
        ] {
            // Cross-check before timing.
            for &a in trace.iter().step_by(61) {
                let want = ours.lookup(a);
                assert_eq!(
                    rte.lookup(a),
                    want,
                    "rte_lpm and rri differ at {}",
                    Ipv4Addr::from(a)
                );
                assert!(
                    !with_crates || pt.lookup(a).copied() == want,
                    "poptrie crate differs at {}",
                    Ipv4Addr::from(a)
                );
            }
            let mut results = vec![None; 64];
            let mut bulk = vec![0u32; 64];
            let mut runs: Vec<(&str, Pass<'_>)> = vec![
                (
                    "rri poptrie, single",
                    Box::new(|| {
                        trace
                            .iter()
                            .map(|&a| u64::from(ours.lookup(a).unwrap_or(0)))
                            .sum()
                    }),
                ),
                (
                    "rri poptrie, batch of 32",
                    Box::new(|| {
                        let mut s = 0u64;
                        for chunk in trace.chunks(32) {
                            ours.lookup_batch(chunk, &mut results);
                            s += results[..chunk.len()]
                                .iter()
                                .map(|r| u64::from(r.unwrap_or(0)))
                                .sum::<u64>();
                        }
                        s
                    }),
                ),
                (
                    "rte_lpm, single",
                    Box::new(|| {
                        trace
                            .iter()
                            .map(|&a| u64::from(rte.lookup(a).unwrap_or(0)))
                            .sum()
                    }),
                ),
                (
                    "rte_lpm, bulk of 32",
                    Box::new(|| {
                        let mut s = 0u64;
                        for chunk in trace.chunks(32) {
                            rte.lookup_bulk(chunk, &mut bulk);
                            s += bulk[..chunk.len()]
                                .iter()
                                .map(|&r| {
                                    if r & dpdk::LPM_LOOKUP_SUCCESS != 0 {
                                        u64::from(r & 0x00ff_ffff)
                                    } else {
                                        0
                                    }
                                })
                                .sum::<u64>();
                        }
                        s
                    }),
                ),
            ];
            if with_crates {
                runs.extend::<[(&str, Pass<'_>); 2]>([
                    (
                        "poptrie crate, single",
                        Box::new(|| {
                            trace
                                .iter()
                                .map(|&a| u64::from(pt.lookup(a).copied().unwrap_or(0)))
                                .sum()
                        }),
                    ),
                    (
                        "prefix-trie crate, single",
                        Box::new(|| {
                            trace
                                .iter()
                                .map(|&a| {
                                    let host =
                                        ipnet::Ipv4Net::new(Ipv4Addr::from(a), 32).expect("host");
                                    u64::from(trie.get_lpm(&host).map_or(0, |(_, v)| *v))
                                })
                                .sum()
                        }),
                    ),
                ]);
            }
            let measured = measure(&mut runs);
            let rows: Vec<(&str, (f64, u64))> =
                runs.iter().map(|(n, _)| *n).zip(measured).collect();
            let sums: Vec<u64> = rows.iter().map(|(_, (_, s))| *s).collect();
            assert!(
                sums.windows(2).all(|w| w[0] == w[1]),
                "every structure gives the same answers: {sums:?}"
            );
            println!("\n## {size} prefixes, {trace_name} destinations");
            println!(
                "{:<28} {:>8} {:>8} {:>10}",
                "structure", "ns", "cycles", "M/s"
            );
            for (name, (ns, _)) in &rows {
                println!(
                    "{name:<28} {ns:>8.2} {:>8.1} {:>10.1}",
                    ns * tsc / 1e9,
                    1e3 / ns
                );
            }
            let batch = rows[1].1 .0;
            let rte_bulk = rows[3].1 .0;
            println!("rri batch / rte_lpm bulk speed: {:.2}x", rte_bulk / batch);
        }
        println!(
            "memory: rri {:.1} MB (arrays; {:.1} MB RSS growth), rte_lpm {:.1} MB ({} extension groups), poptrie crate {:.1} MB RSS, prefix-trie {:.1} MB RSS; rri / rte_lpm = {:.3}",
            ours.memory_bytes() as f64 / 1e6,
            ours_rss as f64 / 1e6,
            rte.memory_bytes() as f64 / 1e6,
            tbl8s,
            pt_rss as f64 / 1e6,
            trie_rss as f64 / 1e6,
            ours.memory_bytes() as f64 / rte.memory_bytes() as f64
        );
    }
    drop(eal);
}
